import type { Readable } from 'node:stream';
import type { Logger } from '../log.ts';
import type { Compression } from '../config/spine.ts';

export interface ArchiveOptions {
  /** Absolute source paths; each is stored under its base name (`/backup/app` -> `app/...`). */
  sources: string[];
  /** Matched against each entry's full source path; a matching directory is skipped whole. */
  exclude: RegExp | null;
  compression: Compression;
  /** Compression threads (>= 1). For gz > 1, independent gzip members are compressed concurrently. */
  parallelism: number;
  log: Logger;
  signal?: AbortSignal;
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
}

/** Placeholder until the archive module lands: see src/archive/tar.ts. */
export { createArchive } from './create.ts';
