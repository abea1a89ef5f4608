import type { BackupObject } from '../destinations/types.ts';
import type { KeepPolicy } from './policy.ts';
export type { BackupObject, KeepPolicy };

export interface RetentionPolicy {
  /** Negative disables age-based pruning (BACKUP_RETENTION_DAYS). Ignored when `keep` is set. */
  days: number;
  leewayMs: number;
  /** Only names starting with this are candidates. */
  prefix: string;
  /** Count and calendar rules (BACKUP_RETENTION_KEEP_*): when set, they replace `days`. */
  keep?: KeepPolicy | null;
  /**
   * How a backup's time is read for `keep`: from its name through this template (BACKUP_FILENAME)
   * in this zone (TZ); the modification time only when the name does not parse.
   */
  names?: { template: string; timeZone: string } | null;
}

/** One backup of the series and what the policy does with it. */
export interface PlannedBackup {
  name: string;
  /** The time the policy used, or null when unknown. */
  time: Date | null;
  /** Where `time` came from. */
  timeFrom: 'name' | 'modified' | 'unknown';
  keep: boolean;
  /** Why: `daily 3/7`, `monthly 1/3`, `within 30d`, `newer than 7 days`, `older than 7 days`, `newest backup`, ... */
  reasons: string[];
  /** The sidecar (`<name>.manifest.json`) that follows this backup's fate, when listed. */
  sidecar?: string;
}

export interface PruneDecision {
  /** Names to delete. */
  remove: string[];
  /** Why something that matched was kept (e.g. refusing to delete every backup). */
  warnings: string[];
  /** Every backup (not sidecars or temporary names) with the prefix, newest first, with its fate. Empty when retention is off. */
  backups: PlannedBackup[];
  /** How many of `backups` stay. */
  kept: number;
}

/** True when a policy prunes anything at all (BACKUP_RETENTION_DAYS >= 0 or any KEEP_* rule). */
export function retentionEnabled(p: Pick<RetentionPolicy, 'days' | 'keep'>): boolean {
  return Boolean(p.keep) || (Number.isFinite(p.days) && p.days >= 0);
}

/**
 * Pure retention: which backups to delete. Never deletes `justWritten`,
 * never the newest candidate, refuses to delete every candidate (with a warning),
 * never touches a name outside the prefix.
 */
export { planPrune, pruneDeadline, isTemporaryName, SIDECAR_SUFFIX, backupTime } from './plan.ts';
export {
  applyKeepPolicy,
  parseCalendarDuration,
  formatCalendarDuration,
  formatReason,
  describePolicy,
  isEmptyPolicy,
  EMPTY_KEEP_POLICY,
  COUNT_RULES,
} from './policy.ts';
