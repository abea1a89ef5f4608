/**
 * Writeback behind the writes of a local archive file: createWriteStream's `fs` option, which
 * is node:fs itself plus an `fdatasync` of the file (in a libuv thread, never more than one at a
 * time) after every SYNC_BEHIND_BYTES written. The disk then writes the archive while it is being
 * made, and the fsync before close (`flush: true`), which makes the backup durable, finds little
 * left to write: a 230 MiB archive's final fsync took 0.17 s here, most of a backup's time
 * after the last byte was archived (GNU tar leaves its output in the page cache).
 *
 * Durability is the same (the final fsync still runs). An early sync's error is kept and
 * returned by that final fsync: Linux reports a writeback error to one fsync per open file
 * only, so ignoring it would let the final one succeed on lost data. The final fsync and
 * close wait for an early sync in flight (the descriptor is never closed under it).
 */
import * as fs from 'node:fs';

/** Bytes written between two early syncs. */
export const SYNC_BEHIND_BYTES = 16 << 20;

let started = 0;
/** Early syncs started in this process (tests). */
export function earlySyncs(): number {
  return started;
}

type Callback = (err: NodeJS.ErrnoException | null, ...rest: unknown[]) => void;

/** Errors meaning "this file system cannot sync this file": early syncs stop, the final fsync decides as before. */
const UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** The file calls sync-behind wraps (node:fs, or another wrapper of it: local.ts's reportingWrites). */
export interface BaseFs {
  open: typeof fs.open;
  write(...args: unknown[]): void;
  writev(fd: number, buffers: NodeJS.ArrayBufferView[], position: number | null, cb: Callback): void;
  fsync(fd: number, cb: Callback): void;
  close(fd: number, cb: Callback): void;
}

export interface SyncBehindOptions {
  /** Bytes written between two early syncs (SYNC_BEHIND_BYTES). */
  every?: number;
  /** fs.fdatasync (tests pass their own). */
  sync?: SyncFn;
  /** The calls wrapped (node:fs). */
  base?: BaseFs;
}

/** The same calls, with the early syncs behind the writes. */
export interface SyncBehindFs extends BaseFs {
  /** Early syncs started so far (tests). */
  readonly syncs: number;
}

/** fs.fdatasync's shape (tests pass their own). */
export type SyncFn = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;

export function syncBehind(opts: SyncBehindOptions = {}): SyncBehindFs {
  const every = opts.every ?? SYNC_BEHIND_BYTES;
  const sync = opts.sync ?? fs.fdatasync;
  const base: BaseFs = opts.base ?? (fs as unknown as BaseFs);
  let unsynced = 0;
  let syncing = false;
  let stopped = false;
  let failed: NodeJS.ErrnoException | null = null;
  let syncs = 0;
  const waiting: (() => void)[] = [];
  const whenIdle = (fn: () => void) => (syncing ? waiting.push(fn) : fn());
  const written = (fd: number, n: unknown) => {
    if (typeof n !== 'number') return;
    unsynced += n;
    if (unsynced < every || syncing || stopped) return;
    unsynced = 0;
    syncing = true;
    syncs++;
    started++;
    sync(fd, (err) => {
      syncing = false;
      if (err) {
        stopped = true;
        if (!UNSUPPORTED.has(err.code ?? '')) failed ??= err;
      }
      for (const fn of waiting.splice(0)) fn();
    });
  };
  const after =
    (fd: number, cb: Callback): Callback =>
    (err, n, ...rest) => {
      if (!err) written(fd, n);
      cb(err, n, ...rest);
    };
  return {
    open: base.open,
    write(...args: unknown[]) {
      const cb = args.pop() as Callback;
      const fd = args[0] as number;
      base.write(...args, after(fd, cb));
    },
    writev(fd, buffers, position, cb) {
      base.writev(fd, buffers, position, after(fd, cb));
    },
    fsync(fd, cb) {
      whenIdle(() => (failed ? cb(failed) : base.fsync(fd, cb)));
    },
    close(fd, cb) {
      whenIdle(() => base.close(fd, cb));
    },
    get syncs() {
      return syncs;
    },
  };
}
