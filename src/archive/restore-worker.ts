/**
 * The restore's file writer thread: creates the directories, files and hard links the
 * main thread decided on, in the order it decided them, with synchronous fs calls
 * (open, write, futimes, close per file; fchown and fchmod only where a new file's
 * owner or mode differs from the archived one), so the file system's work for a tree
 * of small files (inode allocation above all) overlaps decompression, hashing and tar
 * parsing the way `tar -xzf`'s separate gzip process does. Every check of an entry
 * (names, symlinks, hard links, bounds, --include) stays on the main thread
 * (extract.ts): this thread only writes.
 *
 * File content arrives in a ring of shared memory; each batch of operations carries
 * its data's end position, stored in `ctl[FREED]` once the batch is written so the
 * main thread can reuse the space. The first failure is reported once and every later
 * operation is skipped (the main thread then removes the staging directory); a set
 * `ctl[STOP]` skips what is queued (an abort).
 */
import {
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
import { parentPort, workerData } from 'node:worker_threads';

export interface RestoreWorkerData {
  /** Marks this thread (the module is also loaded on the main thread, for its types and constants). */
  role: 'restore-writer';
  /** The staging directory every `rel` is relative to. */
  staging: string;
  owners: boolean;
  /** The owner and group every file created below the staging directory gets (extract.ts: the staging directory's own). */
  created: { uid: number; gid: number };
  /** The permission bits a file created with 0777 gets there (extract.ts modeProbe): a mode within them needs no fchmod. */
  permitted: number;
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
  // `rel` is safeParts' output (no empty, `.` or `..` component): a plain concatenation is what join() would return
  const abs = (rel: string) => (rel === '' ? staging : `${staging}/${rel}`);
  let fd = -1;
  let failed = false;
  /** Whether the open file was created with its final mode (then no fchmod unless a fchown cleared set-ID bits). */
  let exact = false;
  const { created, permitted } = data;
  const modeOf = (m: FileMeta): number => (owners ? m.mode : m.mode & 0o1777);

  const writeAll = (off: number, len: number): void => {
    let done = 0;
    while (done < len) done += writeSync(fd, ring, off + done, len - done);
  };
  /** Create a file (replacing an earlier entry's file of the same name, never following a symlink) with its final permission bits when the umask keeps them all. */
  const openNew = (path: string, m: FileMeta): number => {
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
    const want = modeOf(m);
    // inside the 0700 staging directory nobody else can open the file before its fchmod
    exact = (want & ~permitted) === 0;
    const mode = exact ? want : 0o600;
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
      const chown = owners && (m.uid !== created.uid || m.gid !== created.gid);
      if (chown) fchownSync(f, m.uid, m.gid);
      // after a fchown, which clears set-user/group-ID bits
      if (chown || !exact) fchmodSync(f, modeOf(m));
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
