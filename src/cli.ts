#!/usr/bin/env node
// offsite command line: `offsite <command> [options]`.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig, isOffsiteVariable, type Config, type JobConfig } from './config/index.ts';
import { ConfigError, UsageError, UserError, errorMessage } from './errors.ts';
import { missingSourceIssues } from './run/sources.ts';
import { checkEncryptionKeys } from './crypto/config.ts';
import { parseCommandLine, usage } from './cli-spec.ts';
import { createLogger, type Logger } from './log.ts';
import { redact, isSecretName, redactStream } from './redact.ts';
import { installProxyFromEnv, proxyIssues } from './proxy.ts';
import { backupJob } from './run/backup.ts';
import type { DaemonControl, ControlHandle } from './schedule/daemon.ts';
import { EXIT, exitCodeFor, worstStatus, type RunStats } from './run/stats.ts';
import { formatDuration } from './config/duration.ts';
import { notifyTest } from './notify/index.ts';
import { recordRun } from './run/history.ts';
import { checkHealthFile } from './health/state.ts';
import { installStopHandler } from './run/stop.ts';
import { printOffenConfig } from './compat/offen-config.ts';
import { notifyStartupFailure } from './notify/startup.ts';
import { followArchive } from './progress.ts';
import { statusLine } from './term.ts';
import { createDestinations, describeConfigured } from './destinations/registry.ts';
import { checkDestinations, formatCheck } from './destinations/check.ts';
import { commandArgs, isMainModule } from './command-args.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const HEALTH_FILE = process.env.OFFSITE_HEALTH_FILE || join(tmpdir(), 'offsite-health.json');

function printConfigError(err: ConfigError): void {
  process.stderr.write('configuration error:\n');
  for (const i of err.issues) process.stderr.write(`  ${i.variable}: ${redact(i.message)}\n`);
  process.stderr.write('nothing was started; fix the variables above and try again.\n');
}

function describeJob(job: JobConfig): Record<string, unknown> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(job.env).sort(([a], [b]) => a.localeCompare(b))) {
    if (v === undefined || !isOffsiteVariable(k)) continue;
    env[k] = isSecretName(k) ? '***' : redact(v);
  }
  return {
    job: job.name,
    source: job.source,
    schedule: { ...job.schedule, jitter: formatDuration(job.schedule.jitterMs) },
    lockTimeout: formatDuration(job.lockTimeoutMs),
    archive: { ...job.archive, exclude: job.archive.exclude?.source ?? null },
    retention: { ...job.retention, leeway: formatDuration(job.retention.leewayMs) },
    destinations: job.destinations.map((d) => describeConfigured(d, job.env)),
    tmpDir: job.tmpDir,
    staging: job.staging,
    encryption: { method: job.encryption.method, variable: job.encryption.variable },
    verify: job.verify,
    variables: env,
  };
}

/** The jobs `--job NAME` names (every job without it); an unknown name is a usage error. */
export function selectJobs(config: Config, name: string | undefined): readonly JobConfig[] {
  if (name === undefined) return config.jobs;
  const job = config.jobs.find((j) => j.name === name);
  if (!job) throw new UsageError(`--job ${name}: no such job`, `jobs: ${config.jobs.map((j) => j.name).join(', ')} (conf.d files without .env)`);
  return [job];
}

async function cmdBackup(config: Config, log: Logger, jobName: string | undefined): Promise<number> {
  const jobs = selectJobs(config, jobName);
  const statuses: RunStats['status'][] = [];
  // SIGTERM/SIGINT abort the run cleanly (stopped containers are started again, temporary
  // files removed, the lock released) and the process exits within OFFSITE_STOP_TIMEOUT.
  const stop = installStopHandler({ log, timeoutMs: config.stopTimeoutMs, what: 'the backup' });
  // on a terminal with readable logs: a progress line, and the run's outcome printed once, by us
  const human = Boolean(process.stderr.isTTY) && (config.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty';
  // push monitors (OFFSITE_HEALTHCHECKS_URL, OFFSITE_UPTIME_KUMA_URL) hear runs started by hand or by cron too
  const monitors = config.http.healthchecksUrl || config.http.uptimeKumaUrl ? new (await import('./monitors/push.ts')).PushMonitors(config.http, log) : null;
  try {
    for (const job of jobs) {
      if (stop.stopping) break;
      const rid = randomUUID();
      monitors?.started(job.name, rid);
      let stopProgress: (() => void) | null = null;
      const stats = await backupJob(job, {
        log,
        lockFile: config.lockFile,
        signal: stop.signal,
        reportSignal: stop.lateSignal(),
        logSummary: !human,
        onArchive: human
          ? (a) => {
              stopProgress = followArchive(job.name, a, 500, (line) => statusLine.set(line));
            }
          : undefined,
        onRunEnd: () => {
          (stopProgress as (() => void) | null)?.();
          statusLine.clear();
        },
      });
      monitors?.finished(stats, rid);
      // OFFSITE_STATE_DIR/run-history.json: the status page's strip and runs list show this run too
      const history = await recordRun(config.stateDir, stats, rid, 'cli', log);
      if (config.http.pushgatewayUrl) {
        const { pushRunMetrics, jobIntervalMs } = await import('./metrics/push.ts');
        await pushRunMetrics(config.http.pushgatewayUrl, stats, VERSION, log, {
          intervalMs: jobIntervalMs(job),
          instance: config.http.pushgatewayInstance,
          totals: history.totals[job.name],
          prune: history.prune[job.name],
        });
      }
      statuses.push(stats.status);
      if (human) process.stderr.write(runSummary(job.name, stats));
    }
    await monitors?.settle();
  } finally {
    stop.dispose();
  }
  const code = stop.stopping && statuses.length === 0 ? EXIT.failure : exitCodeFor(worstStatus(statuses));
  stop.finish(code);
  return code;
}

/** `offsite backup --stdout [--key HEX]`: a fresh archive of one job on stdout (never on a terminal). */
async function cmdBackupStdout(config: Config, log: Logger, jobName: string | undefined, keyHex: string | undefined): Promise<number> {
  const jobs = selectJobs(config, jobName);
  if (jobs.length !== 1)
    throw new UsageError(`backup --stdout writes one job; there are ${jobs.length}: choose one with --job NAME`, `jobs: ${jobs.map((j) => j.name).join(', ')}`);
  if (process.stdout.isTTY)
    throw new UsageError('backup --stdout would write an archive to the terminal', 'redirect it: offsite backup --stdout > backup.tar.gz');
  const { freshArchive, parseKeyArgument } = await import('./run/fresh.ts');
  const aesKey = parseKeyArgument(keyHex, '--key');
  const stop = installStopHandler({ log, timeoutMs: config.stopTimeoutMs, what: 'the export' });
  try {
    const { archive } = freshArchive(jobs[0]!, { log, signal: stop.signal, aesKey });
    const { pipeline } = await import('node:stream/promises');
    await Promise.all([pipeline(archive.stream, process.stdout, { end: false }), archive.done]);
    const r = await archive.done;
    log.info({ job: jobs[0]!.name, files: r.files, size: r.size, sha256: r.sha256 }, 'archive written to stdout');
    const code = r.unreadable > 0 ? EXIT.degraded : EXIT.success;
    stop.finish(code);
    return code;
  } catch (e) {
    log.error({ job: jobs[0]!.name, error: errorMessage(e) }, 'writing the archive to stdout failed');
    stop.finish(EXIT.failure);
    return EXIT.failure;
  } finally {
    stop.dispose();
  }
}

/** `offsite restore - --to DIR [--key HEX]`: extract an archive read from stdin (all or nothing, the same checks as restore). */
async function cmdRestoreStdin(config: Config, log: Logger, values: Record<string, unknown>): Promise<number> {
  const { extractArchive } = await import('./archive/extract.ts');
  const { parseKeyArgument } = await import('./run/fresh.ts');
  const { resolve } = await import('node:path');
  const key = parseKeyArgument(values.key as string | undefined, '--key');
  const job = values.job ? selectJobs(config, values.job as string)[0]! : config.jobs.length === 1 ? config.jobs[0]! : null;
  const keys = { ...(job?.encryption.keys ?? {}), ...(key ? { aesKeyHex: key.toString('hex') } : {}) };
  if (process.stdin.isTTY)
    throw new UsageError('restore - reads the archive from stdin, which is a terminal', 'pipe it in: cat backup.tar.gz | offsite restore - --to DIR');
  const target = resolve(values.to as string);
  const r = await extractArchive(process.stdin, { target, include: values.include as string[] | undefined, force: Boolean(values.force), keys, log });
  process.stdout.write(
    `restored the archive from stdin into ${target}\n  ok    ${r.files} files, ${r.directories} directories, ${r.symlinks} symlinks, ${r.bytes} bytes${r.encryption !== 'none' ? ` (decrypted: ${r.encryption})` : ''}\n`,
  );
  for (const w of r.warnings) process.stdout.write(`  note  ${w}\n`);
  return EXIT.success;
}

/** The outcome of one run for a terminal: status, then each problem once, then what to check. */
export function runSummary(job: string, stats: RunStats): string {
  const a = stats.archive;
  const lines: string[] = [];
  const what = a
    ? ` — ${a.name}, ${a.files} files, ${formatBytes(a.size)} in ${formatDuration(stats.durationMs)}`
    : ` after ${formatDuration(stats.durationMs)}`;
  lines.push(`${job}: ${stats.status === 'failure' ? 'FAILED' : stats.status}${what}`);
  if (stats.error) lines.push(`  error: ${stats.error.message}`);
  for (const w of stats.warnings) lines.push(`  warning: ${w}`);
  for (const h of stats.hints ?? []) lines.push(`  hint: ${h}`);
  return `${redact(lines.join('\n'))}\n`;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** Notify a failed start (configuration or initialisation) to every URL that parses; bounded (STARTUP_SEND). */
async function notifyFailedStart(command: string, problems: string[]): Promise<void> {
  const level = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(process.env.LOG_LEVEL ?? '') ? process.env.LOG_LEVEL : 'info';
  const format = process.env.LOG_FORMAT === 'json' || process.env.LOG_FORMAT === 'pretty' ? process.env.LOG_FORMAT : undefined;
  const results = await notifyStartupFailure(command, problems, createLogger({ level, format }));
  if (results.length > 0)
    process.stderr.write(
      `the failure was notified to ${results.filter((r) => r.ok).length} of ${results.length} notification URL${results.length === 1 ? '' : 's'}\n`,
    );
}

/** `offsite check`: one line per destination of each job; exit 1 when one fails. */
async function cmdCheck(config: Config, log: Logger, only?: string): Promise<number> {
  const jobs = only ? config.jobs.filter((j) => j.name === only) : config.jobs;
  if (only && jobs.length === 0) throw new UsageError(`no job named "${only}"`, `jobs: ${config.jobs.map((j) => j.name).join(', ')}`);
  let failed = 0;
  let total = 0;
  for (const job of jobs) {
    const dests = await createDestinations(job, log);
    try {
      if (dests.length === 0) {
        process.stdout.write(`FAIL  ${job.name}: no destination is configured\n`);
        failed++;
        continue;
      }
      for (const r of await checkDestinations(dests, job.retry.timeoutMs)) {
        total++;
        if (!r.ok) failed++;
        process.stdout.write(`${formatCheck(r, jobs.length > 1 ? job.name : undefined)}\n`);
      }
    } finally {
      await Promise.allSettled(dests.map((d) => d.close()));
    }
  }
  if (failed) process.stderr.write(`${failed} of ${total} destination${total === 1 ? '' : 's'} failed the check\n`);
  return failed ? EXIT.failure : EXIT.success;
}

/** The daemon at start: log each job's destinations and check them; a failing one is a warning, the daemon goes on. */
async function checkAtStart(config: Config, log: Logger, signal: AbortSignal): Promise<void> {
  await Promise.all(
    config.jobs.map(async (job) => {
      const dests = await createDestinations(job, log);
      try {
        log.info(
          { job: job.name, destinations: dests.map((d) => `${d.name} ${d.location}`) },
          `${job.name} stores its backups on ${dests.length ? dests.map((d) => `${d.name} ${d.location}`).join(', ') : 'no destination'}`,
        );
        const results = await checkDestinations(dests, job.retry.timeoutMs, signal);
        if (signal.aborted) return;
        for (const r of results) {
          if (r.ok)
            log.info(
              { job: job.name, destination: r.destination, location: r.location, durationMs: r.durationMs },
              `destination check passed: ${r.destination} ${r.location}`,
            );
          else
            log.warn(
              { job: job.name, destination: r.destination, location: r.location, ...(r.hint ? { hint: r.hint } : {}) },
              `destination check failed: ${r.destination} ${r.location}: ${r.error}`,
            );
        }
      } finally {
        await Promise.allSettled(dests.map((d) => d.close()));
      }
    }),
  );
}

/**
 * The daemon's control plane: the HTTP server (OFFSITE_HTTP_ADDR) and the push monitors
 * (OFFSITE_HEALTHCHECKS_URL, OFFSITE_UPTIME_KUMA_URL), each loaded only when configured.
 */
async function startControl(control: DaemonControl, log: Logger): Promise<ControlHandle> {
  const closers: Array<() => Promise<void>> = [];
  const http = control.config.http;
  if (http.healthchecksUrl || http.uptimeKumaUrl) {
    const { PushMonitors } = await import('./monitors/push.ts');
    const monitors = new PushMonitors(http, log);
    control.runs.on('run', (e) => {
      if (e.type === 'started') monitors.started(e.run.job, e.run.id);
      else if (e.type === 'finished' && e.run.stats) monitors.finished(e.run.stats, e.run.id);
    });
    closers.push(() => monitors.settle());
  }
  if (http.pushgatewayUrl) {
    const { pushRunMetrics } = await import('./metrics/push.ts');
    const pushes = new Set<Promise<unknown>>();
    control.runs.on('run', (e) => {
      if (e.type !== 'finished' || !e.run.stats) return;
      const p = pushRunMetrics(http.pushgatewayUrl!, e.run.stats, VERSION, log, {
        intervalMs: control.intervalMs(e.run.job),
        instance: http.pushgatewayInstance,
        totals: control.history?.totals(e.run.job),
        prune: control.history?.prune(e.run.job),
      });
      pushes.add(p);
      void p.finally(() => pushes.delete(p));
    });
    closers.push(async () => {
      await Promise.allSettled([...pushes]);
    });
  }
  if (http.listen) {
    const { startControlPlane } = await import('./http/start.ts');
    const handle = await startControlPlane(control, log, VERSION);
    closers.push(() => handle.close());
  }
  return {
    close: async () => {
      await Promise.allSettled(closers.map((c) => c()));
    },
  };
}

/** Exit 0 when the daemon is alive and every job passes the health rule (src/health/rule.ts); one readable line either way. */
function cmdHealthcheck(): number {
  const r = checkHealthFile(HEALTH_FILE);
  if (r.healthy) {
    process.stdout.write(`${r.message}\n`);
    return EXIT.success;
  }
  process.stderr.write(`unhealthy: ${r.message}\n`);
  return EXIT.failure;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write(`${usage(VERSION)}\n`);
    return EXIT.usage;
  }
  // offen's `backup print-config` (in the image, `backup` is offsite invoked under that name)
  if (argv[0] === 'backup' && argv[1] === 'print-config') argv = ['print-config', ...argv.slice(2)];
  const parsed = parseCommandLine(argv, VERSION);
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.success;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.success;
  }
  const {
    command: { name: command },
    values,
  } = parsed;
  if (command === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.success;
  }
  if (command === 'healthcheck') return cmdHealthcheck();

  let config: Config;
  try {
    // HTTP_PROXY / HTTPS_PROXY / NO_PROXY: every HTTP request from here on (notifications of a failed start too)
    const badProxy = proxyIssues();
    if (badProxy.length > 0) throw new ConfigError(badProxy);
    installProxyFromEnv();
    config = loadConfig();
    // a source missing when the daemon starts would fail every scheduled run (at 2 am): refuse to start instead
    const missing =
      command === 'daemon'
        ? config.jobs.flatMap((job) => missingSourceIssues(job.archive.sources, job.source === 'environment' ? '' : ` (in ${job.source})`))
        : [];
    if (missing.length > 0) throw new ConfigError(missing);
    const keyProblems = await checkEncryptionKeys(config.jobs);
    if (keyProblems.length > 0) throw new ConfigError(keyProblems);
  } catch (e) {
    if (e instanceof ConfigError) {
      printConfigError(e);
      // a sidecar in a restart loop must not fail in silence: tell the URLs that still parse
      if (command === 'daemon' || command === 'backup')
        await notifyFailedStart(
          command,
          e.issues.map((i) => `${i.variable}: ${i.message}`),
        );
      return EXIT.config;
    }
    throw e;
  }
  // commands whose stdout is data (a token, an archive) log to stderr
  const dataOnStdout = command === 'token' || (command === 'backup' && values.stdout === true) || (command === 'restore' && parsed.positionals[0] === '-');
  const log = createLogger({ level: config.logLevel, format: config.logFormat, ...(dataOnStdout ? { fd: 2 } : {}) });
  // variables offsite does not read (typos): on stderr for `config`, whose stdout is the JSON it prints
  const warnLog = command === 'config' ? createLogger({ level: config.logLevel, format: config.logFormat, fd: 2 }) : log;
  for (const w of config.warnings) warnLog.warn({ variable: w.variable }, `${w.variable} ${redact(w.message)}`);
  for (const job of config.jobs) for (const w of [...job.notify.warnings, ...job.warnings]) log.warn({ job: job.name }, w);

  switch (command) {
    case 'config': {
      const out = config.jobs.map(describeJob);
      process.stdout.write(`${JSON.stringify(values.json ? out : out.length === 1 ? out[0] : out, null, 2)}\n`);
      return 0;
    }
    case 'print-config': {
      const lines: string[] = [];
      printOffenConfig(
        config.jobs,
        (job) => [...job.notify.warnings, ...job.warnings],
        (line) => lines.push(line),
      );
      process.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    }
    case 'backup':
      if (values.stdout) return cmdBackupStdout(config, log, values.job as string | undefined, values.key as string | undefined);
      if (values.key !== undefined)
        throw new UsageError('backup: --key goes with --stdout', 'the stored backups are encrypted as BACKUP_ENCRYPTION_KEY (or GPG/age) say');
      return cmdBackup(config, log, values.job as string | undefined);
    case 'restore':
      if (parsed.positionals[0] === '-') return cmdRestoreStdin(config, log, values);
      if (values.key !== undefined)
        throw new UsageError('restore: --key goes with `restore -` (stdin)', 'a stored backup is decrypted with BACKUP_ENCRYPTION_KEY');
      return (await import('./restore/commands.ts')).runReadCommand(command, argv.slice(1), config, log);
    case 'list':
    case 'ls':
    case 'verify':
    case 'export':
    case 'import':
      return (await import('./restore/commands.ts')).runReadCommand(command, argv.slice(1), config, log);
    case 'prune': {
      const controller = new AbortController();
      const onSignal = (sig: string) => controller.abort(new Error(`received ${sig}`));
      process.once('SIGTERM', onSignal).once('SIGINT', onSignal);
      return (await import('./retention/command.ts')).runPrune(config, log, {
        job: values.job as string | undefined,
        dryRun: Boolean(values['dry-run']),
        json: Boolean(values.json),
        signal: controller.signal,
      });
    }
    case 'token': {
      const { runTokenCommand } = await import('./tokens/command.ts');
      return runTokenCommand(config, parsed.positionals, values, log, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
    }
    case 'check':
      return cmdCheck(config, log, values.job as string | undefined);
    case 'notify-test':
      return (await notifyTest(config, (line) => process.stdout.write(`${line}\n`), { log })) ? EXIT.success : EXIT.failure;
    case 'daemon': {
      const stop = installStopHandler({ log, timeoutMs: config.stopTimeoutMs, what: 'the daemon' });
      const { runDaemon } = await import('./schedule/daemon.ts');
      const code = await runDaemon(config, {
        log,
        stop,
        healthFile: HEALTH_FILE,
        onStarted: (signal) => checkAtStart(config, log, signal),
        control: (control) => startControl(control, log),
      });
      // nothing may keep a stopped daemon alive (timers of libraries, idle sockets)
      stop.finish(code);
      return code;
    }
  }
  return EXIT.usage;
}

/**
 * Run the CLI as the process: exit code, errors printed once without a stack trace,
 * and a reader that closes stdout early (`offsite list | head -1`) ends the command quietly.
 */
export function run(argv: string[]): void {
  const keepRunning = argv[0] === 'daemon' || argv[0] === 'backup';
  const onPipeError = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    // a daemon or a backup goes on (its log is lost, its work is not); anything else just stops
    if (!keepRunning) process.exit(EXIT.success);
  };
  process.stdout.on('error', onPipeError);
  process.stderr.on('error', onPipeError);
  // every line the CLI prints is redacted, whichever code path wrote it
  redactStream(process.stdout);
  redactStream(process.stderr);
  main(argv)
    .then(
      (code) => {
        process.exitCode = code;
      },
      (err) => {
        if (err instanceof ConfigError) {
          printConfigError(err);
          process.exitCode = EXIT.config;
          return;
        }
        if (err instanceof UserError) {
          process.stderr.write(`error: ${redact(err.message)}\n${err.hint ? `hint: ${redact(err.hint)}\n` : ''}`);
          process.exitCode = err instanceof UsageError ? EXIT.usage : EXIT.failure;
          return;
        }
        process.stderr.write(`error: ${redact(errorMessage(err))}\n`);
        if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') process.stderr.write(`${redact(String((err as Error)?.stack ?? ''))}\n`);
        process.exitCode = EXIT.failure;
      },
    )
    .finally(() => {
      // An operation abandoned after its deadline (an fs call blocked on a hung mount, a socket
      // of a stalled server) must not keep the finished command alive: exit once output is flushed.
      setTimeout(() => process.exit(), 2000).unref();
    });
}

// `node src/cli.ts <command>` (the image and bin/offsite go through src/main.ts)
if (isMainModule(import.meta.url)) run(commandArgs(process.argv));
