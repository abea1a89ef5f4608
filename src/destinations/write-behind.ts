/**
 * Write-behind for a file written by a stream and fsynced before close (the local
 * destination's upload): without it the kernel keeps the whole archive dirty in the page
 * cache (writeback starts at 10 % of memory) and the final fsync writes all of it at the
 * end, after the last byte was compressed, while no core has anything to do (0.15-0.3 s
 * for a 140 MiB archive on the bench machine, more on a slower disk). Here, each time
 * `every` bytes were written since the last sync started, an fdatasync runs on libuv's
 * threadpool beside the writes (one at a time, never waited for by a write), so the disk
 * works while the archive is still being made and the final fsync finds little left.
 *
 * It is the `fs` option of createWriteStream (open, write, writev, fsync, close): close and
 * the final fsync wait for a sync in flight, so none runs on a closed (or reused) descriptor,
 * and a failed sync fails the next write or the final fsync: the error is reported once by
 * the kernel, so it must not be lost here.
 */
import * as fs from 'node:fs';

type Cb = (err: NodeJS.ErrnoException | null, ...rest: unknown[]) => void;

export interface WriteBehind {
  /** createWriteStream's `fs` option. */
  fs: {
    open: typeof fs.open;
    write: (...args: unknown[]) => void;
    writev: (fd: number, buffers: NodeJS.ArrayBufferView[], position: number | null, cb: Cb) => void;
    fsync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;
    close: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;
  };
  /** Background syncs started so far (tests). */
  syncs(): number;
}

/** `sync` is fs.fdatasync (tests pass a failing one). */
export function writeBehind(every: number, sync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void = fs.fdatasync): WriteBehind {
  let pending = 0;
  let inFlight = false;
  let failed: NodeJS.ErrnoException | null = null;
  let started = 0;
  let waiters: (() => void)[] = [];

  const idle = (then: () => void) => {
    if (inFlight) waiters.push(then);
    else then();
  };
  const wrote = (fd: number, n: number) => {
    pending += n;
    if (pending < every || inFlight || failed) return;
    pending = 0;
    inFlight = true;
    started++;
    sync(fd, (err) => {
      inFlight = false;
      if (err && !failed) failed = err;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    });
  };
  /** The write's own callback, after counting its bytes; a failed background sync fails it. */
  const after =
    (fd: number, cb: Cb) =>
    (err: NodeJS.ErrnoException | null, written?: unknown, ...rest: unknown[]) => {
      if (!err && typeof written === 'number') wrote(fd, written);
      cb(err ?? failed, written, ...rest);
    };

  return {
    fs: {
      open: fs.open,
      write(...args: unknown[]) {
        const cb = args.pop() as Cb;
        const fd = args[0] as number;
        (fs.write as (...a: unknown[]) => void)(...args, after(fd, cb));
      },
      writev(fd, buffers, position, cb) {
        fs.writev(fd, buffers, position, after(fd, cb));
      },
      fsync(fd, cb) {
        idle(() => {
          if (failed) cb(failed);
          else fs.fsync(fd, cb);
        });
      },
      close(fd, cb) {
        idle(() => fs.close(fd, cb));
      },
    },
    syncs: () => started,
  };
}
