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
  file(abs: string, rel: string, st: fs.Stats): void;
  symlink(abs: string, rel: string, st: fs.Stats): void;
  /** Socket, fifo or device: not archived. */
  special(abs: string, kind: string): void;
  /** Matched the exclude pattern (directories are skipped whole). */
  excluded(abs: string, isDirectory: boolean): void;
  /** Vanished, or could not be listed / stat'ed. */
  unreadable(abs: string, reason: string): void;
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

export function walkSource(root: SourceRoot, exclude: PathPattern | null, v: WalkVisitor): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(root.path, { throwIfNoEntry: false });
  } catch (err) {
    throw withPath(err, root.path);
  }
  if (!st) throw new SourceMissingError(root.path);
  if (exclude && exclude.test(root.path)) {
    v.excluded(root.path, st.isDirectory());
    return;
  }
  visit(root.path, root.name, st, exclude, v);
}

function visit(abs: string, rel: string, st: fs.Stats, exclude: PathPattern | null, v: WalkVisitor): void {
  if (st.isFile()) v.file(abs, rel, st);
  else if (st.isDirectory()) {
    v.directory(abs, rel, st);
    walkDir(abs, rel, exclude, v);
  } else if (st.isSymbolicLink()) v.symlink(abs, rel, st);
  else v.special(abs, specialKind(st));
}

function walkDir(dir: string, relDir: string, exclude: PathPattern | null, v: WalkVisitor): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if (isSoftError(err)) {
      v.unreadable(dir, `cannot list directory: ${reasonOf(err)}`);
      return;
    }
    throw withPath(err, dir);
  }
  names.sort();
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const abs = dir + '/' + name;
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(abs, { throwIfNoEntry: false });
    } catch (err) {
      if (isSoftError(err)) {
        v.unreadable(abs, reasonOf(err));
        continue;
      }
      throw withPath(err, abs);
    }
    if (!st) {
      // readdir decodes names as UTF-8; a name that is not valid UTF-8 comes
      // back with U+FFFD and cannot be opened under that name
      v.unreadable(abs, name.includes('\uFFFD') ? 'file name is not valid UTF-8; not archived' : 'vanished during backup');
      continue;
    }
    if (exclude !== null && exclude.test(abs)) {
      v.excluded(abs, st.isDirectory());
      continue;
    }
    visit(abs, relDir + '/' + name, st, exclude, v);
  }
}
