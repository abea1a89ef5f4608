/**
 * Variables offen still reads but deprecates, which offsite reads too, each with a warning.
 * (BACKUP_STOP_CONTAINER_LABEL is read with the container settings, EMAIL_* with the notifications.)
 */
import type { ConfigIssue } from '../errors.ts';
import { validateSection, boolean, type Env } from '../config/validate.ts';

export const DEPRECATED_SPEC = {
  BACKUP_FROM_SNAPSHOT: boolean({ default: false, desc: 'deprecated (offen): copy the sources before archiving' }),
};

/** Warnings for the deprecated settings of one job; null when one is invalid (issues say why). */
export function parseDeprecated(env: Env, issues: ConfigIssue[]): string[] | null {
  const before = issues.length;
  const v = validateSection(env, DEPRECATED_SPEC, issues);
  if (issues.length > before) return null;
  const warnings: string[] = [];
  if (v.BACKUP_FROM_SNAPSHOT) {
    warnings.push(
      'BACKUP_FROM_SNAPSHOT is deprecated (in offen too): each run first copies the sources into BACKUP_TMP_DIR (room for all of them) ' +
        'and archives the copy. To keep the sources still during the backup instead, stop the containers that write them ' +
        '(docker-volume-backup.stop-during-backup) or prepare them with docker-volume-backup.archive-pre/archive-post commands.',
    );
  }
  return warnings;
}
