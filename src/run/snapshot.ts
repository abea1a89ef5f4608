/**
 * BACKUP_FROM_SNAPSHOT (deprecated in offen, read as offen reads it): the sources are first
 * copied to a snapshot in BACKUP_TMP_DIR (contents, modes, times, symbolic links as links,
 * owners when running as root), the archive is made from the copy, and the copy is removed
 * when the archive is written. As in offen, the archive keeps the sources' own paths
 * (`/backup/app/x` -> `backup/app/x`) and BACKUP_EXCLUDE_REGEXP sees the snapshot's paths.
 * Sockets, FIFOs and devices are not copied (they are never archived either).
 */
import { cp, lstat, lchown, lutimes, mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { validateSection, type Env } from '../config/validate.ts';
import { DEPRECATED_SPEC } from '../compat/deprecated.ts';

/** Is BACKUP_FROM_SNAPSHOT on in this job's environment? */
export function fromSnapshot(env: Env): boolean {
  return validateSection(env, DEPRECATED_SPEC, []).BACKUP_FROM_SNAPSHOT === true;
}

export interface Snapshot {
  /** Where each source was copied, in the order of the sources. */
  paths: string[];
  remove(): Promise<void>;
}

export async function takeSnapshot(sources: readonly string[], tmpDir: string, log: Logger, signal?: AbortSignal): Promise<Snapshot> {
  const dir = await mkdtemp(join(tmpDir, 'offsite-snapshot-'));
  const remove = async () => {
    await rm(dir, { recursive: true, force: true });
    log.info({ snapshot: dir }, `removed snapshot ${dir}`);
  };
  try {
    const paths: string[] = [];
    const asRoot = process.getuid?.() === 0;
    for (const src of sources) {
      signal?.throwIfAborted();
      const to = join(dir, src);
      await cp(src, to, {
        recursive: true,
        preserveTimestamps: true,
        verbatimSymlinks: true,
        errorOnExist: true,
        force: false,
        filter: (from) => {
          const st = lstatSync(from, { throwIfNoEntry: false });
          return st !== undefined && (st.isFile() || st.isDirectory() || st.isSymbolicLink());
        },
      });
      await copyMeta(src, to, asRoot);
      paths.push(to);
      log.info({ source: src, snapshot: to }, `created snapshot of ${src} at ${to}`);
    }
    return { paths, remove };
  } catch (e) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
}

/**
 * What fs.cp leaves out: the owners of the originals (as root) and the times of symbolic
 * links. A directory's times are set again after its entries (changing an owner or a link
 * below it does not touch them, but the order keeps them right in any case).
 */
async function copyMeta(from: string, to: string, owners: boolean): Promise<void> {
  const st = await lstat(from).catch(() => null);
  const copied = await lstat(to).catch(() => null);
  if (!st || !copied) return;
  if (owners) await lchown(to, st.uid, st.gid);
  if (copied.isSymbolicLink()) await lutimes(to, st.atime, st.mtime);
  if (!copied.isDirectory()) return;
  for (const name of await readdir(to)) await copyMeta(join(from, name), join(to, name), owners);
  await utimes(to, st.atime, st.mtime);
}
