/**
 * Where backup sources go inside an archive. As in offen/docker-volume-backup,
 * each source is stored under its absolute path without the leading slash
 * (`/backup/app/x` -> `backup/app/x`), so `tar -x -C /` puts files back where
 * they came from and offen's restore how-to applies unchanged. Archives of
 * offsite before this layout stored each source under its base name
 * (`app/x`); their manifest has no `layout` field.
 */
import { resolve } from 'node:path';

/** Where a source's entries go in the archive: its absolute path without the leading slash. */
export function archiveNameOf(source: string): string {
  return resolve(source).replace(/^\/+/, '');
}

/** Why these sources cannot go into one archive (the root, the same path twice, one inside another), or null. */
export function sourceOverlap(sources: readonly string[]): string | null {
  const seen: string[] = [];
  for (const s of sources) {
    const path = resolve(s);
    if (path === '/') return `backup source ${s} is the root directory; back up the mounted volumes below it, e.g. /backup`;
    for (const other of seen) {
      if (other === path) return `backup source ${path} is given twice`;
      if (path.startsWith(`${other}/`) || other.startsWith(`${path}/`)) {
        const [outer, inner] = path.startsWith(`${other}/`) ? [other, path] : [path, other];
        return `backup source ${inner} is inside the source ${outer}; it would be archived twice`;
      }
    }
    seen.push(path);
  }
  return null;
}
