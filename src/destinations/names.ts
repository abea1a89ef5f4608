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
 * Normalise a configured remote path (AWS_S3_PATH, AZURE_STORAGE_PATH, ...) into a key
 * prefix: no leading slash, exactly one trailing slash, or '' for the root.
 */
export function keyPrefix(path: string | undefined | null): string {
  const parts = (path ?? '').split('/').filter((p) => p !== '' && p !== '.');
  return parts.length === 0 ? '' : `${parts.join('/')}/`;
}
