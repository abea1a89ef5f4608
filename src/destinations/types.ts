import type { Readable } from 'node:stream';
import type { LeftoverPolicy, LeftoverReport } from './leftovers.ts';

/** One stored backup as a destination lists it. */
export interface BackupObject {
  /** Name relative to the destination's configured path (e.g. `backup-2026-01-01T00-00-00.tar.gz`). */
  name: string;
  size: number;
  modified: Date;
}

export interface UploadOptions {
  /** Exact byte count when known (from a temporary file); undefined for a live stream. */
  size?: number;
  /** Aborts the upload; the destination must leave nothing under the final name. */
  signal?: AbortSignal;
  /**
   * Replace an object of the same name (a BACKUP_FILENAME without time tokens: each run
   * replaces the previous backup, as offen documents). Atomic: the old object stays as it
   * is until the new one is complete, then the name points at the new one; a failed or
   * aborted upload leaves the old object intact. Without it, an existing name is refused.
   */
  replace?: boolean;
  /**
   * A file that holds the stream's bytes from offset 0 (the staged archive). A destination
   * may read any byte range of it that it has already taken from the stream (those bytes
   * are on disk), e.g. to send a part from the file instead of copying it into memory. It
   * must still read the stream to its end (progress and completeness are measured there).
   */
  file?: string;
  /**
   * A destination may call this with the count of the stream's first bytes it holds no longer
   * (written to a file, copied into its own buffers or packets, hashed), in order, never more
   * than it has taken: those chunks are no longer needed, and their buffers are reused (the
   * archive's, ArchiveStream.written, or the staged file's follower, Follower.written). It must
   * keep no reference (nor a subarray view) to any of those bytes. The local destination reports
   * its file writes, SFTP its copies into write requests, S3 the bytes it hashed (staged) or
   * copied into its part buffers; a destination that does not call it costs nothing.
   */
  written?: (bytes: number) => void;
}

/**
 * A place backups are stored. Every destination is a file pair in src/destinations/:
 * `<name>.def.ts` (its definition: variables, secrets, parser, lazy factory; see
 * definition.ts) and `<name>.ts` (the implementation of this interface).
 *
 * Contract (test/destinations/contract.ts checks it on every destination):
 * - upload is atomic: nothing is visible under `name` until the upload completed;
 *   a failed or aborted upload leaves no partial object under `name` and never
 *   touches other objects. An existing `name` is refused, unless `replace` is set:
 *   then it is replaced atomically, and kept intact when the upload fails.
 * - list(prefix) returns every object whose name starts with prefix, all pages,
 *   and returns [] for an empty or missing path.
 * - remove(names) removes in batches as the service requires; missing names are not an error.
 * - download(name) streams the object.
 */
export interface Destination {
  /** Stable id used in logs, RunStats and BACKUP_SKIP_BACKENDS_FROM_PRUNE: its definition's kind. */
  readonly name: DestinationKind;
  /** Human description without secrets, e.g. `<scheme>://bucket/path`. */
  readonly location: string;
  upload(name: string, source: Readable, options?: UploadOptions): Promise<void>;
  list(prefix: string): Promise<BackupObject[]>;
  remove(names: string[]): Promise<void>;
  download(name: string): Promise<Readable>;
  /**
   * The object as a file on this machine, for a reader that reads it with its own reused
   * buffers instead of download()'s stream (restore, verify and ls of a large archive).
   * Optional: only a destination whose objects are local files has it.
   */
  localFile?(name: string): Promise<LocalFile>;
  close(): Promise<void>;
  /**
   * Is the destination usable: reachable, credentials accepted, path writable (a probe
   * file written and removed)? Rejects with what is wrong. Optional: without it,
   * src/destinations/check.ts writes, lists and removes a probe through upload/list/remove.
   */
  check?(signal?: AbortSignal): Promise<void>;
  /**
   * Remove what interrupted runs left here (temporary names, unfinished multipart uploads)
   * that `policy` says is stale (see leftovers.ts). Called after the run took the lock,
   * alongside the upload: it must never touch this run's own temporary names (made after
   * the lock was taken). A failure is a warning, never a run failure. Optional: a
   * destination with nothing to clean (unfinished uploads that expire by themselves)
   * leaves it out.
   */
  cleanupLeftovers?(policy: LeftoverPolicy, signal?: AbortSignal): Promise<LeftoverReport>;
}

/** A stored object that is a file on this machine (Destination.localFile). */
export interface LocalFile {
  path: string;
  /** A read making no progress for this long (a hung NFS or FUSE mount) fails with `timeoutError()`. */
  timeoutMs: number;
  timeoutError: () => Error;
}

/** A destination's stable id: its definition's `kind` (registry.ts lists them: destinationKinds()). */
export type DestinationKind = string;
