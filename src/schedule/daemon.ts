import cron from 'node-cron';
import { writeFile, rename } from 'node:fs/promises';
import type { Config, JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { parseDuration, formatDuration } from '../config/duration.ts';
import { runJob } from '../run/run.ts';
import type { RunStats } from '../run/stats.ts';
import { errorMessage } from '../errors.ts';
import { scheduleVerification } from '../restore/schedule.ts';

export interface DaemonOptions {
  log: Logger;
  /** Called after every run (notifications, metrics). */
  afterRun?: (job: JobConfig, stats: RunStats) => Promise<void>;
  /** Prepare per-run hooks (containers, commands). */
  runOptions?: (job: JobConfig) => Promise<Partial<Parameters<typeof runJob>[1]>>;
  /** How long a running backup may take to wind down after SIGTERM before we give up waiting. */
  shutdownGraceMs?: number;
  /** Health file, refreshed while the daemon lives (HEALTHCHECK reads it). */
  healthFile?: string;
}

interface Scheduled { stop(): void; next(): Date | null }

/**
 * Schedules every job and runs until SIGTERM/SIGINT. On a signal, a running
 * backup is aborted cleanly (no partial archive under a final name, temporary
 * files removed), then the promise resolves with exit code 0.
 */
export async function runDaemon(config: Config, opts: DaemonOptions): Promise<number> {
  const { log } = opts;
  const controller = new AbortController();
  const running = new Set<Promise<void>>();
  const scheduled: Scheduled[] = [];
  let lastRun: { job: string; status: string; end: string } | null = null;

  const inflight = new Set<string>();
  const fire = (job: JobConfig, s: () => Scheduled | undefined): Promise<void> | undefined => {
    if (controller.signal.aborted) return;
    if (inflight.has(job.name)) {
      log.warn({ job: job.name }, 'the previous run of this job is still going; skipping this one');
      return;
    }
    inflight.add(job.name);
    const p = (async () => {
      const jitter = job.schedule.jitterMs > 0 ? Math.floor(Math.random() * job.schedule.jitterMs) : 0;
      if (jitter > 0) {
        log.info({ job: job.name, delay: formatDuration(jitter) }, 'waiting BACKUP_JITTER before the run');
        await sleep(jitter, controller.signal);
        if (controller.signal.aborted) return;
      }
      try {
        const extra = opts.runOptions ? await opts.runOptions(job) : {};
        const stats = await runJob(job, { log, lockFile: config.lockFile, signal: controller.signal, ...extra });
        lastRun = { job: job.name, status: stats.status, end: stats.end.toISOString() };
        if (opts.afterRun) await opts.afterRun(job, stats);
      } catch (e) {
        log.error({ job: job.name, error: errorMessage(e) }, 'run crashed');
      }
      const next = s()?.next();
      if (next && !controller.signal.aborted) log.info({ job: job.name, next: next.toISOString() }, 'next run scheduled');
    })();
    running.add(p);
    void p.finally(() => { running.delete(p); inflight.delete(job.name); });
    return p;
  };

  for (const job of config.jobs) {
    let entry: Scheduled | undefined;
    const every = /^@every\s+(\S+)$/.exec(job.schedule.cron);
    if (every) {
      const ms = parseDuration(every[1]!)!;
      let nextAt = Date.now() + ms;
      const timer = setInterval(() => { nextAt = Date.now() + ms; void fire(job, () => entry); }, ms);
      entry = { stop: () => clearInterval(timer), next: () => new Date(nextAt) };
    } else {
      const task = cron.schedule(job.schedule.cron, () => fire(job, () => entry), {
        timezone: job.schedule.timezone, noOverlap: true, name: `offsite-${job.name}`,
      });
      entry = { stop: () => { void task.stop(); void task.destroy(); }, next: () => task.getNextRun() };
    }
    scheduled.push(entry);
    log.info({ job: job.name, schedule: job.schedule.cron, timezone: job.schedule.timezone, next: entry.next()?.toISOString() ?? null, sources: job.archive.sources }, 'job scheduled');
  }
  // VERIFY_CRON_EXPRESSION: verify the newest backup on every destination
  for (const job of config.jobs) {
    const v = scheduleVerification(job, log, controller.signal, (p) => { running.add(p); void p.finally(() => running.delete(p)); }, undefined, config.stateDir);
    if (v) scheduled.push(v);
  }
  const writeHealth = async () => {
    if (!opts.healthFile) return;
    const tmp = `${opts.healthFile}.tmp`;
    const body = JSON.stringify({ pid: process.pid, updated: new Date().toISOString(), lastRun });
    try { await writeFile(tmp, body); await rename(tmp, opts.healthFile); } catch (e) { log.debug({ error: errorMessage(e) }, 'cannot write health file'); }
  };
  await writeHealth();
  const healthTimer = setInterval(() => void writeHealth(), 15_000);

  const signalName = await new Promise<string>((resolve) => {
    const on = (sig: string) => resolve(sig);
    process.once('SIGTERM', () => on('SIGTERM'));
    process.once('SIGINT', () => on('SIGINT'));
  });
  log.info({ signal: signalName, running: running.size }, running.size ? 'stopping: aborting the running backup' : 'stopping');
  for (const s of scheduled) s.stop();
  clearInterval(healthTimer);
  controller.abort(new Error(`received ${signalName}`));
  const grace = opts.shutdownGraceMs ?? 30_000;
  const all = Promise.allSettled([...running]);
  let graceTimer: NodeJS.Timeout | undefined;
  const done = await Promise.race([all.then(() => true), new Promise<boolean>((r) => { graceTimer = setTimeout(() => r(false), grace); })]);
  clearTimeout(graceTimer);
  if (!done) log.error({ graceMs: grace }, 'a backup did not stop in time; exiting anyway');
  for (const t of cron.getTasks().values()) await t.destroy();
  log.info('stopped');
  return 0;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
