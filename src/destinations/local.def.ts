/** The local destination's definition (implementation: local.ts): a mounted directory, BACKUP_ARCHIVE. */
import { join } from 'node:path';
import { str } from 'envalid';
import { quote } from '../errors.ts';
import { validateSection } from '../config/validate.ts';
import { defineDestination, type ConfiguredDestination } from './definition.ts';
import { fileNameProblem } from './names.ts';

export interface LocalConfig {
  dir: string;
  /** Name of the symlink to the newest archive, or null. */
  latestSymlink: string | null;
}

export const LOCAL_KIND = 'Local';

export const LOCAL_SPEC = {
  BACKUP_ARCHIVE: str({ default: '/archive', desc: 'local backup directory (a mounted volume); no local copy when the default is absent' }),
  BACKUP_LATEST_SYMLINK: str({ default: '', desc: 'name of a symlink in BACKUP_ARCHIVE to the newest backup' }),
};

export const local = defineDestination<LocalConfig>({
  kind: LOCAL_KIND,
  title: 'a local directory',
  variables: LOCAL_SPEC,
  secrets: [],
  trigger: 'BACKUP_ARCHIVE',
  parse(env, issues, ctx) {
    const before = issues.length;
    const v = validateSection(env, LOCAL_SPEC, issues);
    const link = v.BACKUP_LATEST_SYMLINK;
    const linkProblem = link ? fileNameProblem(link) : null;
    if (linkProblem)
      issues.push({
        variable: 'BACKUP_LATEST_SYMLINK',
        message: `${quote(link)} ${linkProblem}; expected a file name only (the link is made in BACKUP_ARCHIVE)`,
      });
    // BACKUP_ARCHIVE: only the default /archive may be absent (= no local destination); a path set on purpose must be a directory
    const archiveSet = env.BACKUP_ARCHIVE !== undefined && env.BACKUP_ARCHIVE !== '';
    if (archiveSet && v.BACKUP_ARCHIVE !== undefined && !ctx.dirExists(v.BACKUP_ARCHIVE)) {
      issues.push({
        variable: 'BACKUP_ARCHIVE',
        message: `${quote(v.BACKUP_ARCHIVE)} does not exist or is not a directory; mount the local backup directory there, or unset BACKUP_ARCHIVE for no local copy`,
      });
    }
    if (issues.length > before) return null;
    const latest = link ? ctx.expand(link) : '';
    // the name after $VAR expansion must still be a plain file name: checked now, not after the archive was built
    if (latest !== link) {
      const problem = fileNameProblem(latest);
      if (problem) {
        issues.push({
          variable: 'BACKUP_LATEST_SYMLINK',
          message: `is ${quote(latest)} after $VAR expansion, which ${problem}; expected a file name only (the link is made in BACKUP_ARCHIVE)`,
        });
        return null;
      }
    }
    if (!v.BACKUP_ARCHIVE || !ctx.dirExists(v.BACKUP_ARCHIVE)) return null;
    return { dir: v.BACKUP_ARCHIVE, latestSymlink: latest || null };
  },
  localPath: (config, name) => join(config.dir, name),
  async create(config, ctx) {
    const { createLocalDestination } = await import('./local.ts');
    return createLocalDestination(config, ctx.log, { timeoutMs: ctx.retry.timeoutMs });
  },
  hints: [
    { test: /ENOSPC|no space/i, hint: 'the disk of BACKUP_ARCHIVE is full: free some space or lower BACKUP_RETENTION_DAYS' },
    { test: /EACCES|EPERM|permission/i, hint: 'check that offsite may write to BACKUP_ARCHIVE (owner and mode of the mounted directory)' },
    { test: /EROFS|read-only/i, hint: 'BACKUP_ARCHIVE is mounted read-only' },
  ],
});

/** The job's local directory settings, or null when it has no local destination. */
export function localConfigOf(job: { destinations: readonly ConfiguredDestination[] }): LocalConfig | null {
  const d = job.destinations.find((x) => x.kind === LOCAL_KIND);
  return d ? (d.config as LocalConfig) : null;
}
