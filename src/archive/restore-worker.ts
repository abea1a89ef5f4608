/**
 * The restore's file writer thread: creates the directories, files and hard links the
 * main thread decided on, in the order it decided them, with synchronous fs calls
 * (open, write, fchown, fchmod, futimes, close per file), so the ~16 k syscalls of a
 * tree of small files overlap decompression and tar parsing the way `tar -xzf`'s
 * separate gzip process does. Every check of an entry (names, symlinks, hard links,
 * bounds, --include) stays on the main thread (extract.ts): this thread only writes.
 *
 * File content arrives in a ring of shared memory; each batch of operations carries
 * its data's end position, stored in `ctl[FREED]` once the batch is written so the
 * main thread can reuse the space. The first failure is reported once and every later
 * operation is skipped (the main thread then removes the staging directory); a set
 * `ctl[STOP]` skips what is queued (an abort).
 */
import {
  readFileSync,
  statSync,
  openSync,
  writeSync,
  closeSync,
  fchownSync,
  fchmodSync,
  futimesSync,
  unlinkSync,
  mkdirSync,
  lstatSync,
  linkSync,
  constants as fsConstants,
} from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

export interface RestoreWorkerData {
  /** Marks this thread (the module is also loaded on the main thread, for its types and constants). */
  role: 'restore-writer';
  /** The staging directory every `rel` is relative to. */
  staging: string;
  owners: boolean;
  /** File content, `ring.byteLength` bytes. */
  ring: SharedArrayBuffer;
  /** BigInt64Array over it: [FREED, STOP]. */
  control: SharedArrayBuffer;
}

export const FREED = 0;
export const STOP = 1;

export interface FileMeta {
  mode: number;
  mtime: number;
  atime: number;
  uid: number;
  gid: number;
}

/** One operation; `off`/`len` are a position in the ring. */
export type WriteOp =
  /** A directory (0777 less the umask, as tar; an existing directory is fine). */
  | { k: 'd'; rel: string; name: string }
  /** A whole file. */
  | { k: 'f'; rel: string; off: number; len: number; m: FileMeta }
  /** A large file: open, pieces, close with its metadata. */
  | { k: 'o'; rel: string; m: FileMeta }
  | { k: 'w'; off: number; len: number }
  | { k: 'c'; m: FileMeta }
  /** A hard link to an earlier entry. */
  | { k: 'l'; rel: string; target: string; name: string; linkname: string };

export type ToWorker = { t: 'ops'; ops: WriteOp[]; end: number } | { t: 'sync'; id: number } | { t: 'end' };

/** The first failure: `kind` tells the main thread which error to make of it. */
export interface WriteFailure {
  kind: 'unsafe' | 'damaged' | 'fs';
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

export type FromWorker = { t: 'synced'; id: number } | { t: 'failed'; failure: WriteFailure };

class Refused extends Error {
  readonly kind: 'unsafe' | 'damaged';
  constructor(kind: 'unsafe' | 'damaged', message: string) {
    super(message);
    this.kind = kind;
  }
}

const show = (name: string): string => JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);
const errno = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

if (parentPort && (workerData as RestoreWorkerData | null)?.role === 'restore-writer') {
  const port = parentPort;
  const data = workerData as RestoreWorkerData;
  const ring = Buffer.from(data.ring);
  const ctl = new BigInt64Array(data.control);
  const { staging, owners } = data;
  const abs = (rel: string) => (rel === '' ? staging : join(staging, rel));
  let fd = -1;
  let failed = false;
  /** The mode the open file was created with, when known (then a fchmod to the same mode is skipped). */
  let created = -1;
  // what a new file gets without fchown and fchmod: the process's owner and group (the staging
  // directory has no set-group-ID bit, whose group new files would inherit) and its open mode less the umask
  const uid = process.geteuid?.() ?? -1;
  const gid = ((statSync(staging, { throwIfNoEntry: false })?.mode ?? 0o2000) & 0o2000) === 0 ? (process.getegid?.() ?? -1) : -1;
  let umask = -1;
  try {
    umask = parseInt(/^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '', 8);
  } catch {
    // not Linux: every file gets its fchmod
  }
  if (!Number.isInteger(umask)) umask = -1;
  const modeOf = (m: FileMeta): number => (owners ? m.mode : m.mode & 0o1777);

  const writeAll = (off: number, len: number): void => {
    let done = 0;
    while (done < len) done += writeSync(fd, ring, off + done, len - done);
  };
  /** Create a file (replacing an earlier entry's file of the same name, never following a symlink) with its final permission bits when the umask keeps them all. */
  const openNew = (path: string, m: FileMeta): number => {
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
    const want = modeOf(m);
    const direct = umask >= 0 && (want & ~0o777) === 0 && (want & umask) === 0;
    const mode = direct ? want : 0o600;
    created = direct ? want : -1;
    try {
      return openSync(path, flags, mode);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      unlinkSync(path);
      return openSync(path, flags, mode);
    }
  };
  const closeFile = (m: FileMeta): void => {
    const f = fd;
    fd = -1;
    try {
      if (owners && (m.uid !== uid || m.gid !== gid)) fchownSync(f, m.uid, m.gid);
      const want = modeOf(m);
      if (want !== created) fchmodSync(f, want); // a new file has no set-user/group-ID bit for fchown to clear
      futimesSync(f, m.atime, m.mtime);
    } finally {
      closeSync(f);
    }
  };
  const closeQuietly = (): void => {
    if (fd < 0) return;
    try {
      closeSync(fd);
    } catch {
      // the file is removed with the staging directory
    }
    fd = -1;
  };

  const run = (op: WriteOp): void => {
    switch (op.k) {
      case 'd':
        try {
          mkdirSync(abs(op.rel), { mode: 0o777 });
        } catch (e) {
          if (errno(e) !== 'EEXIST') throw e;
          if (!lstatSync(abs(op.rel)).isDirectory())
            throw new Refused('damaged', `the archive stores ${show(op.rel)} as a file and also has ${show(op.name)} inside it`);
        }
        break;
      case 'f':
        fd = openNew(abs(op.rel), op.m);
        try {
          writeAll(op.off, op.len);
        } catch (e) {
          closeQuietly();
          throw e;
        }
        closeFile(op.m);
        break;
      case 'o':
        fd = openNew(abs(op.rel), op.m);
        break;
      case 'w':
        writeAll(op.off, op.len);
        break;
      case 'c':
        closeFile(op.m);
        break;
      case 'l': {
        let st;
        try {
          st = lstatSync(abs(op.target));
        } catch (e) {
          if (errno(e) === 'ENOENT')
            throw new Refused('unsafe', `hard link ${show(op.name)} points to ${show(op.linkname)}, which is not an earlier entry of the archive`);
          throw e;
        }
        if (st.isDirectory()) throw new Refused('unsafe', `hard link ${show(op.name)} points to a directory`);
        try {
          linkSync(abs(op.target), abs(op.rel));
        } catch (e) {
          if (errno(e) !== 'EEXIST') throw e;
          unlinkSync(abs(op.rel));
          linkSync(abs(op.target), abs(op.rel));
        }
        break;
      }
    }
  };

  const fail = (e: unknown): void => {
    failed = true;
    closeQuietly();
    const failure: WriteFailure =
      e instanceof Refused
        ? { kind: e.kind, message: e.message }
        : {
            kind: 'fs',
            message: e instanceof Error ? e.message : String(e),
            code: errno(e),
            errno: (e as NodeJS.ErrnoException)?.errno,
            syscall: (e as NodeJS.ErrnoException)?.syscall,
            path: (e as NodeJS.ErrnoException)?.path,
          };
    port.postMessage({ t: 'failed', failure } satisfies FromWorker);
  };

  port.on('message', (msg: ToWorker) => {
    switch (msg.t) {
      case 'ops':
        if (!failed && Atomics.load(ctl, STOP) === 0n) {
          try {
            for (const op of msg.ops) run(op);
          } catch (e) {
            fail(e);
          }
        }
        Atomics.store(ctl, FREED, BigInt(msg.end));
        Atomics.notify(ctl, FREED);
        break;
      case 'sync':
        port.postMessage({ t: 'synced', id: msg.id } satisfies FromWorker);
        break;
      case 'end':
        closeQuietly();
        port.close();
        break;
    }
  });
}
