import type { BackupObject } from '../destinations/types.ts';
import type { RetentionPolicy, PruneDecision } from './index.ts';

export function planPrune(_listing: BackupObject[], _policy: RetentionPolicy, _now: Date, _justWritten: string | null): PruneDecision {
  throw new Error('planPrune: not implemented yet');
}
