/**
 * Archive worker thread: walks the sources with synchronous fs calls (about
 * twice as fast as async calls for many small files, and it blocks only this
 * thread) and writes the tar bytes into a ring of fixed-size blocks in shared
 * memory, posting each filled block's slot number to the main thread.
 *
 * Flow control: `ctl[USED]` counts slots being filled or not yet released by
 * the main thread, which releases them in ring order; the worker sleeps
 * (Atomics.wait) while all slots are used. Memory is the ring, whatever the
 * backup size, and no block is ever allocated.
 */
import * as fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { once } from 'node:events';
import { BlockWriter, padding } from './tar.ts';
import {
  walkSource,
  scanSource,
  visitStats,
  isSoftError,
  reasonOf,
  missingReason,
  withPath,
  SourceMissingError,
  type SourceRoot,
  type WalkVisitor,
} from './walk.ts';
import type { ArchiveScan, ArchiveCounts } from './index.ts';
import { compileExclude } from './exclude.ts';

export interface TarWorkerData {
  roots: SourceRoot[];
  /** BACKUP_EXCLUDE_REGEXP's pattern (Go/RE2 syntax), compiled here with re2js. */
  exclude: { source: string } | null;
  blockSize: number;
  /** `slots * blockSize` bytes. */
  ring: SharedArrayBuffer;
  slots: number;
  /** Int32Array over it: [USED, ABORT]. */
  control: SharedArrayBuffer;
  /** Pre-scan and wait for a header entry before archiving. */
  scan: boolean;
  /**
   * Take the counts of a pre-scan this worker ran before the job came (a PrescanRequest for
   * the same roots and exclude pattern) instead of scanning again: the run judged that nothing
   * could have changed the sources since (create.ts's ArchiveOptions.reuseScan).
   */
  reuseScan?: boolean;
}

/**
 * A pre-scan asked for while the run sets up, before its job (spare.ts's prescanOnSpare): the
 * counts are kept for a job with `reuseScan`; any error drops them (the job's own scan reports it).
 */
export interface PrescanRequest {
  t: 'prescan';
  roots: SourceRoot[];
  exclude: { source: string } | null;
}

/** What identifies a scan: the same roots and exclude pattern count the same entries. */
export function scanKey(roots: SourceRoot[], exclude: { source: string } | null): string {
  return JSON.stringify([roots.map((r) => [r.path, r.name]), exclude?.source ?? null]);
}

interface Prescanned {
  key: string;
  scan: ArchiveScan;
}

function prescan(req: PrescanRequest): Prescanned | null {
  try {
    const exclude = req.exclude ? compileExclude(req.exclude.source) : null;
    const scan: ArchiveScan = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
    for (const root of req.roots) scanSource(root, exclude, scan);
    return { key: scanKey(req.roots, req.exclude), scan };
  } catch {
    return null;
  }
}

export { USED, ABORT } from './ring.ts';
import { USED, ABORT } from './ring.ts';

export type WorkerMessage =
  | { t: 'block'; slot: number; length: number; files: number; bytesRead: number }
  | { t: 'scan'; scan: ArchiveScan }
  /** A PrescanRequest ended (its counts kept, or dropped after an error). */
  | { t: 'prescanned' }
  | { t: 'skipped'; path: string; kind: string }
  | { t: 'unreadable'; path: string; reason: string }
  | { t: 'done'; counts: WorkerCounts }
  | { t: 'error'; message: string; code?: string; path?: string; missingSource?: boolean };

/** The counts part of ArchiveCounts (warnings are collected on the main thread). */
export type WorkerCounts = Omit<ArchiveCounts, 'warnings'>;

/** Reply to a 'scan' message. */
export interface HeaderReply {
  entry: { name: string; data: Uint8Array } | null;
}

class Aborted extends Error {}

const O_READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

function run(port: NonNullable<typeof parentPort>, data: TarWorkerData, prescanned: Prescanned | null): Promise<void> | void {
  const ctl = new Int32Array(data.control);
  const exclude = data.exclude ? compileExclude(data.exclude.source) : null;
  const post = (m: WorkerMessage) => port.postMessage(m);

  const checkAbort = () => {
    if (Atomics.load(ctl, ABORT) !== 0) throw new Aborted();
  };
  let slot = -1;
  const writer = new BlockWriter(data.blockSize, {
    acquire() {
      for (;;) {
        checkAbort();
        const used = Atomics.load(ctl, USED);
        if (used < data.slots) break;
        Atomics.wait(ctl, USED, used, 1000);
      }
      Atomics.add(ctl, USED, 1);
      slot = (slot + 1) % data.slots;
      return new Uint8Array(data.ring, slot * data.blockSize, data.blockSize);
    },
    flush(length) {
      post({ t: 'block', slot, length, files: counts.files, bytesRead: counts.bytesRead });
    },
  });

  const counts: WorkerCounts = { files: 0, directories: 0, symlinks: 0, bytesRead: 0, skipped: 0, unreadable: 0 };
  const unreadable = (path: string, reason: string) => {
    counts.unreadable++;
    post({ t: 'unreadable', path, reason });
  };

  const archiver: WalkVisitor = {
    directory(_abs, rel, st) {
      counts.directories++;
      writer.header({ name: rel, type: 'directory', mode: st.mode, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) });
    },
    symlink(abs, rel, st) {
      let target: string;
      try {
        target = fs.readlinkSync(abs);
      } catch (err) {
        if (isSoftError(err)) {
          unreadable(abs, reasonOf(err));
          return;
        }
        throw withPath(err, abs);
      }
      counts.symlinks++;
      writer.header({ name: rel, type: 'symlink', mode: st.mode, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000), linkname: target });
    },
    file(abs, rel) {
      let fd: number;
      try {
        fd = fs.openSync(abs, O_READ);
      } catch (err) {
        if (isSoftError(err)) {
          const code = (err as NodeJS.ErrnoException).code;
          // replaced by a symlink since it was listed (O_NOFOLLOW): archived as the symlink it is now
          if (code === 'ELOOP' && replacedBySymlink(abs, rel)) return;
          unreadable(abs, code === 'ENOENT' || code === 'ENOTDIR' ? missingReason(abs.slice(abs.lastIndexOf('/') + 1)) : reasonOf(err));
          return;
        }
        throw withPath(err, abs);
      }
      let st: fs.Stats;
      try {
        // the size and metadata of what was opened, now (not when the directory was listed)
        st = fs.fstatSync(fd);
      } catch (err) {
        fs.closeSync(fd);
        throw withPath(err, abs);
      }
      if (!st.isFile()) {
        // replaced (by a directory, a fifo, ...) since it was listed: archived as what it is now
        fs.closeSync(fd);
        visitStats(abs, rel, st, exclude, archiver);
        return;
      }
      try {
        const size = st.size;
        writer.header({ name: rel, type: 'file', mode: st.mode, uid: st.uid, gid: st.gid, size, mtime: Math.floor(st.mtimeMs / 1000) });
        let off = 0;
        while (off < size) {
          const want = Math.min(writer.space(), size - off);
          let n: number;
          try {
            n = fs.readSync(fd, writer.bytes, writer.pos, want, off);
          } catch (err) {
            if (isSoftError(err)) {
              unreadable(abs, `read failed after ${off} of ${size} bytes: ${reasonOf(err)}; rest filled with zeros`);
              break;
            }
            throw withPath(err, abs);
          }
          if (n === 0) {
            unreadable(abs, `shrank while reading (${off} of ${size} bytes); rest filled with zeros`);
            break;
          }
          writer.advance(n);
          off += n;
          if (n > 65536) checkAbort();
        }
        counts.bytesRead += off;
        writer.zeros(size - off + padding(size));
        counts.files++;
      } finally {
        fs.closeSync(fd);
      }
    },
    special(abs, kind) {
      counts.skipped++;
      post({ t: 'skipped', path: abs, kind });
    },
    excluded(abs, isDirectory) {
      counts.skipped++;
      post({ t: 'skipped', path: abs, kind: isDirectory ? 'excluded directory' : 'excluded' });
    },
    unreadable,
  };
  /** Archives `abs` as a symlink when it is one now; false (nothing done) otherwise. */
  const replacedBySymlink = (abs: string, rel: string): boolean => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch {
      return false;
    }
    if (!st.isSymbolicLink()) return false;
    archiver.symlink(abs, rel, st);
    return true;
  };

  const finish = () => {
    for (const root of data.roots) {
      checkAbort();
      walkSource(root, exclude, archiver);
    }
    writer.end();
    post({ t: 'done', counts });
  };

  if (!data.scan) return finish();

  // Pre-scan (lstat only; or the one run before the job, when it may be reused), then the header entry from the main thread, first.
  let scan: ArchiveScan;
  if (data.reuseScan && prescanned && prescanned.key === scanKey(data.roots, data.exclude)) scan = prescanned.scan;
  else {
    scan = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
    for (const root of data.roots) scanSource(root, exclude, scan);
  }
  post({ t: 'scan', scan });
  return once(port, 'message').then(([reply]: HeaderReply[]) => {
    if (reply.entry) {
      const { name, data: bytes } = reply.entry;
      writer.header({
        name,
        type: 'file',
        mode: 0o644,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        size: bytes.length,
        mtime: Math.floor(Date.now() / 1000),
      });
      writer.write(bytes);
      writer.zeros(padding(bytes.length));
    }
    finish();
  });
}

function fail(err: unknown): void {
  if (err instanceof Aborted) return;
  const e = err as NodeJS.ErrnoException;
  parentPort!.postMessage({
    t: 'error',
    message: e?.message ?? String(err),
    code: e?.code,
    path: e?.path,
    missingSource: err instanceof SourceMissingError,
  } satisfies WorkerMessage);
}

// the job comes as the first message (after a pre-scan request, when the run sent one): the worker
// may be started before the job is known (spare.ts's prestartArchiveWorker)
if (parentPort) {
  const port = parentPort;
  let prescanned: Prescanned | null = null;
  const first = (m: TarWorkerData | PrescanRequest) => {
    if ('t' in m && m.t === 'prescan') {
      prescanned = prescan(m);
      port.postMessage({ t: 'prescanned' } satisfies WorkerMessage);
      port.once('message', first);
      return;
    }
    try {
      const r = run(port, m as TarWorkerData, prescanned);
      if (r) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
  port.once('message', first);
}
