import type { DestinationKind } from '../destinations/types.ts';
import type { ArchiveCounts } from '../archive/index.ts';
import { redact } from '../redact.ts';
import { hintsFor } from './hints.ts';

/** Outcome of one run, best to worst. */
export type RunStatus = 'success' | 'degraded' | 'partial' | 'failure';

/** Where a failure happened. */
export type RunPhase = 'config' | 'lock' | 'pre' | 'archive' | 'upload' | 'prune' | 'post' | 'notify';

/** The archive a run produced: its counts (see ArchiveCounts) plus name, size, hash and methods. */
export interface ArchiveStats extends Omit<ArchiveCounts, 'warnings'> {
  /** Final file name, e.g. backup-2026-01-01T00-00-00.tar.gz */
  name: string;
  /** Bytes of the finished archive (after compression and encryption). */
  size: number;
  /** Hex SHA-256 of the finished archive bytes. */
  sha256: string;
  compression: 'gz' | 'zst' | 'none';
  encryption: 'none' | 'gpg' | 'age' | 'aes';
}

export interface DestinationResult {
  destination: DestinationKind;
  /** Human description without secrets. */
  location: string;
  ok: boolean;
  bytes: number;
  durationMs: number;
  attempts: number;
  error?: string;
  /** Backups removed by retention on this destination (0 when pruning did not run); sidecars are not counted. */
  pruned: number;
  /** Backups (with the pruning prefix) left on this destination after pruning; absent when pruning did not run. */
  kept?: number;
  /** Why pruning was skipped or failed on this destination, if it was. */
  pruneNote?: string;
}

export interface RunStats {
  job: string;
  status: RunStatus;
  start: Date;
  end: Date;
  durationMs: number;
  lockWaitMs: number;
  archive: ArchiveStats | null;
  destinations: DestinationResult[];
  /** Containers stopped for the archive phase (issue: containers). */
  containersStopped: number;
  containersRestarted: number;
  warnings: string[];
  /**
   * Why a stored backup needs attention (the run is then `degraded`, exit code 4,
   * and notified at level error): unreadable files, pruning that failed, a manifest
   * sidecar that could not be stored. Each line also appears in `warnings`.
   */
  degradedBy: string[];
  error: { phase: RunPhase; message: string; destination?: DestinationKind } | null;
  /** What to check, naming the variables (src/run/hints.ts); printed once with the failure. */
  hints?: string[];
  /** One result per notification URL, once the report phase ran. */
  notifications?: Array<{ url: string; service: string; ok: boolean; attempts: number; durationMs: number; error?: string }>;
}

/** Process exit codes; documented in the README. */
export const EXIT = {
  success: 0,
  failure: 1,
  config: 2,
  partial: 3,
  degraded: 4,
  usage: 5,
} as const;

export function exitCodeFor(status: RunStatus): number {
  switch (status) {
    case 'success':
      return EXIT.success;
    case 'degraded':
      return EXIT.degraded;
    case 'partial':
      return EXIT.partial;
    case 'failure':
      return EXIT.failure;
  }
}

/** Worst of several statuses (failure > partial > degraded > success). */
export function worstStatus(statuses: RunStatus[]): RunStatus {
  const order: RunStatus[] = ['success', 'degraded', 'partial', 'failure'];
  let worst = 0;
  for (const s of statuses) worst = Math.max(worst, order.indexOf(s));
  return order[worst]!;
}

/** Mark the run degraded for these reasons (also kept as warnings). */
export function degrade(stats: RunStats, reasons: string[]): void {
  stats.degradedBy.push(...reasons);
  stats.warnings.push(...reasons);
}

/** failure: an error (or no destination succeeded); partial: some destinations failed; degraded: see RunStats.degradedBy. */
export function statusOf(stats: RunStats): RunStatus {
  if (stats.error) return 'failure';
  if (stats.destinations.length > 0 && stats.destinations.every((d) => !d.ok)) return 'failure';
  if (stats.destinations.some((d) => !d.ok)) return 'partial';
  if (stats.degradedBy.length > 0 || (stats.archive?.unreadable ?? 0) > 0) return 'degraded';
  return 'success';
}

/** Failed uploads: the run's error when every destination failed, else a warning each. */
export function recordUploadFailures(stats: RunStats): void {
  const failed = stats.destinations.filter((r) => !r.ok);
  if (failed.length === stats.destinations.length && failed.length > 0) {
    const f = failed[0]!;
    stats.error = { phase: 'upload', destination: f.destination, message: failed.map((r) => `${r.destination}: ${r.error}`).join('; ') };
  } else if (failed.length > 0) {
    stats.warnings.push(...failed.map((r) => `upload to ${r.destination} failed: ${r.error}`));
  }
}

/** The run's end: its duration and status, warnings redacted, the hints of its failed destinations added. */
export function finishStats(stats: RunStats, end: Date): void {
  stats.end = end;
  stats.durationMs = stats.end.getTime() - stats.start.getTime();
  stats.status = statusOf(stats);
  stats.warnings = stats.warnings.map(redact);
  stats.degradedBy = stats.degradedBy.map(redact);
  const hints = [...(stats.hints ?? []), ...hintsFor(stats.destinations.filter((d) => !d.ok))];
  if (hints.length) stats.hints = hints;
}
