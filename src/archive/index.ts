import type { Readable, Transform } from 'node:stream';
import type { Logger } from '../log.ts';
import type { Compression } from '../config/spine.ts';

export interface ArchiveOptions {
  /** Absolute source paths; each is stored under its path without the leading slash (`/backup/app` -> `backup/app/...`). */
  sources: string[];
  /** Names inside the archive, one per source (default: each source's path without the leading slash); BACKUP_FROM_SNAPSHOT archives a copy under the original names. */
  archiveNames?: string[];
  /**
   * BACKUP_EXCLUDE_REGEXP (Go/RE2 syntax, see exclude.ts): searched for in each entry's
   * absolute path; only `source` goes to the archive worker, which compiles it again.
   * A matching directory is skipped whole (stricter than offen, which walks into it).
   */
  exclude: { readonly source: string } | null;
  compression: Compression;
  /**
   * Compression threads (>= 1). For gz and zst, the tar is cut into blocks
   * (gz 1 MiB, zst 512 KiB) compressed concurrently into independent gzip members /
   * zstd frames, which gunzip and the zstd CLI read as one stream. none ignores it.
   */
  parallelism: number;
  log: Logger;
  signal?: AbortSignal;
  /**
   * Inserted between compression and hashing: the output (and its size and
   * SHA-256) are then the transformed (encrypted) bytes. Called once per archive.
   */
  encrypt?: () => Transform;
  /**
   * When given, the sources are first scanned (lstat only) and the returned
   * file, if any, is written as the FIRST entry of the archive (a manifest).
   */
  header?: (scan: ArchiveScan) => ArchiveHeaderEntry | null | Promise<ArchiveHeaderEntry | null>;
  /**
   * With `header`: take the counts of the pre-scan prescanSources() started on the waiting
   * worker for the same sources, when this archive takes that worker, instead of scanning again.
   * Only when nothing could have changed the sources since it started (run.ts).
   */
  reuseScan?: boolean;
  /**
   * A major GC whenever the Buffer memory outside V8's heap grew PROMOTED_GC_GROWTH since the
   * last one (create.ts): for an archive written only to local files, whose output Buffers are
   * freed as soon as written. Not with uploads, whose sockets hold Buffers long enough for the
   * rule to run far more often (S3/SFTP +20-30 % CPU, b88b54a; a staged file has its own rule).
   */
  collectPromoted?: boolean;
  /**
   * The consumer will report, through ArchiveStream.written, how many of the stream's bytes
   * it has written (and dropped): the output then goes into reusable buffers (output-pool.ts).
   * Ignored with `encrypt` (the consumer's bytes are not the codec's then).
   */
  recycleOutput?: boolean;
}

/** What the lstat-only pre-scan found (after exclusion). */
export interface ArchiveScan {
  files: number;
  directories: number;
  symlinks: number;
  /** Sum of regular file sizes. */
  bytes: number;
}

/** A file written as the first archive entry (top level, mode 0644). */
export interface ArchiveHeaderEntry {
  name: string;
  data: Buffer;
}

export interface ArchiveCounts {
  files: number;
  directories: number;
  symlinks: number;
  /** File content bytes read from the sources. */
  bytesRead: number;
  /** Entries skipped on purpose (sockets, fifos, devices, excluded). */
  skipped: number;
  /** Files that vanished or could not be read (the run is degraded). */
  unreadable: number;
  /** One line per unreadable/vanished file, for RunStats warnings (capped). */
  warnings: string[];
}

export interface ArchiveResult extends ArchiveCounts {
  /** Bytes of the compressed output. */
  size: number;
  /** Hex SHA-256 of the compressed output. */
  sha256: string;
}

export interface ArchiveStream {
  /** The compressed archive bytes. Must be consumed; errors surface here and in `done`. */
  stream: Readable;
  /** Resolves when the whole archive was produced and `stream` ended; rejects on any stream error. */
  done: Promise<ArchiveResult>;
  /**
   * Files and content bytes read so far, compressed bytes produced, and the
   * totals the walk counted before archiving (null until known) — for progress display.
   */
  progress?(): { files: number; bytesRead: number; size: number; total?: { files: number; bytes: number } | null };
  /**
   * With `recycleOutput`: the consumer has written the stream's first `bytes` bytes and keeps
   * no reference to the chunks that held them (their buffers are reused for later output).
   * Only a consumer that writes the chunks in order, unchanged, may call it.
   */
  written?(bytes: number): void;
}

export { createArchive, prestartArchiveWorker, prescanSources } from './create.ts';
