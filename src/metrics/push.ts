/**
 * OFFSITE_PUSHGATEWAY_URL: after every run (the daemon's and `offsite backup`'s, e.g. from
 * cron), the run's gauges are pushed to a Prometheus Pushgateway under the grouping key
 * job=<the offsite job>, instance=<OFFSITE_PUSHGATEWAY_INSTANCE or the host name> (POST: a failed
 * run leaves the last success time pushed before). The schedule's expected interval goes with
 * them, so the stale alert (deploy/prometheus) works for a CronJob too.
 * `offsite_backup_runs_total`, `offsite_prune_deleted_total` and `offsite_prune_errors_total` are
 * pushed with the counts of the run history (OFFSITE_STATE_DIR/run-history.json, kept across runs
 * and restarts: counters that restart only when that file is new); without them (no history)
 * they are not pushed. The duration histogram is not pushed (each push comes from a fresh registry, so they would
 * restart at every run); `offsite_backup_last_duration_seconds` replaces the histogram there. Bounded (PUSH_TIMEOUT_MS); a failed push is a warning, never a failed backup.
 */
import { Pushgateway, Gauge, Counter } from 'prom-client';
import type { Logger } from '../log.ts';
import type { RunStats, RunStatus } from '../run/stats.ts';
import type { PruneTotals } from '../run/history.ts';
import { Metrics } from './metrics.ts';
import { errorMessage } from '../errors.ts';
import { parseCron } from '../schedule/cron.ts';
import { scheduleIntervalMs } from '../health/rule.ts';
import type { JobConfig } from '../config/index.ts';
import { redact } from '../redact.ts';

export const PUSH_TIMEOUT_MS = 10_000;
const NOT_PUSHED = [
  'offsite_backup_duration_seconds',
  'offsite_destination_backups',
  'offsite_destination_oldest_backup_timestamp_seconds',
  'offsite_verify_last_success_timestamp_seconds',
];

export interface PushOptions {
  /** The job's expected interval (offsite_schedule_expected_interval_seconds); null: not pushed. */
  intervalMs?: number | null;
  /** The grouping key's instance; unset: job only. */
  instance?: string;
  /** The job's runs by result from the run history (offsite_backup_runs_total); unset: the counter is not pushed. */
  totals?: Partial<Record<RunStatus, number>>;
  /** The job's prunes per destination from the run history (offsite_prune_deleted_total, offsite_prune_errors_total); unset: not pushed. */
  prune?: Record<string, PruneTotals>;
}

/** A job's expected interval from its schedule (plus its jitter), as the daemon computes it; null when it never fires. */
export function jobIntervalMs(job: Pick<JobConfig, 'schedule'>): number | null {
  try {
    const interval = scheduleIntervalMs(parseCron(job.schedule.cron, job.schedule.timezone));
    return interval === null ? null : interval + job.schedule.jitterMs;
  } catch {
    return null;
  }
}

export async function pushRunMetrics(url: string, stats: RunStats, version: string, log: Logger, opts: PushOptions = {}): Promise<boolean> {
  const m = new Metrics(version, { processMetrics: false });
  m.observeRun(stats);
  // the counters: this run's alone would restart at every push; the run history's counts instead
  for (const name of ['offsite_backup_runs_total', 'offsite_prune_deleted_total', 'offsite_prune_errors_total']) m.registry.removeSingleMetric(name);
  if (opts.totals) {
    const runs = new Counter({
      name: 'offsite_backup_runs_total',
      help: 'Runs by result (success, partial, degraded, failure)',
      labelNames: ['job', 'result'],
      registers: [m.registry],
    });
    for (const result of ['success', 'degraded', 'partial', 'failure'] as const) runs.inc({ job: stats.job, result }, opts.totals[result] ?? 0);
  }
  if (opts.prune) {
    const labelNames = ['job', 'destination'];
    const deleted = new Counter({ name: 'offsite_prune_deleted_total', help: 'Backups removed by retention', labelNames, registers: [m.registry] });
    const errors = new Counter({ name: 'offsite_prune_errors_total', help: 'Prunes that failed', labelNames, registers: [m.registry] });
    for (const [destination, p] of Object.entries(opts.prune)) {
      deleted.inc({ job: stats.job, destination }, p.deleted);
      errors.inc({ job: stats.job, destination }, p.errors);
    }
  }
  if (opts.intervalMs) m.interval.set({ job: stats.job }, opts.intervalMs / 1000);
  for (const name of NOT_PUSHED) m.registry.removeSingleMetric(name);
  new Gauge({ name: 'offsite_backup_last_duration_seconds', help: 'Duration of the last run', labelNames: ['job'], registers: [m.registry] }).set(
    { job: stats.job },
    stats.durationMs / 1000,
  );
  // the socket's idle timeout, and a deadline that really ends the request (not only the wait)
  const gateway = new Pushgateway(url, { timeout: PUSH_TIMEOUT_MS, signal: AbortSignal.timeout(PUSH_TIMEOUT_MS) }, m.registry);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      gateway.pushAdd({ jobName: stats.job, ...(opts.instance ? { groupings: { instance: opts.instance } } : {}) }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PUSH_TIMEOUT_MS / 1000}s`)), PUSH_TIMEOUT_MS);
      }),
    ]);
    return true;
  } catch (e) {
    log.warn(
      { job: stats.job },
      redact(`pushing the metrics to OFFSITE_PUSHGATEWAY_URL failed (${errorMessage(e).slice(0, 300)}); the backup itself is not affected`),
    );
    return false;
  } finally {
    clearTimeout(timer);
  }
}
