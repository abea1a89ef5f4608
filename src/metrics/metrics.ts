/**
 * Prometheus metrics (prom-client), fed from run results, the destination listings and the
 * verification history. Loaded only when something serves or pushes them (OFFSITE_HTTP_ADDR).
 * Labels are job, destination and result: never a backup's name (unbounded cardinality).
 */
import { Registry, Gauge, Counter, Histogram, collectDefaultMetrics } from 'prom-client';
import type { RunStats } from '../run/stats.ts';

export const DURATION_BUCKETS = [60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400];
export const RESULTS = ['success', 'partial', 'degraded', 'failure'] as const;

export class Metrics {
  readonly registry = new Registry();
  readonly lastSuccess = new Gauge({
    name: 'offsite_backup_last_success_timestamp_seconds',
    help: 'End of the last run that stored the backup on this destination (set only on success)',
    labelNames: ['job', 'destination'],
    registers: [this.registry],
  });
  readonly lastAttempt = new Gauge({
    name: 'offsite_backup_last_attempt_timestamp_seconds',
    help: 'End of the last run of the job, whatever its result',
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly lastStatus = new Gauge({
    name: 'offsite_backup_last_status',
    help: '1 when the last run of the job succeeded, 0 otherwise',
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly interval = new Gauge({
    name: 'offsite_schedule_expected_interval_seconds',
    help: "Largest gap among the next 8 firings of the job's schedule",
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly runs = new Counter({
    name: 'offsite_backup_runs_total',
    help: 'Runs by result (success, partial, degraded, failure)',
    labelNames: ['job', 'result'],
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'offsite_backup_duration_seconds',
    help: 'Duration of runs',
    labelNames: ['job'],
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly size = new Gauge({
    name: 'offsite_backup_archive_size_bytes',
    help: 'Size of the last archive (compressed, encrypted)',
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly files = new Gauge({ name: 'offsite_backup_files', help: 'Files in the last archive', labelNames: ['job'], registers: [this.registry] });
  readonly backups = new Gauge({
    name: 'offsite_destination_backups',
    help: 'Backups of the job stored on the destination',
    labelNames: ['job', 'destination'],
    registers: [this.registry],
  });
  readonly oldest = new Gauge({
    name: 'offsite_destination_oldest_backup_timestamp_seconds',
    help: 'Time of the oldest backup of the job on the destination',
    labelNames: ['job', 'destination'],
    registers: [this.registry],
  });
  readonly up = new Gauge({
    name: 'offsite_destination_up',
    help: '1 when the last upload, listing or check of the destination worked, 0 otherwise',
    labelNames: ['job', 'destination'],
    registers: [this.registry],
  });
  readonly pruned = new Counter({
    name: 'offsite_prune_deleted_total',
    help: 'Backups removed by retention',
    labelNames: ['job', 'destination'],
    registers: [this.registry],
  });
  readonly pruneErrors = new Counter({
    name: 'offsite_prune_errors_total',
    help: 'Prunes that failed',
    labelNames: ['job', 'destination'],
    registers: [this.registry],
  });
  readonly verified = new Gauge({
    name: 'offsite_verify_last_success_timestamp_seconds',
    help: 'Last successful verification of a backup of the job on the destination',
    labelNames: ['job', 'destination'],
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({ name: 'offsite_build_info', help: "offsite's version (always 1)", labelNames: ['version'], registers: [this.registry] });

  constructor(version: string, opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version }, 1);
  }

  /** A job exists: its series start at 0 so alerts see them before the first run. */
  addJob(job: string, intervalMs: number | null): void {
    if (intervalMs !== null) this.interval.set({ job }, intervalMs / 1000);
    for (const result of RESULTS) this.runs.inc({ job, result }, 0);
  }

  /** What the state directory remembers of the last run (after a restart). */
  restore(job: string, last: { at: Date; status: string } | null): void {
    if (!last || Number.isNaN(last.at.getTime())) return;
    this.lastAttempt.set({ job }, last.at.getTime() / 1000);
    this.lastStatus.set({ job }, last.status === 'success' ? 1 : 0);
  }

  /** job + destination pairs whose last success this process has seen (a restored value never overrides one). */
  private readonly succeeded = new Set<string>();

  /** The job's last success remembered in OFFSITE_STATE_DIR, for each of its destinations without a newer one. */
  restoreSuccess(job: string, destinations: readonly string[], lastSuccess: string | undefined): void {
    const at = lastSuccess ? Date.parse(lastSuccess) : Number.NaN;
    if (Number.isNaN(at)) return;
    for (const destination of destinations) {
      if (!this.succeeded.has(`${job}\u0000${destination}`)) this.lastSuccess.set({ job, destination }, at / 1000);
    }
  }

  observeRun(stats: RunStats): void {
    const job = stats.job;
    const end = stats.end.getTime() / 1000;
    this.lastAttempt.set({ job }, end);
    this.lastStatus.set({ job }, stats.status === 'success' ? 1 : 0);
    this.runs.inc({ job, result: stats.status });
    this.duration.observe({ job }, stats.durationMs / 1000);
    if (stats.archive) {
      this.size.set({ job }, stats.archive.size);
      this.files.set({ job }, stats.archive.files);
    }
    for (const d of stats.destinations) {
      const labels = { job, destination: d.destination };
      this.up.set(labels, d.ok ? 1 : 0);
      if (d.ok && stats.status !== 'failure') {
        this.lastSuccess.set(labels, end);
        this.succeeded.add(`${job}\u0000${d.destination}`);
      }
      this.pruned.inc(labels, Math.max(0, d.pruned));
      if (d.pruneNote?.startsWith('prune failed')) this.pruneErrors.inc(labels);
      else this.pruneErrors.inc(labels, 0);
    }
  }

  /** A listing of the destination: how many backups, the oldest; null when it could not be listed. */
  observeListing(job: string, destination: string, backups: ReadonlyArray<{ time: number }> | null): void {
    const labels = { job, destination };
    if (backups === null) {
      this.up.set(labels, 0);
      return;
    }
    this.up.set(labels, 1);
    this.backups.set(labels, backups.length);
    if (backups.length) this.oldest.set(labels, Math.min(...backups.map((b) => b.time)) / 1000);
    else this.oldest.remove(labels);
  }

  observeVerification(job: string, destination: string, at: Date): void {
    this.verified.set({ job, destination }, at.getTime() / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
