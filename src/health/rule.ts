/**
 * The health rule, shared by `offsite healthcheck` and any future HTTP
 * `/health` endpoint. Pure: everything it needs (the clock included) is in its
 * input, so it is tested with a fake clock.
 *
 * Per job:
 * - the expected interval is the largest gap among the schedule's next 8
 *   firings (a `0 2 * * 1-5` job is expected every 3 days, not every day);
 * - `failing` when its last run did not succeed (failure, partial or degraded);
 * - `ok` when its last success is younger than interval × GRACE_FACTOR;
 * - `starting` (healthy) within interval × GRACE_FACTOR after the daemon
 *   started, while it has not had its first chance to run yet;
 * - `stale` otherwise: no successful run within the expected interval.
 * The overall state is the worst job state (failing > stale > starting > ok).
 */

export const GRACE_FACTOR = 1.25;
/** How many future firings of a schedule decide its expected interval. */
export const INTERVAL_FIRINGS = 8;

export type JobState = 'ok' | 'starting' | 'failing' | 'stale';

export interface JobHealthInput {
  job: string;
  /** Expected time between runs (see expectedIntervalMs); null when the schedule never fires again. */
  intervalMs: number | null;
  /** The last run that ended, if any (persisted across daemon restarts). */
  lastAttempt?: { at: Date; status: string; cause?: string } | null;
  /** End of the last successful run, if any. */
  lastSuccess?: Date | null;
}

export interface HealthInput {
  now: Date;
  /** When the daemon started (this process). */
  startedAt: Date;
  jobs: readonly JobHealthInput[];
  graceFactor?: number;
}

export interface JobHealth {
  job: string;
  state: JobState;
  message: string;
}

export interface HealthResult {
  /** ok and starting are healthy. */
  healthy: boolean;
  state: JobState;
  /** One readable line. */
  message: string;
  jobs: JobHealth[];
}

/** Largest gap between consecutive firings; null with fewer than two firings. */
export function expectedIntervalMs(firings: readonly Date[]): number | null {
  let max: number | null = null;
  for (let i = 1; i < firings.length; i++) {
    const gap = firings[i]!.getTime() - firings[i - 1]!.getTime();
    if (gap > 0 && (max === null || gap > max)) max = gap;
  }
  return max;
}

/** `2026-01-02T03:04:05Z` (no milliseconds). */
/** A schedule's expected interval: `@every`'s period, else the largest gap among its next firings; null when it never fires. */
export function scheduleIntervalMs(schedule: { kind: 'cron' | 'every' | 'never'; everyMs?: number; nextRuns(count: number): Date[] }): number | null {
  return schedule.kind === 'every' ? schedule.everyMs! : expectedIntervalMs(schedule.nextRuns(INTERVAL_FIRINGS));
}

export function formatTime(d: Date): string {
  return Number.isNaN(d.getTime()) ? 'an unknown time' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `90s`, `15m`, `2h30m`, `3d`: a readable interval. */
export function formatInterval(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

function validDate(d: Date | null | undefined): d is Date {
  return d instanceof Date && !Number.isNaN(d.getTime());
}

export function evaluateJob(job: JobHealthInput, now: Date, startedAt: Date, graceFactor = GRACE_FACTOR): JobHealth {
  const name = job.job;
  const last = job.lastAttempt;
  if (last && last.status !== 'success') {
    const verb = last.status === 'failure' ? 'failed' : `was ${last.status}`;
    const cause = oneLine(last.cause) || 'no cause recorded';
    return { job: name, state: 'failing', message: `${name}: last run ${verb} at ${formatTime(last.at)}: ${cause}` };
  }
  if (job.intervalMs === null || !(job.intervalMs > 0)) {
    // no further firing: only the last result counts
    return {
      job: name,
      state: 'ok',
      message: `${name}: ${validDate(job.lastSuccess) ? `last run succeeded at ${formatTime(job.lastSuccess)}` : 'not scheduled to run again'}`,
    };
  }
  const allowed = job.intervalMs * graceFactor;
  const every = formatInterval(job.intervalMs);
  if (validDate(job.lastSuccess) && now.getTime() - job.lastSuccess.getTime() <= allowed) {
    return { job: name, state: 'ok', message: `${name}: last run succeeded at ${formatTime(job.lastSuccess)}` };
  }
  if (now.getTime() - startedAt.getTime() <= allowed) {
    return { job: name, state: 'starting', message: `${name}: no run since the daemon started at ${formatTime(startedAt)} (expected every ${every})` };
  }
  return {
    job: name,
    state: 'stale',
    message: validDate(job.lastSuccess)
      ? `${name}: no successful run since ${formatTime(job.lastSuccess)} (expected every ${every})`
      : `${name}: no successful run since the daemon started at ${formatTime(startedAt)} (expected every ${every})`,
  };
}

const ORDER: JobState[] = ['ok', 'starting', 'stale', 'failing'];

export function evaluateHealth(input: HealthInput): HealthResult {
  const jobs = input.jobs.map((j) => evaluateJob(j, input.now, input.startedAt, input.graceFactor));
  let state: JobState = 'ok';
  for (const j of jobs) if (ORDER.indexOf(j.state) > ORDER.indexOf(state)) state = j.state;
  const healthy = state === 'ok' || state === 'starting';
  const relevant = jobs.filter((j) => j.state === state);
  const message = jobs.length === 0 ? 'no job is scheduled' : relevant.map((j) => j.message).join('; ');
  return { healthy, state, message, jobs };
}

/** Causes go on one line, cut to a readable length. */
function oneLine(s: string | undefined): string {
  if (!s) return '';
  const flat = s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}
