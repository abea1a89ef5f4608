/**
 * Checks of the backup sources before a run. A missing source fails the run (and is a
 * configuration error when the daemon starts); an empty source, or the default /backup
 * when nothing is mounted there, makes the run degraded: a forgotten volume mount must
 * not produce a "successful" backup of an empty directory.
 */
import { readFileSync, statSync } from 'node:fs';
import { readdir, stat, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UserError, type ConfigIssue } from '../errors.ts';

/** The image's default source (BACKUP_SOURCES unset). */
export const DEFAULT_SOURCE = '/backup';

/** Reasons to mark the run degraded; throws a UserError for a source that is missing or unreadable. */
export async function checkSources(sources: readonly string[]): Promise<string[]> {
  const reasons: string[] = [];
  for (const src of sources) {
    let st;
    try {
      st = await stat(src);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UserError(
        `backup source ${src} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`,
        'mount the volume there or fix BACKUP_SOURCES',
      );
    }
    if (!st.isDirectory()) continue;
    let empty = false;
    try {
      empty = (await readdir(src)).length === 0;
    } catch {
      /* unreadable: the archive reports it */
    }
    if (empty) reasons.push(`source ${src} is empty: is the volume mounted?`);
    else if (src === DEFAULT_SOURCE && !(await isMountPoint(src))) reasons.push(`source ${src} is not a mount point: is the volume mounted?`);
  }
  return reasons;
}

/** BACKUP_SOURCES paths that do not exist, as configuration issues (the daemon refuses to start with them). */
export function missingSourceIssues(sources: readonly string[], where: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const src of sources) {
    try {
      statSync(src);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      issues.push({
        variable: 'BACKUP_SOURCES',
        message: `${src} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}; mount the volume there or fix BACKUP_SOURCES${where}`,
      });
    }
  }
  return issues;
}

/** Whether a directory is a mount point: listed in /proc/self/mountinfo, else on another device than its parent. */
export async function isMountPoint(path: string): Promise<boolean> {
  const real = await realpath(path);
  if (real === '/') return true;
  try {
    const info = readFileSync('/proc/self/mountinfo', 'utf8');
    for (const line of info.split('\n')) {
      const mountPoint = line.split(' ')[4];
      // spaces and other special characters are written as octal escapes (\040)
      if (mountPoint !== undefined && mountPoint.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))) === real) return true;
    }
    return false;
  } catch {
    const [a, b] = await Promise.all([stat(real), stat(dirname(real))]);
    return a.dev !== b.dev;
  }
}
