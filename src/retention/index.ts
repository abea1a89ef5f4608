import type { BackupObject } from "../destinations/types.ts";
export type { BackupObject };

export interface RetentionPolicy {
  /** Negative disables pruning. */
  days: number;
  leewayMs: number;
  /** Only names starting with this are candidates. */
  prefix: string;
}

export interface PruneDecision {
  /** Names to delete. */
  remove: string[];
  /** Why something that matched was kept (e.g. refusing to delete every backup). */
  warnings: string[];
}

/**
 * Pure retention: which backups to delete. Never deletes `justWritten`,
 * never the newest candidate, refuses to delete every candidate (with a warning),
 * never touches a name outside the prefix.
 */
export { planPrune, pruneDeadline, isTemporaryName, SIDECAR_SUFFIX } from './plan.ts';
