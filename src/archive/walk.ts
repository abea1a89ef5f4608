/**
 * Synchronous, depth-first walk of one backup source (run on the archive
 * worker thread, never on the main event loop). Directory entries are sorted,
 * so archives of the same tree list the same order. Symlinks are never
 * followed, except that a source path itself may be a symlink to a directory.
 */
import * as fs from 'node:fs';

/** BACKUP_EXCLUDE_REGEXP, compiled (see exclude.ts). */
export interface PathPattern {
  test(path: string): boolean;
}

export interface SourceRoot {
  /** Absolute source path. */
  path: string;
  /** Its name inside the archive (the path without its leading slash). */
  name: string;
}

export interface WalkVisitor {
  directory(abs: string, rel: string, st: fs.Stats): void;
  /**
   * A regular file, as the directory listing (or the source's stat) says: the visitor opens
   * it and takes its size and metadata from the open descriptor (`fs.fstatSync`), so they are
   * the file's at the moment it is archived. Not stat'ed here: one system call less per file.
   */
  file(abs: string, rel: string): void;
  symlink(abs: string, rel: string, st: fs.Stats): void;
  /** Socket, fifo or device: not archived. */
  special(abs: string, kind: string): void;
  /** Matched the exclude pattern (directories are skipped whole). */
  excluded(abs: string, isDirectory: boolean): void;
  /** Vanished, or could not be listed / stat'ed. */
  unreadable(abs: string, reason: string): void;
}

/** What the lstat-only pre-scan counts (the manifest's counts; index.ts's ArchiveScan). */
export interface ScanCounts {
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}

/** Errors that mean "this entry vanished or may not be read": logged, counted, the archive goes on. */
const SOFT = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP', 'ENXIO', 'EAGAIN', 'EWOULDBLOCK', 'EISDIR', 'ESTALE']);

export function isSoftError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && SOFT.has(code);
}

export function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR') return 'vanished during backup';
  return e?.code ? `${e.code}: ${describe(e.code)}` : String(err);
}

function describe(code: string): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'replaced by a symlink';
    case 'ENXIO':
    case 'EAGAIN':
    case 'EWOULDBLOCK':
      return 'replaced by a special file';
    case 'EISDIR':
      return 'replaced by a directory';
    case 'ESTALE':
      return 'stale file handle';
    default:
      return 'cannot read';
  }
}

/** Thrown for a source path that does not exist. */
export class SourceMissingError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`backup source ${path} does not exist`);
    this.name = 'SourceMissingError';
    this.path = path;
  }
}

/** An fs error annotated with the path it concerns. */
export function withPath(err: unknown, path: string): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  (e as Error & { path?: string }).path ??= path;
  return e;
}

function specialKind(st: fs.Stats): string {
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'unknown file type';
}

const NO_THROW = { throwIfNoEntry: false } as const;

function statRoot(root: SourceRoot): fs.Stats {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(root.path, NO_THROW);
  } catch (err) {
    throw withPath(err, root.path);
  }
  if (!st) throw new SourceMissingError(root.path);
  return st;
}

export function walkSource(root: SourceRoot, exclude: PathPattern | null, v: WalkVisitor): void {
  const st = statRoot(root);
  if (exclude && exclude.test(root.path)) {
    v.excluded(root.path, st.isDirectory());
    return;
  }
  visitStats(root.path, root.name, st, exclude, v);
}

/** Visits an entry whose type is known from a stat (the source itself, a directory listing without types, or a file that turned out to be something else when opened). */
export function visitStats(abs: string, rel: string, st: fs.Stats, exclude: PathPattern | null, v: WalkVisitor): void {
  if (st.isFile()) v.file(abs, rel);
  else if (st.isDirectory()) {
    v.directory(abs, rel, st);
    walkDir(abs, rel, exclude, v);
  } else if (st.isSymbolicLink()) v.symlink(abs, rel, st);
  else v.special(abs, specialKind(st));
}

/** A listed name, with its type when the file system reports it (d_type). */
type Listed = fs.Dirent | string;

const byName = (a: fs.Dirent, b: fs.Dirent): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * A directory's entries, sorted by name unless `sorted` is false (UTF-16 code units, as `Array#sort` sorts the
 * names), typed where the file system says (no stat needed to tell a file from a
 * directory). Null (reported as unreadable) when it cannot be listed. When a typed listing
 * fails softly (Node lstat's entries of unknown type itself, and one that vanished fails the
 * whole listing), the plain listing is used and every entry is lstat'ed by the caller.
 */
function list(dir: string, v: Pick<WalkVisitor, 'unreadable'> | null, sorted = true): Listed[] | null {
  try {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    return sorted ? entries.sort(byName) : entries;
  } catch (err) {
    if (!isSoftError(err)) throw withPath(err, dir);
  }
  try {
    const names = fs.readdirSync(dir);
    return sorted ? names.sort() : names;
  } catch (err) {
    if (isSoftError(err)) {
      v?.unreadable(dir, `cannot list directory: ${reasonOf(err)}`);
      return null;
    }
    throw withPath(err, dir);
  }
}

/** Why an entry that was listed cannot be found: vanished, or a name that is not valid UTF-8. */
export function missingReason(name: string): string {
  // readdir decodes names as UTF-8; a name that is not valid UTF-8 comes
  // back with U+FFFD and cannot be opened under that name
  return name.includes('\uFFFD') ? 'file name is not valid UTF-8; not archived' : 'vanished during backup';
}

/** lstat of a listed entry; undefined (reported as unreadable) when it vanished or may not be stat'ed. */
function lstatEntry(abs: string, name: string, v: Pick<WalkVisitor, 'unreadable'> | null): fs.Stats | undefined {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(abs, NO_THROW);
  } catch (err) {
    if (isSoftError(err)) {
      v?.unreadable(abs, reasonOf(err));
      return undefined;
    }
    throw withPath(err, abs);
  }
  if (!st) v?.unreadable(abs, missingReason(name));
  return st;
}

function walkDir(dir: string, relDir: string, exclude: PathPattern | null, v: WalkVisitor): void {
  const entries = list(dir, v);
  if (!entries) return;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const name = typeof entry === 'string' ? entry : entry.name;
    const abs = dir + '/' + name;
    const rel = relDir + '/' + name;
    if (typeof entry !== 'string' && entry.isFile()) {
      if (exclude !== null && exclude.test(abs)) v.excluded(abs, false);
      else v.file(abs, rel);
      continue;
    }
    const st = lstatEntry(abs, name, v);
    if (!st) continue;
    if (exclude !== null && exclude.test(abs)) {
      v.excluded(abs, st.isDirectory());
      continue;
    }
    visitStats(abs, rel, st, exclude, v);
  }
}

/**
 * The pre-scan (its counts go into the manifest, the archive's first entry): the same
 * entries the archive walk visits, with an lstat only for regular files (their sizes);
 * directories and symlinks are counted from the listing's types.
 */
export function scanSource(root: SourceRoot, exclude: PathPattern | null, counts: ScanCounts): void {
  const st = statRoot(root);
  if (exclude && exclude.test(root.path)) return;
  scanStats(root.path, st, exclude, counts);
}

function scanStats(abs: string, st: fs.Stats, exclude: PathPattern | null, c: ScanCounts): void {
  if (st.isFile()) {
    c.files++;
    c.bytes += st.size;
  } else if (st.isDirectory()) {
    c.directories++;
    scanDir(abs, exclude, c);
  } else if (st.isSymbolicLink()) c.symlinks++;
}

function scanDir(dir: string, exclude: PathPattern | null, c: ScanCounts): void {
  const entries = list(dir, null, false);
  if (!entries) return;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const name = typeof entry === 'string' ? entry : entry.name;
    const abs = dir + '/' + name;
    if (exclude !== null && exclude.test(abs)) continue;
    if (typeof entry !== 'string') {
      if (entry.isDirectory()) {
        c.directories++;
        scanDir(abs, exclude, c);
        continue;
      }
      if (entry.isSymbolicLink()) {
        c.symlinks++;
        continue;
      }
      if (!entry.isFile()) continue;
    }
    const st = lstatEntry(abs, name, null);
    if (st) scanStats(abs, st, exclude, c);
  }
}
