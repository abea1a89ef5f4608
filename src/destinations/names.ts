/**
 * Helpers shared by destinations for object names and configured paths.
 */

/**
 * A backup name is a single file name: no path separators, not `.`/`..`, no NUL.
 * Destinations store it below their configured path.
 */
export function assertPlainName(name: string, destination: string): void {
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0')) {
    throw new Error(`${destination}: "${name}" is not a plain file name (no path separators allowed)`);
  }
}

/**
 * Normalise a configured remote path (a destination's path variable) into a key
 * prefix: no leading slash, exactly one trailing slash, or '' for the root.
 */
export function keyPrefix(path: string | undefined | null): string {
  const parts = (path ?? '').split('/').filter((p) => p !== '' && p !== '.');
  return parts.length === 0 ? '' : `${parts.join('/')}/`;
}

/** Why a configured name cannot be a plain file name in the destination directory (BACKUP_FILENAME, BACKUP_LATEST_SYMLINK), or null. */
export function fileNameProblem(name: string): string | null {
  if (name.trim() === '') return 'is empty';
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator';
  if (name === '.' || name === '..') return 'names a directory';
  if (name.includes('\0')) return 'contains a NUL character';
  return null;
}
