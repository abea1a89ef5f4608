import * as fs from 'node:fs';
import { createReadStream, createWriteStream, type Dirent } from 'node:fs';
import { link, lstat, open, readdir, rename, stat, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log.ts';
import { UserError, errorMessage } from '../errors.ts';
import type { LocalConfig } from './local.def.ts';
import type { BackupObject, Destination, LocalFile, UploadOptions } from './types.ts';
import { assertPlainName } from './names.ts';
import { offsiteTempName, isOffsiteTempName, isStaleLeftover, type LeftoverPolicy, type LeftoverReport } from './leftovers.ts';
import { guarded, guardStream, metered, isTimeout, timeoutError, type Guard } from './deadline.ts';
import { describeFailure } from './describe.ts';
import { DEFAULT_RETRY } from './retry.ts';
import { DestinationError } from './errors.ts';
import { syncBehind } from './sync-behind.ts';

/**
 * Temporary files this destination writes: `.<name>.offsite-<writer>-<time>-<hex>.tmp`
 * (uploads, see leftovers.ts), `.<link>.tmp` (symlink swap), and `.<name>.<16 hex>.tmp`
 * (uploads of earlier versions).
 */
const TEMP_RE = /^\..+\.(?:[0-9a-f]{16}\.)?tmp$/;

/** Bytes an upload's file stream buffers before the source waits (see upload()). */
export const LOCAL_WRITE_BUFFER = 256 << 10;

type WriteCb = (err: NodeJS.ErrnoException | null, written?: number, ...rest: unknown[]) => void;

/**
 * createWriteStream's `fs` option: node:fs itself, reporting after each completed write the
 * bytes written to the file so far (UploadOptions.written: the archive then reuses the
 * buffers that held them). A write's callback comes after the kernel copied its bytes.
 */
export function reportingWrites(report: (bytes: number) => void) {
  let total = 0;
  const after =
    (cb: WriteCb): WriteCb =>
    (err, written, ...rest) => {
      if (!err && typeof written === 'number') {
        total += written;
        report(total);
      }
      cb(err, written, ...rest);
    };
  return {
    open: fs.open,
    close: fs.close,
    fsync: fs.fsync,
    write(...args: unknown[]) {
      const cb = args.pop() as WriteCb;
      (fs.write as (...a: unknown[]) => void)(...args, after(cb));
    },
    writev(fd: number, buffers: NodeJS.ArrayBufferView[], position: number | null, cb: WriteCb) {
      fs.writev(fd, buffers, position, after(cb) as (err: NodeJS.ErrnoException | null, written: number) => void);
    },
  };
}

export function isLocalTempName(name: string): boolean {
  return TEMP_RE.test(name) || (name.startsWith('.') && isOffsiteTempName(name));
}

/**
 * The local destination (BACKUP_ARCHIVE): a directory on a mounted volume. It is never
 * created (a missing mount must not send backups into the container's file system).
 *
 * upload writes `.<name>.<random>.tmp` in the same directory, fsyncs it, links it
 * to the final name (failing when that name exists: an existing backup is never
 * overwritten), removes the temporary name and fsyncs the directory. Any error or
 * abort removes the temporary file. With `latestSymlink`, a symlink to the newest
 * backup is swapped in atomically after each successful upload.
 */
export interface LocalOptions {
  /**
   * Deadline of each file-system call, and of a write making no progress
   * (BACKUP_DESTINATION_TIMEOUT): a call that does not return (a hung NFS or FUSE mount)
   * is abandoned after this long and the operation fails. It cannot be cancelled: it
   * keeps one libuv thread until the mount answers.
   */
  timeoutMs?: number;
}

export function createLocalDestination(config: LocalConfig, log: Logger, opts: LocalOptions = {}): Destination {
  const dir = config.dir;
  const latest = config.latestSymlink;
  if (latest) assertPlainName(latest, 'Local');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RETRY.timeoutMs;
  /** One file-system step under the deadline; its errors say what failed in the user's terms. */
  async function fsOp<T>(what: string, fn: (g: Guard) => Promise<T>, signal?: AbortSignal, bytesSent?: number): Promise<T> {
    try {
      return await guarded({ timeoutMs, what: `Local ${what}`, signal }, fn);
    } catch (err) {
      if (err instanceof UserError || isTimeout(err) || (err as Error)?.name === 'AbortError' || signal?.aborted) throw err;
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code === 'ENOENT' || code === 'EEXIST') throw err; // callers look at these
      throw new DestinationError(`Local ${what} failed: ${describeFailure(err, { bytesSent })}`, { cause: err, code });
    }
  }

  async function upload(name: string, source: Readable, options: UploadOptions = {}): Promise<void> {
    assertPlainName(name, 'Local');
    if (latest && name === latest) {
      source.destroy();
      throw new UserError(`Local: backup name "${name}" is the same as BACKUP_LATEST_SYMLINK`, 'Choose a different BACKUP_LATEST_SYMLINK or BACKUP_FILENAME.');
    }
    const finalPath = join(dir, name);
    const tmpPath = join(dir, `.${offsiteTempName(name)}`);
    let created = false;
    let sent = 0;
    try {
      options.signal?.throwIfAborted();
      await fsOp(`stat ${dir}`, () => assertDir(dir), options.signal);
      if (!options.replace && (await fsOp(`stat ${finalPath}`, () => exists(finalPath), options.signal))) throw alreadyExists(finalPath);
      created = true;
      // Bytes taken by the file are progress; a write or the final fsync that does not
      // return for the timeout is abandoned (a hung mount).
      await fsOp(
        `write ${tmpPath}`,
        async (g) => {
          const body = metered(source, () => g.progress());
          // `wx`: never reuse an existing file; `flush`: fsync before close (pipeline waits for close).
          // 256 KiB buffered (one writev each): fewer archive buffers in flight, so fewer survive the
          // archive's minor GCs into the old generation (measured: an uncompressed 200 MiB backup
          // peaked at 96-115 MiB with 1 MiB, 91-94 with 256 KiB, CPU the same; 64 KiB no better).
          // the disk writes the file while it is made: the final fsync has little left (sync-behind.ts)
          const file = createWriteStream(tmpPath, {
            flags: 'wx',
            flush: true,
            highWaterMark: LOCAL_WRITE_BUFFER,
            fs: syncBehind({ base: options.written ? reportingWrites(options.written) : undefined }),
          });
          g.onAbort(() => {
            body.stream.destroy();
            file.destroy();
          });
          try {
            await pipeline(body.stream, file);
          } finally {
            sent = body.bytes();
          }
        },
        options.signal,
        sent,
      );
      // Nothing incomplete may carry the backup's name.
      const st = await fsOp(`stat ${tmpPath}`, () => stat(tmpPath), options.signal);
      if (st.size !== sent) throw new Error(`Local write ${tmpPath} failed: the file holds ${st.size} of the ${sent} bytes written`);
      if (options.replace) {
        // rename(2) replaces the old file atomically: readers see the old or the new one, never neither
        await fsOp(`rename ${tmpPath}`, () => rename(tmpPath, finalPath), options.signal);
      } else if (await fsOp(`link ${finalPath}`, () => linkNoReplace(tmpPath, finalPath), options.signal))
        await fsOp(`remove ${tmpPath}`, () => unlink(tmpPath));
      created = false;
      await fsOp(`fsync ${dir}`, () => syncDir(dir));
    } catch (err) {
      source.destroy();
      if (created) await fsOp(`remove ${tmpPath}`, () => unlink(tmpPath)).catch(() => {});
      throw err;
    }
    log.debug({ destination: 'Local', path: finalPath }, 'stored backup');
    if (latest && !name.endsWith('.manifest.json')) {
      // a sidecar manifest is never the newest backup
      try {
        await swapSymlink(dir, latest, name);
      } catch (err) {
        // The backup itself is stored; a stale symlink is reported, not fatal.
        log.warn({ destination: 'Local', symlink: join(dir, latest) }, `could not update latest symlink: ${errorMessage(err)}`);
      }
    }
  }

  async function list(prefix: string): Promise<BackupObject[]> {
    let entries: Dirent[];
    try {
      entries = await fsOp(`list ${dir}`, () => readdir(dir, { withFileTypes: true }));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: BackupObject[] = [];
    for (const e of entries) {
      if (!e.isFile() || !e.name.startsWith(prefix) || isLocalTempName(e.name)) continue;
      try {
        const s = await fsOp(`stat ${join(dir, e.name)}`, () => lstat(join(dir, e.name)));
        if (s.isFile()) out.push({ name: e.name, size: s.size, modified: s.mtime });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // removed meanwhile
      }
    }
    return out;
  }

  async function remove(names: string[]): Promise<void> {
    for (const name of names) assertPlainName(name, 'Local');
    let removed = 0;
    for (const name of names) {
      try {
        await fsOp(`remove ${join(dir, name)}`, () => unlink(join(dir, name)));
        removed++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    if (removed > 0) await fsOp(`fsync ${dir}`, () => syncDir(dir));
  }

  async function localFile(name: string): Promise<LocalFile> {
    assertPlainName(name, 'Local');
    const p = join(dir, name);
    const s = await fsOp(`stat ${p}`, () => stat(p));
    if (!s.isFile()) throw new Error(`Local: ${p} is not a file`);
    return { path: p, timeoutMs, timeoutError: () => timeoutError(`Local read ${p}`, timeoutMs) };
  }

  async function download(name: string): Promise<Readable> {
    const p = (await localFile(name)).path;
    const stream = createReadStream(p, { highWaterMark: 1 << 20 });
    await fsOp(`open ${p}`, (g) => {
      g.onAbort(() => stream.destroy());
      return new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
    });
    return guardStream(stream, { timeoutMs, what: `Local read ${p}` });
  }

  /** Stale temporary files of interrupted uploads (see leftovers.ts); a missing directory has none. */
  async function cleanupLeftovers(policy: LeftoverPolicy): Promise<LeftoverReport> {
    let names: string[];
    try {
      names = await fsOp(`list ${dir}`, () => readdir(dir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { removed: [] };
      throw err;
    }
    const removed: string[] = [];
    for (const n of names) {
      if (!n.startsWith('.') || !isOffsiteTempName(n)) continue;
      try {
        const s = await fsOp(`stat ${join(dir, n)}`, () => lstat(join(dir, n)));
        if (!s.isFile() || !isStaleLeftover(n, s.mtime, policy)) continue;
        await fsOp(`remove ${join(dir, n)}`, () => unlink(join(dir, n)));
        removed.push(n);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    if (removed.length > 0) await syncDir(dir);
    return { removed };
  }

  return {
    name: 'Local',
    location: dir,
    upload,
    list,
    remove,
    download,
    localFile,
    cleanupLeftovers,
    check,
    async close() {},
  };

  /** The directory exists and a probe file can be written, synced and removed (never through upload: no latest symlink). */
  async function check(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await assertDir(dir);
    const probe = join(dir, `.offsite-check-${process.pid}-${Date.now().toString(36)}`);
    const fh = await open(probe, 'wx');
    try {
      await fh.writeFile('offsite destination check\n');
      await fh.sync();
    } finally {
      await fh.close();
      await unlink(probe);
    }
  }
}

/**
 * The directory must exist: it is a mounted volume, and creating it would put backups
 * inside the container's own file system when the mount is missing.
 */
async function assertDir(dir: string): Promise<void> {
  let s;
  try {
    s = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(
        `Local: ${dir} does not exist`,
        'Mount a volume at BACKUP_ARCHIVE; offsite does not create it, so backups never land inside the container by mistake.',
      );
    }
    throw err;
  }
  if (!s.isDirectory()) throw new UserError(`Local: ${dir} is not a directory`, 'Point BACKUP_ARCHIVE at a mounted directory.');
}

function alreadyExists(path: string): UserError {
  return new UserError(
    `Local: ${path} already exists; refusing to overwrite an existing backup`,
    'Use a BACKUP_FILENAME with a time stamp precise enough for your schedule (e.g. %Y-%m-%dT%H-%M-%S).',
  );
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Give `tmp` the name `final` without ever replacing an existing `final`: a hard link
 * fails with EEXIST. File systems without hard links (some FUSE, SMB, vfat mounts)
 * fall back to check-then-rename. Returns true when `tmp` still exists (was linked).
 */
async function linkNoReplace(tmp: string, final: string): Promise<boolean> {
  try {
    await link(tmp, final);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw alreadyExists(final);
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK' || code === 'EXDEV') {
      if (await exists(final)) throw alreadyExists(final);
      await rename(tmp, final);
      return false;
    }
    throw err;
  }
}

/** fsync a directory so a rename/link/unlink in it survives a crash. Some file systems refuse; that is not an error. */
async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}

/** Point `dir/linkName` at `target` (relative) atomically: create `.linkName.tmp`, rename it over. */
async function swapSymlink(dir: string, linkName: string, target: string): Promise<void> {
  const linkPath = join(dir, linkName);
  const tmp = join(dir, `.${linkName}.tmp`);
  await unlink(tmp).catch(() => {});
  await symlink(target, tmp);
  try {
    await rename(tmp, linkPath);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dir);
}
