import type { Config, JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { formatDuration } from '../config/duration.ts';
import { parseCron, startSchedule } from './cron.ts';
import { backupJob } from '../run/backup.ts';
import { emptyStats } from '../run/run.ts';
import type { RunStats } from '../run/stats.ts';
import { errorMessage } from '../errors.ts';
import { scheduleVerification } from '../restore/schedule.ts';
import { HealthStore, HEALTH_REFRESH_MS } from '../health/state.ts';
import { scheduleIntervalMs } from '../health/rule.ts';
import { installStopHandler, type StopHandler } from '../run/stop.ts';
import { followArchive, LOG_PROGRESS_MS } from '../progress.ts';
import type { ArchiveStream } from '../archive/index.ts';
import { RunRegistry, RUN_BINDING, type RunRecord } from './runs.ts';
import { RunHistory, historyRecord } from '../run/history.ts';
import { sleep } from '../retry.ts';

/** What the HTTP API, the metrics and the push monitors see of a running daemon. */
export interface DaemonControl {
  config: Config;
  health: HealthStore;
  runs: RunRegistry;
  /** Every finished run, also of earlier daemons and of `offsite backup` (OFFSITE_STATE_DIR/run-history.json). */
  history?: RunHistory;
  /** Aborted when the daemon stops. */
  signal: AbortSignal;
  /** The next scheduled run of a job, or null. */
  next(job: string): Date | null;
  /** Expected time between runs of a job (the health rule's), or null. */
  intervalMs(job: string): number | null;
  /** Start a run of `job` now: its record, or `busy` while a run of that job is going. */
  trigger(job: string): RunRecord | 'busy' | 'unknown';
  /** When the scheduler last answered (its 15 s tick). */
  lastTick(): Date;
}

export interface ControlHandle {
  close(): Promise<void>;
}

export interface DaemonOptions {
  log: Logger;
  /**
   * SIGTERM/SIGINT handling (OFFSITE_STOP_TIMEOUT); one is installed when not given. Its
   * hard deadline ends the process when a running backup does not wind down in time.
   */
  stop?: StopHandler;
  /** OFFSITE_STOP_TIMEOUT for the handler installed when `stop` is not given (default 8 s). */
  stopTimeoutMs?: number;
  /** Health file, refreshed while the daemon lives (HEALTHCHECK reads it). */
  healthFile?: string;
  /** Called once every job is scheduled (the destination checks at start). */
  onStarted?: (signal: AbortSignal) => Promise<void>;
  /** Called once every job is scheduled, before onStarted: the HTTP server, metrics, push monitors. Closed when the daemon stops. */
  control?: (control: DaemonControl) => Promise<ControlHandle | void>;
}

interface Scheduled {
  stop(): void;
  next(): Date | null;
  intervalMs?: number | null;
}

/**
 * Schedules every job and runs until SIGTERM/SIGINT. On a signal, a running
 * backup is aborted cleanly (no partial archive under a final name, temporary
 * files removed, containers restarted, the lock released; the run is reported
 * failed), then the promise resolves with exit code 0. A backup that does not wind
 * down within OFFSITE_STOP_TIMEOUT is abandoned: the stop handler's hard deadline
 * exits with a failure status.
 */
export async function runDaemon(config: Config, opts: DaemonOptions): Promise<number> {
  const { log } = opts;
  const stop = opts.stop ?? installStopHandler({ log, timeoutMs: opts.stopTimeoutMs ?? config.stopTimeoutMs ?? 8000, what: 'the daemon' });
  const controller = new AbortController();
  const running = new Set<Promise<void>>();
  const scheduled: Scheduled[] = [];
  const health = new HealthStore(
    config.jobs.map((j) => ({ name: j.name, intervalMs: null })),
    {
      healthFile: opts.healthFile,
      stateDir: config.stateDir,
      onError: (what, message) =>
        what === 'state'
          ? log.warn(
              { stateDir: config.stateDir },
              `cannot remember run results in OFFSITE_STATE_DIR (${message}); they are kept in the health file only and lost when the container is recreated`,
            )
          : log.warn({ healthFile: opts.healthFile }, `cannot write the health file (${message}); \`offsite healthcheck\` will report the daemon unhealthy`),
    },
  );

  const runs = new RunRegistry();
  const history = new RunHistory(config.stateDir, log);
  await history.read();
  const inflight = new Set<string>();
  const fire = (job: JobConfig, s: () => Scheduled | undefined, trigger: RunRecord['trigger'] = 'schedule'): RunRecord | undefined => {
    if (controller.signal.aborted) return;
    if (inflight.has(job.name)) {
      log.warn({ job: job.name }, 'the previous run of this job is still going; skipping this one');
      return;
    }
    inflight.add(job.name);
    const rec = runs.start(job.name, trigger);
    const runLog = log.child({ [RUN_BINDING]: rec.id });
    let finished = false;
    const p = (async () => {
      const jitter = trigger === 'schedule' && job.schedule.jitterMs > 0 ? Math.floor(Math.random() * job.schedule.jitterMs) : 0;
      if (jitter > 0) {
        log.info({ job: job.name, delay: formatDuration(jitter) }, 'waiting BACKUP_JITTER before the run');
        await sleep(jitter, controller.signal).catch(() => {});
        if (controller.signal.aborted) return;
      }
      try {
        // a long run says how far it got every 30 s (there is no terminal to show it)
        const onArchive = (a: ArchiveStream) => {
          followArchive(job.name, a, LOG_PROGRESS_MS, (line, p, rate) =>
            runLog.info(
              { job: job.name, files: p.files, bytes: p.bytes, total: p.total ?? null, bytesPerSecond: rate === null ? null : Math.round(rate) },
              `progress ${line}`,
            ),
          );
          // the API's events: every second
          followArchive(job.name, a, 1000, (_line, p, rate) =>
            runs.progress(rec.id, { files: p.files, bytes: p.bytes, total: p.total ?? null, bytesPerSecond: rate === null ? null : Math.round(rate) }),
          );
        };
        // hooks, run and notifications, as `offsite backup` does them
        const stats = await backupJob(job, { log: runLog, lockFile: config.lockFile, signal: controller.signal, reportSignal: stop.lateSignal(), onArchive });
        // an aborted run (SIGTERM) says nothing about the job's health
        if (!controller.signal.aborted) {
          health.record(job.name, stats);
          await health.write();
        }
        await history.append(historyRecord(stats, rec.id, trigger));
        runs.finish(rec.id, stats);
        finished = true;
      } catch (e) {
        log.error({ job: job.name, error: errorMessage(e) }, 'run crashed');
        health.record(job.name, { status: 'failure', end: new Date() }, `the run crashed: ${errorMessage(e)}`);
        await health.write();
      }
      if (!finished) {
        const end = new Date();
        const stats: RunStats = {
          ...emptyStats(job.name, rec.started),
          status: 'failure',
          end,
          durationMs: end.getTime() - rec.started.getTime(),
          error: { phase: 'archive', message: controller.signal.aborted ? 'aborted: the daemon is stopping' : 'the run crashed' },
        };
        await history.append(historyRecord(stats, rec.id, trigger));
        runs.finish(rec.id, stats);
      }
      const next = s()?.next();
      if (next && !controller.signal.aborted) log.info({ job: job.name, next: next.toISOString() }, 'next run scheduled');
    })();
    running.add(p);
    void p.finally(() => {
      running.delete(p);
      inflight.delete(job.name);
    });
    return rec;
  };

  const entries = new Map<string, Scheduled>();
  for (const job of config.jobs) {
    let entry: Scheduled | undefined;
    const schedule = parseCron(job.schedule.cron, job.schedule.timezone);
    const started = startSchedule(schedule, () => void fire(job, () => entry));
    entry = { ...started, intervalMs: scheduleIntervalMs(schedule) };
    scheduled.push(entry);
    entries.set(job.name, entry);
    // a random BACKUP_JITTER delay may push a run that much later
    health.setInterval(job.name, entry.intervalMs ? entry.intervalMs + job.schedule.jitterMs : null);
    if (schedule.kind === 'never') {
      // offen's documented "never" (e.g. 0 0 5 31 2 ?): the job runs only by hand (`backup`)
      log.info(
        { job: job.name, schedule: job.schedule.cron, sources: job.archive.sources },
        `${job.name} never runs on its own: no date matches its schedule; run it by hand with \`backup\``,
      );
      continue;
    }
    log.info(
      { job: job.name, schedule: job.schedule.cron, timezone: schedule.timezone, next: entry.next()?.toISOString() ?? null, sources: job.archive.sources },
      'job scheduled',
    );
  }
  // VERIFY_CRON_EXPRESSION: verify the newest backup on every destination
  for (const job of config.jobs) {
    const v = scheduleVerification(
      job,
      log,
      controller.signal,
      (p) => {
        running.add(p);
        void p.finally(() => running.delete(p));
      },
      undefined,
      config.stateDir,
    );
    if (v) scheduled.push(v);
  }
  await health.write();
  let tick = new Date();
  const healthTimer = setInterval(() => {
    tick = new Date();
    void health.write();
  }, HEALTH_REFRESH_MS);
  let handle: ControlHandle | void = undefined;
  if (opts.control) {
    handle = await opts
      .control({
        config,
        health,
        runs,
        history,
        signal: controller.signal,
        next: (name) => entries.get(name)?.next() ?? null,
        intervalMs: (name) => health.jobs[name]?.intervalMs ?? null,
        trigger: (name) => {
          const job = config.jobs.find((j) => j.name === name);
          if (!job) return 'unknown';
          if (inflight.has(name)) return 'busy';
          return fire(job, () => entries.get(name), 'api') ?? 'busy';
        },
        lastTick: () => tick,
      })
      .catch((e: unknown) => {
        // e.g. the HTTP port is taken: nothing keeps running
        for (const s of scheduled) s.stop();
        clearInterval(healthTimer);
        controller.abort(e);
        runs.close();
        stop.dispose();
        throw e;
      });
  }
  // the destination checks run beside the schedule (bounded; a failing one is a warning)
  if (opts.onStarted) void opts.onStarted(controller.signal).catch((e) => log.warn({ error: errorMessage(e) }, 'checking the destinations failed'));

  const signalName = await stop.received;
  log.info({ signal: signalName, running: running.size }, running.size ? 'stopping: aborting the running backup' : 'stopping');
  for (const s of scheduled) s.stop();
  clearInterval(healthTimer);
  controller.abort(new Error(`received ${signalName}`));
  // The stop handler's hard deadline (OFFSITE_STOP_TIMEOUT) ends the process if this waits too long.
  await Promise.allSettled([...running]);
  if (handle) await handle.close().catch((e) => log.warn({ error: errorMessage(e) }, 'stopping the HTTP server failed'));
  runs.close();
  stop.dispose();
  log.info('stopped');
  return 0;
}
