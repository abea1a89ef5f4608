/**
 * Safe extraction of an offsite archive (or any tar, tar.gz, tar.zst, maybe
 * encrypted), and the read-only decode used by verify.
 *
 * Safety rules (every violation fails the whole restore with a clear error):
 * - no entry is written outside the target: `..` components and hard links
 *   that point outside are refused; a leading `/` is dropped (GNU tar's default,
 *   and how offen's archives name every entry), so `/backup/x` lands in `<target>/backup/x`;
 * - nothing is ever written through a symbolic link: symlinks are created
 *   only after every other entry, and an entry below a symlink of the
 *   archive is refused;
 * - device nodes, fifos and unknown entry types are skipped (with a warning);
 * - everything is extracted into a fresh staging directory inside the target
 *   and moved into place only once the whole archive decoded without error
 *   (authentication, checksums, end-of-archive marker), so a truncated,
 *   corrupted or wrongly-keyed archive never leaves a partial restore behind.
 *
 * Restored: file contents, modes, mtimes (sub-second from pax), symlinks,
 * hard links, empty directories, and ownership when running as root.
 */
import { randomBytes, hash } from 'node:crypto';
import { openSync, closeSync, fstatSync, unlinkSync, constants as fsConstants } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, rmdir, symlink, link, lchown, lutimes, chmod, chown, utimes, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import type { Header } from 'tar-stream';
import type { TarReader } from './untar.ts';
import { UserError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DecryptionKeys, EncryptionMethod } from '../crypto/index.ts';
import { ArchiveFile, decodeArchive } from './decode.ts';
import { Includes } from './include.ts';
import { RestoreWriter } from './restore-writer.ts';
import type { WriteFailure } from './restore-worker.ts';

import { MANIFEST_ENTRY } from '../manifest/index.ts';

export { MANIFEST_ENTRY };
const MANIFEST_MAX = 1024 * 1024;
/** Linux PATH_MAX is 4096 bytes with the terminating NUL: a path has at most 4095. */
export const MAX_PATH = 4095;
/** Linux NAME_MAX: bytes per path component. */
export const MAX_COMPONENT = 255;
/**
 * Without a sidecar, the archive's own manifest bounds its file content: its count
 * was taken before archiving (files may grow while a backup runs), so twice it
 * plus this much is allowed.
 */
/** `.offsite-restore-` and 12 hex digits. */
const STAGING_NAME_BYTES = 29;
const MANIFEST_GROWTH_ALLOWANCE = 1024 * 1024 * 1024;
/** Files up to this size are gathered in memory and written with one call. */
const SMALL_FILE = 256 * 1024;

export interface ExtractProgress {
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  /** File content bytes decoded so far. */
  bytes: number;
}

export interface ExtractOptions {
  /** Directory to restore into (created when missing). Omitted: decode and check only (verify). */
  target?: string;
  /** Only entries at or below these archive paths (e.g. `app/config`), or matching these globs (see include.ts). */
  include?: string[];
  /** Allow a non-empty target: entries replace what is there, other files stay. */
  force?: boolean;
  keys?: DecryptionKeys;
  /** Restore owners (uid/gid). Default: when running as root. */
  owners?: boolean;
  log?: Logger;
  signal?: AbortSignal;
  onProgress?: (p: ExtractProgress) => void;
  /**
   * At most this many bytes of file content (the sidecar's exact count): an archive
   * announcing more is refused before anything beyond it is written. Without it, the
   * archive's own manifest bounds it (with an allowance for files that grew).
   */
  maxBytes?: number;
  /** Where maxBytes comes from, for the error ("its manifest says 1234"). */
  maxBytesSource?: string;
  /** Called for every entry (not the manifest) once it passed the checks, in archive order (`offsite ls`). */
  onEntry?: (e: EntryInfo) => void | Promise<void>;
  /** Called with the parsed manifest (first entry) before anything else is read; may throw to refuse the archive. */
  onManifest?: (manifest: unknown) => void;
  /** Called once the whole archive decoded, before anything is moved into the target; may throw to refuse it (e.g. a hash mismatch). */
  beforeCommit?: (result: ExtractResult) => void | Promise<void>;
}

/** One archive entry as `offsite ls` shows it: `path` is what `restore --include` takes (directories end with /). */
export interface EntryInfo {
  path: string;
  /** tar-stream's type: file, directory, symlink, link (hard link), fifo, character-device, ... */
  type: string;
  size: number;
  mode: number;
  mtime: Date;
  uid: number;
  gid: number;
  /** Target of a symbolic or hard link. */
  linkname?: string;
}

export interface ExtractResult extends ExtractProgress {
  hardlinks: number;
  /** Entries skipped on purpose (devices, fifos, unknown types, hard links to excluded files). */
  skipped: number;
  warnings: string[];
  encryption: EncryptionMethod;
  compression: 'gz' | 'zst' | 'none';
  /** The archive's manifest entry, or null when it has none. */
  manifest: unknown;
}

const UNSAFE_HINT = 'the archive may be malicious or damaged; nothing was restored';
const DAMAGED_HINT = 'the archive was damaged or cut short in storage or transfer; try another copy of this backup';

/** An entry that would escape the target or write through a link. */
export class UnsafeEntryError extends UserError {
  constructor(message: string) {
    super(`refusing to restore: ${message}`, UNSAFE_HINT);
    this.name = 'UnsafeEntryError';
  }
}

function show(name: string): string {
  const s = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  return JSON.stringify(s);
}

/** Split an archive path into safe components, or throw. An empty result is the archive root (`./`). */
export function safeParts(name: string, what = 'entry'): string[] {
  if (name.includes('\0')) throw new UnsafeEntryError(`${what} ${show(name)} contains a NUL byte`);
  // A leading `/` is dropped, as GNU tar does ("Removing leading `/' from member names"): offen
  // writes every entry so (`/backup/app/x`, cmd/backup/archive.go), and the entry lands
  // relative to the target like any other; `..` is still refused below.
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  for (const p of parts) {
    if (p === '..') throw new UnsafeEntryError(`${what} ${show(name)} would be written outside the target (it contains "..")`);
    if (Buffer.byteLength(p) > MAX_COMPONENT)
      throw new UnsafeEntryError(`${what} ${show(name)} has a path component longer than ${MAX_COMPONENT} bytes (the file system's NAME_MAX)`);
  }
  const bytes = Buffer.byteLength(parts.join('/'));
  if (bytes > MAX_PATH)
    throw new UnsafeEntryError(`${what} name is ${bytes} bytes long (more than the ${MAX_PATH} bytes the file system allows, PATH_MAX 4096)`);
  return parts;
}

type PaxHeader = Header & { pax?: Record<string, string> | null };

interface Meta {
  mode: number;
  mtime: number;
  atime: number;
  uid: number;
  gid: number;
}

function metaOf(h: PaxHeader): Meta {
  const pax = h.pax ?? {};
  const mtime = pax.mtime !== undefined && Number.isFinite(Number(pax.mtime)) ? Number(pax.mtime) : h.mtime ? h.mtime.getTime() / 1000 : Date.now() / 1000;
  const atime = pax.atime !== undefined && Number.isFinite(Number(pax.atime)) ? Number(pax.atime) : mtime;
  const uid = pax.uid !== undefined ? Number(pax.uid) : (h.uid ?? 0);
  const gid = pax.gid !== undefined ? Number(pax.gid) : (h.gid ?? 0);
  return { mode: (h.mode ?? 0o644) & 0o7777, mtime, atime, uid: Number.isFinite(uid) ? uid : 0, gid: Number.isFinite(gid) ? gid : 0 };
}

function tarError(e: unknown): Error {
  if (e instanceof UserError) return e;
  const msg = errorMessage(e);
  if ((e as NodeJS.ErrnoException)?.code === 'ABORT_ERR') return e as Error;
  if (/unexpected end of data/i.test(msg)) return new UserError('the archive is truncated: its tar data ends in the middle of an entry', DAMAGED_HINT);
  if (/header exceeds max size/i.test(msg)) return new UserError('the archive has an oversized tar header (a pax or long-name header over 4 MiB)', UNSAFE_HINT);
  if (/invalid tar header|unknown format|invalid header/i.test(msg)) return new UserError(`the archive's tar data is corrupted: ${msg}`, DAMAGED_HINT);
  return e instanceof Error ? e : new Error(msg);
}

/** The writer thread's first failure as the error the restore fails with (the same as when the main thread wrote). */
function writeError(f: WriteFailure): Error {
  if (f.kind === 'unsafe') return new UnsafeEntryError(f.message);
  if (f.kind === 'damaged') return new UserError(f.message, DAMAGED_HINT);
  return Object.assign(new Error(f.message), { code: f.code, errno: f.errno, syscall: f.syscall, path: f.path });
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

async function isEmptyDir(dir: string): Promise<boolean | null> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Move every entry of `src` into `dst`: new names are renamed in, directories
 * present on both sides are merged, anything else at the destination
 * (file, symlink, a directory where the archive has a file) is replaced.
 */
async function mergeInto(src: string, dst: string): Promise<void> {
  for (const name of await readdir(src)) {
    const s = join(src, name);
    const d = join(dst, name);
    let ds: Awaited<ReturnType<typeof lstat>> | null = null;
    try {
      ds = await lstat(d);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    if (!ds) {
      await rename(s, d);
      continue;
    }
    const ss = await lstat(s);
    if (ss.isDirectory() && ds.isDirectory()) {
      await mergeInto(s, d);
      await rmdir(s);
      continue;
    }
    await rm(d, { recursive: true, force: true });
    await rename(s, d);
  }
}

/**
 * The permission bits a new file gets in `dir` when created with 0777: the umask's
 * complement, or what the directory's default ACL lets through (which then replaces the
 * umask); a file created with mode m gets m & this. 0 (every mode set by fchmod) when the
 * probe cannot be created.
 */
function modeProbe(dir: string): number {
  const probe = `${dir}/.offsite-mode-probe`;
  let fd: number;
  try {
    fd = openSync(probe, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o777);
  } catch {
    return 0;
  }
  try {
    return fstatSync(fd).mode & 0o777;
  } finally {
    closeSync(fd);
    unlinkSync(probe);
  }
}

/**
 * Do `parts` (an entry's path components) have the same parent directories as `last`
 * (an earlier entry's, whose parents every check already passed and recorded as
 * directories)? Then they need no second walk: the set of known directories only grows,
 * and each parent of `last` is in it. Entries of one directory mostly follow each other,
 * so this spares a walk over every parent (building each prefix string and hashing it)
 * per file. Compared from the deepest component, where paths differ first.
 */
function sameParents(parts: string[], last: string[]): boolean {
  const n = parts.length - 1;
  if (n !== last.length - 1) return false;
  for (let i = n - 1; i >= 0; i--) if (parts[i] !== last[i]) return false;
  return true;
}

/** A short fingerprint of a path (72 bits of SHA-1): the set of earlier non-directories stays small for huge archives. */
const fingerprint = (rel: string): string => hash('sha1', rel, 'base64').slice(0, 12);

/**
 * The checks every entry must pass, in archive order, shared by restore and
 * verify (so verify refuses exactly what restore would): safe names within the
 * file system's limits (NAME_MAX, PATH_MAX), nothing below a symbolic link, no
 * path that is both a directory and a non-directory, hard links only to earlier
 * entries (not directories, not through symbolic links), symbolic link targets
 * the file system can store, and file content within `maxBytes`.
 *
 * Memory: directories and symbolic links are kept by name, other entries by a
 * 12-byte fingerprint.
 */
export class EntryRules {
  private readonly dirs = new Set<string>(['']);
  private readonly symlinks = new Set<string>();
  private readonly others = new Set<string>();
  /** File content bytes the headers announced so far. */
  declared = 0;
  /** The longest entry path (bytes), to tell verify how long a target path may be. */
  longestPath = 0;
  maxBytes: number;
  /** Where the bound comes from, for the error. */
  maxBytesSource: string;

  constructor(maxBytes = Infinity, source = '') {
    this.maxBytes = maxBytes;
    this.maxBytesSource = source;
  }

  /** Lower the content bound (the smallest one given wins). */
  bound(maxBytes: number, source: string): void {
    if (maxBytes < this.maxBytes) {
      this.maxBytes = maxBytes;
      this.maxBytesSource = source;
    }
  }

  private isOther(rel: string): boolean {
    return this.others.has(fingerprint(rel));
  }

  /** The path of the last entry whose parents passed (see sameParents). */
  private lastParents: string[] = [];

  private parents(parts: string[], name: string): void {
    if (sameParents(parts, this.lastParents)) return;
    let p = '';
    for (let i = 0; i < parts.length - 1; i++) {
      p = p ? `${p}/${parts[i]}` : parts[i]!;
      if (this.dirs.has(p)) continue;
      if (this.symlinks.has(p)) throw new UnsafeEntryError(`entry ${show(name)} would be written through the symbolic link ${show(p)}`);
      if (this.isOther(p)) throw new UnsafeEntryError(`the archive stores ${show(p)} as a file and also has ${show(name)} inside it`);
      this.dirs.add(p);
    }
    this.lastParents = parts;
  }

  private notADirectory(rel: string, name: string): void {
    if (this.dirs.has(rel)) throw new UnsafeEntryError(`the archive has both a directory and a non-directory entry ${show(name)}`);
  }

  /** Check one entry (not the manifest) against everything before it. Returns its path components. */
  check(h: Header, parts = safeParts(h.name)): string[] {
    const rel = parts.join('/');
    if (rel === '') return parts;
    this.longestPath = Math.max(this.longestPath, Buffer.byteLength(rel));
    switch (h.type) {
      case 'directory':
        this.parents(parts, h.name);
        if (this.symlinks.has(rel)) throw new UnsafeEntryError(`directory ${show(h.name)} would replace the symbolic link stored before it`);
        if (this.isOther(rel)) throw new UnsafeEntryError(`the archive stores ${show(rel)} as a file and also as a directory ${show(h.name)}`);
        this.dirs.add(rel);
        break;
      case 'file':
      case 'contiguous-file': {
        this.parents(parts, h.name);
        this.notADirectory(rel, h.name);
        const size = h.size ?? 0;
        if (this.declared + size > this.maxBytes) {
          throw new UnsafeEntryError(
            `the archive holds more file content than ${this.maxBytes} bytes, ${this.maxBytesSource} (entry ${show(h.name)} alone is ${size} bytes): a decompression bomb or a damaged archive`,
          );
        }
        this.declared += size;
        this.symlinks.delete(rel);
        this.others.add(fingerprint(rel));
        break;
      }
      case 'symlink': {
        this.parents(parts, h.name);
        this.notADirectory(rel, h.name);
        const linkname = h.linkname ?? '';
        if (!linkname || linkname.includes('\0')) throw new UnsafeEntryError(`symbolic link ${show(h.name)} has an empty or invalid target`);
        if (Buffer.byteLength(linkname) > MAX_PATH)
          throw new UnsafeEntryError(
            `symbolic link ${show(h.name)} has a target of ${Buffer.byteLength(linkname)} bytes (more than the ${MAX_PATH} bytes the file system allows)`,
          );
        this.symlinks.add(rel);
        break;
      }
      case 'link': {
        const targetParts = safeParts(h.linkname ?? '', 'hard link target');
        const tRel = targetParts.join('/');
        if (tRel === '' || tRel === rel) throw new UnsafeEntryError(`hard link ${show(h.name)} has an invalid target ${show(h.linkname ?? '')}`);
        for (let i = 1; i < targetParts.length; i++) {
          const p = targetParts.slice(0, i).join('/');
          if (this.symlinks.has(p)) throw new UnsafeEntryError(`hard link ${show(h.name)} points through the symbolic link ${show(p)}`);
        }
        if (this.dirs.has(tRel)) throw new UnsafeEntryError(`hard link ${show(h.name)} points to a directory`);
        if (!this.symlinks.has(tRel) && !this.isOther(tRel))
          throw new UnsafeEntryError(`hard link ${show(h.name)} points to ${show(h.linkname ?? '')}, which is not an earlier entry of the archive`);
        this.parents(parts, h.name);
        this.notADirectory(rel, h.name);
        this.symlinks.delete(rel);
        this.others.add(fingerprint(rel));
        break;
      }
      default:
        // devices, fifos and unknown types are skipped, never created
        break;
    }
    return parts;
  }
}

/** Decode an archive and restore it into `opts.target`, or (without a target) only decode and check it. */
export async function extractArchive(input: Readable | ArchiveFile, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const log = opts.log;
  const includes = new Includes(opts.include);
  const included = (rel: string): boolean => includes.includes(rel);
  const owners = opts.owners ?? (typeof process.getuid === 'function' && process.getuid() === 0);
  const target = opts.target;
  const writing = target !== undefined;

  let staging = '';
  /**
   * The owner and group every file created below the staging directory gets: the staging
   * directory's own, which this process just created (its user; its group, or the target's
   * when a set-group-ID bit or a `grpid` mount makes new entries inherit it, as they then
   * do all the way down). A file archived with that owner and group needs no fchown.
   */
  let created = { uid: -1, gid: -1 };
  /** The permission bits a file created with 0777 gets below the staging directory (see modeProbe). */
  let permitted = 0;
  /** The first directory this restore created on the way to the target (removed again when it fails). */
  let createdRoot: string | undefined;
  const undoTarget = async () => {
    if (staging) await rm(staging, { recursive: true, force: true }).catch(() => {});
    if (createdRoot) await rm(createdRoot, { recursive: true, force: true }).catch(() => {});
  };
  if (writing) {
    const empty = await isEmptyDir(target);
    if (empty === false && !opts.force) {
      throw new UserError(`the target directory ${target} is not empty`, 'restore into an empty or new directory, or pass --force to replace what is there');
    }
    if (empty === null) createdRoot = await mkdir(target, { recursive: true });
    staging = join(target, `.offsite-restore-${randomBytes(6).toString('hex')}`); // STAGING_NAME_BYTES
    try {
      await mkdir(staging, { mode: 0o700 });
      const st = await lstat(staging);
      created = { uid: st.uid, gid: st.gid };
      permitted = modeProbe(staging);
    } catch (e) {
      staging = '';
      await undoTarget();
      throw e;
    }
  }

  const result: ExtractResult = {
    entries: 0,
    files: 0,
    directories: 0,
    symlinks: 0,
    hardlinks: 0,
    bytes: 0,
    skipped: 0,
    warnings: [],
    encryption: 'none',
    compression: 'none',
    manifest: null,
  };
  const warn = (w: string) => {
    if (result.warnings.length < 100) result.warnings.push(w);
    log?.warn(w);
  };

  const rules = new EntryRules(opts.maxBytes ?? Infinity, opts.maxBytesSource ?? 'the bound given');
  const knownDirs = new Set<string>(['']);
  const dirMeta = new Map<string, Meta>();
  const ancestorMeta = new Map<string, Meta>();
  const pendingSymlinks = new Map<string, { linkname: string; meta: Meta }>();
  const pendingHardlinks: Array<{ rel: string; target: string }> = [];

  // `rel` is safeParts' output (no empty, `.` or `..` component): a plain concatenation is what join() would return, without its normalising scan per entry
  const abs = (rel: string) => (rel === '' ? staging : `${staging}/${rel}`);
  /** Creates what restore writes, in archive order, on its own thread (started once the staging directory exists). */
  let writer: RestoreWriter | null = null;

  /** Make sure every parent of `parts` is a real directory of the archive (never a symlink). */
  /** The path of the last entry whose parents were ensured (see sameParents). */
  let lastParents: string[] = [];
  function ensureParents(parts: string[], name: string): void {
    if (sameParents(parts, lastParents)) return;
    let p = '';
    for (let i = 0; i < parts.length - 1; i++) {
      p = p ? `${p}/${parts[i]}` : parts[i]!;
      if (knownDirs.has(p)) continue;
      if (pendingSymlinks.has(p)) throw new UnsafeEntryError(`entry ${show(name)} would be written through the symbolic link ${show(p)}`);
      if (writing) writer!.mkdir(p, name);
      knownDirs.add(p);
    }
    lastParents = parts;
  }

  /**
   * Forget what an earlier entry put at `rel` (a later entry replaces an earlier
   * one, as in tar). The creators below replace an existing file on EEXIST.
   */
  function clearPath(rel: string, name: string): void {
    if (knownDirs.has(rel)) throw new UserError(`the archive has both a directory and a non-directory entry ${show(name)}`, DAMAGED_HINT);
    pendingSymlinks.delete(rel);
  }

  // the tar reader (created once tar-stream's header code is loaded) and what refills it
  let reader!: TarReader;
  let more!: () => Promise<boolean>;
  const truncated = () => new Error('Unexpected end of data');

  /** Skip the rest of the current entry's content; returns its size (a number at once when it was all buffered). */
  function drain(): number | Promise<number> {
    const before = reader.left;
    if (reader.skip() === 0) return before;
    return (async () => {
      while (reader.skip() > 0) if (!(await more())) throw truncated();
      return before;
    })();
  }

  /** The whole rest of the current entry's content (a view when it was buffered in one piece). */
  function readAll(): Buffer | Promise<Buffer> {
    const b = reader.readAll();
    if (b) return b;
    return (async () => {
      const parts: Buffer[] = [];
      for (;;) {
        const p = reader.read();
        if (p) parts.push(p);
        else if (reader.left === 0) return Buffer.concat(parts);
        else if (!(await more())) throw truncated();
      }
    })();
  }

  function writeSmall(rel: string, buf: Buffer, m: Meta): void | Promise<void> {
    result.bytes += buf.length;
    return writer!.file(rel, buf, m);
  }

  /**
   * Files are handed to the writer thread straight from the decoded buffers (copied
   * into its ring): small ones (most of a typical tree) whole, large ones piece by
   * piece as they are decoded, while decompression goes on in the thread pool and
   * the writer creates them.
   */
  function writeFile(rel: string, size: number, m: Meta): void | Promise<void> {
    if (size <= SMALL_FILE) {
      const b = readAll();
      if (Buffer.isBuffer(b)) return writeSmall(rel, b, m);
      return b.then((buf) => writeSmall(rel, buf, m));
    }
    return (async () => {
      writer!.open(rel, m);
      for (;;) {
        const p = reader.read();
        if (p) {
          const w = writer!.piece(p);
          if (w) await w;
          result.bytes += p.length;
        } else if (reader.left === 0) break;
        else if (!(await more())) throw truncated();
      }
      writer!.close(m);
    })();
  }

  /** Hard link `path` to `existing`, replacing an earlier entry at `path` (for the links made last). */
  async function linkReplacing(existing: string, path: string): Promise<void> {
    try {
      await link(existing, path);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      await unlink(path);
      await link(existing, path);
    }
  }

  let first = true;
  let leadingSlashNoted = false;
  async function handle(h: PaxHeader): Promise<void> {
    const isFirst = first;
    first = false;
    const type = h.type;
    let parts = safeParts(h.name);
    const rel = parts.join('/');
    if (!leadingSlashNoted && h.name.startsWith('/')) {
      leadingSlashNoted = true;
      log?.info(`entries have a leading "/" (as offen writes them, e.g. ${show(h.name)}): restored relative to the target, as GNU tar does`);
    }

    if (isFirst && rel === MANIFEST_ENTRY && (type === 'file' || type === 'contiguous-file')) {
      if ((h.size ?? 0) > MANIFEST_MAX) throw new UserError(`the archive's manifest is ${h.size} bytes (more than ${MANIFEST_MAX})`, DAMAGED_HINT);
      const body = await readAll();
      try {
        result.manifest = JSON.parse(body.toString('utf8'));
      } catch (e) {
        throw new UserError(`the archive's manifest is not valid JSON: ${errorMessage(e)}`, DAMAGED_HINT);
      }
      opts.onManifest?.(result.manifest);
      const m = result.manifest as { format?: unknown; layout?: unknown; sources?: unknown } | null;
      // offsite's manifests before the path layout: sources stored under their base names
      if (m?.format === 'offsite-backup' && m.layout === undefined && Array.isArray(m.sources)) {
        includes.useBaseNameLayout(m.sources.filter((x): x is string => typeof x === 'string'));
      }
      const counted = (result.manifest as { bytes?: unknown } | null)?.bytes;
      if (typeof counted === 'number' && Number.isSafeInteger(counted) && counted >= 0) {
        rules.bound(2 * counted + MANIFEST_GROWTH_ALLOWANCE, `twice the ${counted} bytes its manifest counted before archiving, plus 1 GiB`);
      }
      return;
    }

    // the checks verify and restore share; restore's own checks below only guard the disk
    parts = rules.check(h, parts);
    result.entries++;
    if (rel === '') {
      await drain();
      return;
    } // the archive root (`./`)
    if (writing && Buffer.byteLength(staging) + 1 + Buffer.byteLength(rel) > MAX_PATH) {
      throw new UserError(
        `the archive path ${show(rel)} is ${Buffer.byteLength(rel)} bytes long: under ${target} it would be longer than the ${MAX_PATH} bytes the file system allows`,
        `restore into a directory with a shorter path (at most ${Math.max(0, MAX_PATH - rules.longestPath - STAGING_NAME_BYTES - 2)} bytes for this archive so far), then move the files`,
      );
    }
    const wanted = included(rel);
    const m = metaOf(h);
    if (opts.onEntry) {
      await opts.onEntry({
        path: type === 'directory' ? `${rel}/` : rel,
        type: String(type ?? 'file'),
        size: type === 'file' || type === 'contiguous-file' ? (h.size ?? 0) : 0,
        mode: m.mode,
        mtime: new Date(m.mtime * 1000),
        uid: m.uid,
        gid: m.gid,
        ...(type === 'symlink' || type === 'link' ? { linkname: h.linkname ?? '' } : {}),
      });
    }

    switch (type) {
      case 'directory': {
        await drain();
        if (!wanted) {
          // a parent of an --include path keeps its own mode and time when it gets created
          if (includes.isAncestor(rel)) ancestorMeta.set(rel, m);
          return;
        }
        ensureParents(parts, h.name);
        if (pendingSymlinks.has(rel)) throw new UnsafeEntryError(`directory ${show(h.name)} would replace the symbolic link stored before it`);
        if (writing && !knownDirs.has(rel)) writer!.mkdir(rel, h.name);
        knownDirs.add(rel);
        if (!dirMeta.has(rel)) result.directories++;
        dirMeta.set(rel, m);
        break;
      }
      case 'file':
      case 'contiguous-file': {
        if (!wanted) {
          await drain();
          return;
        }
        ensureParents(parts, h.name);
        clearPath(rel, h.name);
        if (writing) await writeFile(rel, h.size ?? 0, m);
        else result.bytes += await drain();
        result.files++;
        break;
      }
      case 'symlink': {
        await drain();
        if (!wanted) return;
        const linkname = h.linkname ?? '';
        ensureParents(parts, h.name);
        clearPath(rel, h.name);
        pendingSymlinks.set(rel, { linkname, meta: m });
        result.symlinks++;
        break;
      }
      case 'link': {
        await drain();
        if (!wanted) return;
        const tRel = safeParts(h.linkname ?? '', 'hard link target').join('/');
        if (!included(tRel)) {
          result.skipped++;
          warn(`hard link ${h.name} skipped: its target ${h.linkname} is not included`);
          return;
        }
        ensureParents(parts, h.name);
        clearPath(rel, h.name);
        if (pendingSymlinks.has(tRel)) {
          pendingHardlinks.push({ rel, target: tRel });
        } else if (writing) {
          // the writer refuses a target that is missing or a directory on the disk
          writer!.link(rel, tRel, h.name, h.linkname ?? '');
        }
        result.hardlinks++;
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await drain();
        if (!wanted) return;
        result.skipped++;
        warn(`${type} ${h.name} skipped: device nodes and fifos are not restored`);
        break;
      }
      default: {
        await drain();
        if (!wanted) return;
        result.skipped++;
        warn(`${h.name} skipped: unsupported entry type ${String(type)}`);
      }
    }
  }

  async function finish(): Promise<void> {
    for (const [rel, { linkname, meta }] of pendingSymlinks) {
      const p = abs(rel);
      try {
        await symlink(linkname, p);
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw e;
        await unlink(p);
        await symlink(linkname, p);
      }
      if (owners) await lchown(p, meta.uid, meta.gid);
      await lutimes(p, meta.atime, meta.mtime);
    }
    for (const { rel, target: t } of pendingHardlinks) await linkReplacing(abs(t), abs(rel));
    await mergeInto(staging, target!);
    await rmdir(staging);
    staging = '';
    // directory metadata last, deepest first, on the final paths
    const dirs = [...ancestorMeta.entries(), ...dirMeta.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [rel, m] of dirs) {
      const p = join(target!, rel);
      const st = await lstat(p).catch(() => null);
      if (!st?.isDirectory()) continue;
      if (owners) await chown(p, m.uid, m.gid);
      await chmod(p, owners ? m.mode : m.mode & 0o1777);
      await utimes(p, m.atime, m.mtime);
    }
  }

  try {
    opts.signal?.throwIfAborted();
    if (writing) writer = new RestoreWriter(staging, owners, { created, permitted }, writeError);
    const decoded = input instanceof ArchiveFile ? await input.decode(opts.keys ?? {}) : await decodeArchive(input, opts.keys ?? {});
    result.encryption = decoded.encryption;
    result.compression = decoded.compression;

    let lastEnd = 0;
    // loaded on first use: a process that never restores or verifies does not load tar-stream
    const { TarReader, feedReader } = await import('./untar.ts');
    reader = new TarReader();
    const src = decoded.tar;
    if (opts.signal) addAbortSignal(opts.signal, src);
    const feed = feedReader(src, reader);
    more = () => {
      writer?.flush(); // the writer works while the next piece is decoded
      return feed.more();
    };
    let lastProgress = 0;
    try {
      for (;;) {
        const h = reader.next();
        if (h === null) {
          if (await more()) continue;
          if (!reader.complete) throw truncated();
          break;
        }
        lastEnd = h.byteOffset + Math.ceil(reader.left / 512) * 512;
        await handle(h);
        if (reader.left > 0) await drain();
        if (writer) {
          if (writer.failure) throw writer.failure;
          const room = writer.room();
          if (room) await room;
        }
        if (opts.onProgress) {
          const now = Date.now();
          if (now - lastProgress >= 200) {
            lastProgress = now;
            opts.onProgress({ ...result });
          }
        }
        opts.signal?.throwIfAborted();
      }
    } catch (e) {
      src.destroy();
      throw tarError(e);
    }
    if (feed.total() < lastEnd + 1024) {
      throw new UserError('the archive is truncated: its tar data ends without the end-of-archive marker', DAMAGED_HINT);
    }
    const unmatched = includes.unmatched();
    if (unmatched.length) {
      throw new UserError(
        `--include ${unmatched.map(show).join(', ')} matched nothing in the archive`,
        'give a path as `offsite ls NAME` lists it (e.g. backup/app/config), or a glob such as backup/app/**/*.conf',
      );
    }
    if (!writing && MAX_PATH - rules.longestPath - STAGING_NAME_BYTES - 2 < 512) {
      warn(
        `the longest path in the archive is ${rules.longestPath} bytes: restore it into a directory whose path is at most ${Math.max(0, MAX_PATH - rules.longestPath - STAGING_NAME_BYTES - 2)} bytes long (the file system allows ${MAX_PATH} bytes per path)`,
      );
    }
    if (writer) {
      await writer.settle();
      await writer.end();
    }
    await opts.beforeCommit?.(result);
    if (writing) await finish();
    opts.onProgress?.({ ...result });
    return result;
  } catch (e) {
    let err = e;
    if (writer) {
      // the writer's failure belongs to an earlier entry than what failed here (unless this is an abort)
      if (!opts.signal?.aborted && (e as NodeJS.ErrnoException)?.code !== 'ABORT_ERR') await writer.settle().catch(() => {});
      err = writer.failure ?? e;
      await writer.end(true);
    }
    await undoTarget();
    throw tarError(err);
  }
}

/** Decode and check a whole archive without writing anything (verify). */
export function verifyArchiveStream(input: Readable | ArchiveFile, opts: Omit<ExtractOptions, 'target' | 'force' | 'owners'> = {}): Promise<ExtractResult> {
  return extractArchive(input, { ...opts, target: undefined });
}
