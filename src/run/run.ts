import type { JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Destination } from '../destinations/types.ts';
import { createArchive, prescanSources, type ArchiveStream } from '../archive/index.ts';
import { planBackup, uploadSidecars } from '../manifest/backup.ts';
import { backupFilename, hasTimeTokens } from '../archive/filename.ts';
import { captureRunLog } from './log-output.ts';
import { fromSnapshot, takeSnapshot, type Snapshot } from './snapshot.ts';
import { createDestinations, localArchivePath, noDestinationHint } from '../destinations/registry.ts';
import { acquireLock } from './lock.ts';
import { errorMessage, UserError } from '../errors.ts';
import { redact } from '../redact.ts';
import { noHooks, type RunHooks, type HookContext } from './hooks.ts';
import { shipArchive, pruneDestinations } from './upload.ts';
import { cleanupLeftovers } from './leftovers.ts';
import { checkSources } from './sources.ts';
import { leftoverPolicy, setWriterIdentity } from '../destinations/leftovers.ts';
import { retentionEnabled } from '../retention/index.ts';
import { degrade, finishStats, recordUploadFailures, statusOf, type RunStats, type RunPhase } from './stats.ts';
import { logRunSummary } from './summary.ts';

export interface RunContext {
  log: Logger;
  /** Cross-process lock file (Config.lockFile). */
  lockFile: string;
  /** Aborts the run (SIGTERM): streams are destroyed, temporary files removed. */
  signal?: AbortSignal;
  hooks?: RunHooks;
  /** Destinations to use instead of the job's configured ones (tests). */
  destinations?: Destination[];
  now?: () => Date;
  /** Called once the archive stream exists (progress display). */
  onArchive?: (archive: ArchiveStream) => void;
  /** false: the caller prints the run's summary itself (the CLI on a terminal), so it is not logged too. */
  logSummary?: boolean;
}

/** A failure tagged with the phase it happened in. */
class PhaseError extends Error {
  readonly phase: RunPhase;
  constructor(phase: RunPhase, cause: unknown) {
    super(errorMessage(cause), { cause });
    this.phase = phase;
  }
}

async function phase<T>(name: RunPhase, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw e instanceof PhaseError ? e : new PhaseError(name, e);
  }
}

export function emptyStats(job: string, start: Date): RunStats {
  return {
    job,
    status: 'success',
    start,
    end: start,
    durationMs: 0,
    lockWaitMs: 0,
    archive: null,
    destinations: [],
    containersStopped: 0,
    containersRestarted: 0,
    warnings: [],
    degradedBy: [],
    error: null,
  };
}

/**
 * One backup run of one job, as phases:
 * lock → destinations → archive+upload (with the pre/post hooks) → prune → close.
 * Never throws: every failure ends up in the returned RunStats.
 */
export async function runJob(job: JobConfig, ctx: RunContext): Promise<RunStats> {
  // offen's .Stats.LogOutput: this run's log lines, for the notification templates
  const capture = captureRunLog(job.name);
  let stats: RunStats | undefined;
  try {
    stats = await runPhases(job, ctx);
    return stats;
  } finally {
    if (stats) capture.stop(stats);
    else capture.stop(emptyStats(job.name, new Date()));
  }
}

async function runPhases(job: JobConfig, ctx: RunContext): Promise<RunStats> {
  const run = startRun(job, ctx);
  run.prescanned = startPrescan(run);
  try {
    await lockPhase(run);
    await destinationsPhase(run);
    const name = await archiveAndUploadPhase(run);
    await prunePhase(run, name);
  } catch (e) {
    recordFailure(run.stats, e, run.signal);
  } finally {
    await closePhase(run);
  }
  finishStats(run.stats, run.now());
  if (ctx.logSummary !== false) logRunSummary(run.log, run.stats);
  return run.stats;
}

/** What the phases of one run share. */
interface Run {
  job: JobConfig;
  ctx: RunContext;
  log: Logger;
  hooks: RunHooks;
  now: () => Date;
  signal: AbortSignal;
  stats: RunStats;
  hookCtx: HookContext;
  /** Set once the lock is held. */
  release: (() => Promise<void>) | null;
  lockTakenAt: Date;
  destinations: Destination[];
  /** Removal of leftovers of interrupted runs, alongside the run. */
  cleaning: Promise<string[]> | null;
  snapshot: Snapshot | null;
  /** The sources' pre-scan was started before the lock (startPrescan). */
  prescanned: boolean;
  /** Another run held the lock when this one asked for it. */
  lockContended: boolean;
}

function startRun(job: JobConfig, ctx: RunContext): Run {
  const now = ctx.now ?? (() => new Date());
  const controller = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, controller.signal]) : controller.signal;
  const stats = emptyStats(job.name, now());
  return {
    job,
    ctx,
    log: ctx.log.child({ job: job.name }),
    hooks: ctx.hooks ?? noHooks,
    now,
    signal,
    stats,
    hookCtx: { stats, archivePath: '', signal },
    release: null,
    lockTakenAt: stats.start,
    destinations: [],
    cleaning: null,
    snapshot: null,
    prescanned: false,
    lockContended: false,
  };
}

/**
 * The sources' pre-scan (the manifest's counts), started on the waiting archive worker while
 * the run takes the lock and sets up its destinations, when nothing the run does before the
 * archive can change the sources: no pre hooks (hooks.preArchive) and no BACKUP_FROM_SNAPSHOT copy.
 * Its counts are used only if the lock was free (no other run went on meanwhile, whose hooks
 * could have changed them); otherwise the archive scans again. A 50,000-file scan takes 0.25-0.4 s.
 */
function startPrescan(run: Run): boolean {
  const { job, hooks } = run;
  if (hooks.preArchive !== false || fromSnapshot(job.env)) return false;
  return prescanSources(job.archive.sources, job.archive.exclude);
}

/** 1. lock: runs never overlap, in this process or across processes. */
async function lockPhase(run: Run): Promise<void> {
  const { job, ctx, signal, log } = run;
  const lock = await phase('lock', () => acquireLock(ctx.lockFile, { timeoutMs: job.lockTimeoutMs, signal, log, owner: job.name }));
  run.release = lock.release;
  run.stats.lockWaitMs = lock.waitedMs;
  run.lockContended = lock.contended;
  run.lockTakenAt = new Date();
  setWriterIdentity(ctx.lockFile);
}

/**
 * 2. destinations: built before anything is stopped, so a bad destination fails fast.
 * Leftovers of interrupted runs (temporary files, unfinished multipart uploads, staged
 * archives) are removed alongside the run; this run's own temporary names are newer than
 * the lock, so they are never touched.
 */
async function destinationsPhase(run: Run): Promise<void> {
  const { job, ctx, log, signal } = run;
  run.destinations = ctx.destinations ?? (await phase('upload', async () => createDestinations(job, log)));
  if (run.destinations.length === 0) {
    throw new PhaseError(
      'upload',
      new UserError(
        `no destination is enabled: the local directory ${job.env.BACKUP_ARCHIVE || '/archive'} does not exist and no remote destination is configured`,
        noDestinationHint(),
      ),
    );
  }
  run.cleaning = cleanupLeftovers(run.destinations, job.tmpDir, leftoverPolicy(run.lockTakenAt), log, signal);
}

/** 3. archive and upload, streamed, between the pre and post hooks. Returns the backup's name. */
async function archiveAndUploadPhase(run: Run): Promise<string> {
  const { job, ctx, log, signal, stats, hooks, hookCtx, destinations } = run;
  const plan = await phase('archive', () => planBackup(job, stats.start));
  // named after the lock was taken: two jobs that waited for each other get distinct names
  const name = backupFilename(job.archive.filenameTemplate, run.now(), job.schedule.timezone, {
    compression: job.archive.compression,
    encryption: plan.encryption,
  });
  // COMMAND_RUNTIME_ARCHIVE_FILEPATH: where the archive will be once the local copy is written
  hookCtx.archivePath = localArchivePath(job, name);
  // a missing source fails the run before any container is stopped or command run
  const sourceProblems = await phase('archive', () => checkSources(job.archive.sources));
  await phase('pre', () => hooks.archivePre(hookCtx));
  await phase('pre', () => hooks.processPre(hookCtx));
  await phase('pre', () => hooks.copyPre(hookCtx));
  // an empty source (or /backup with nothing mounted) still runs, but the run is degraded, never a
  // success; judged after the pre commands, which may be what fills it (offen's test/commands: an
  // exec-pre label's dump into an otherwise empty volume)
  if (sourceProblems.length) degrade(stats, await phase('archive', () => checkSources(job.archive.sources)));
  log.info({ archive: name, sources: job.archive.sources, destinations: destinations.map((d) => d.location) }, 'backup started');
  // BACKUP_FROM_SNAPSHOT (deprecated, as in offen): archive a copy of the sources, under their own names
  if (fromSnapshot(job.env)) {
    run.snapshot = await phase('archive', () => takeSnapshot(job.archive.sources, job.tmpDir, log, signal));
  }
  const snapshot = run.snapshot;
  const archive = createArchive({
    sources: snapshot ? snapshot.paths : job.archive.sources,
    ...(snapshot ? { archiveNames: job.archive.sources } : {}),
    exclude: job.archive.exclude,
    compression: job.archive.compression,
    parallelism: job.archive.gzipParallelism,
    log,
    signal,
    encrypt: plan.encrypt,
    header: plan.header,
    // the pre-scan started before the lock counted these sources, and nothing could change them since
    reuseScan: run.prescanned && !run.lockContended && !snapshot,
    // output Buffers of an archive written only to local files die at once: collect them when they pile up
    collectPromoted: destinations.length > 0 && destinations.every((d) => d.name === 'Local'),
    // a single local destination takes the stream as it is (shipArchive's direct path) and reports its file writes;
    // a staged archive (several destinations, or one remote one with staging) is written to its file, which reports too
    recycleOutput: destinations.length > 1 || (destinations.length === 1 && (destinations[0]!.name === 'Local' || job.staging !== false)),
  });
  ctx.onArchive?.(archive);
  // containers come back as soon as the archive is written, while uploads may go on
  const archived = archive.done.then(
    () => phase('post', () => hooks.archivePost(hookCtx)),
    () => {},
  );
  // the snapshot goes as soon as the archive is written (or failed)
  const snapshotGone = archive.done
    .then(
      () => {},
      () => {},
    )
    .then(() => removeSnapshot(run));
  // a name without time tokens is the same every run: it replaces the previous backup (as in offen), atomically
  const replace = !hasTimeTokens(job.archive.filenameTemplate);
  const shipped = await phase('archive', () =>
    shipArchive({ destinations, name, archive, tmpDir: job.tmpDir, staging: job.staging, retry: job.retry, replace, log, signal }),
  );
  await archived;
  await snapshotGone;
  await phase('post', () => hooks.processPost(hookCtx));
  await phase('post', () => hooks.copyPost(hookCtx));
  const a = shipped.archive;
  stats.destinations = shipped.results;
  // null: the only destination failed while the archive was produced, so it was abandoned
  if (a) {
    const { warnings, ...counts } = a;
    stats.archive = { ...counts, name, compression: job.archive.compression, encryption: plan.encryption };
    const sidecarProblems = await uploadSidecars(destinations, shipped.results, plan.sidecar(name, a), log, signal, replace);
    stats.warnings.push(...warnings);
    degrade(stats, sidecarProblems);
    if (a.unreadable > 0) degrade(stats, [`${a.unreadable} file(s) could not be read; this backup is incomplete`]);
  }
  // a signal during the upload: the run is reported failed, even if some destination finished
  if (signal.aborted) throw new PhaseError('upload', signal.reason ?? new Error('aborted'));
  recordUploadFailures(stats);
  return name;
}

/** 4. prune: only after a fully successful run (a partial or degraded backup never replaces older ones). */
async function prunePhase(run: Run, name: string): Promise<void> {
  const { job, log, stats, hooks, hookCtx, destinations } = run;
  if (!retentionEnabled(job.retention)) return;
  const status = statusOf(stats);
  if (status !== 'success') {
    for (const r of stats.destinations) r.pruneNote = `not pruned: the run was ${status}`;
    return;
  }
  await phase('prune', () => hooks.prunePre(hookCtx));
  const warnings = await phase('prune', () =>
    pruneDestinations(destinations, stats.destinations, job.retention, run.now(), name, job.retention.skipBackends, log, job.retry),
  );
  stats.warnings.push(...warnings);
  // a prune that fails is not silent: old backups pile up until someone looks
  degrade(
    stats,
    stats.destinations.filter((r) => r.pruneNote?.startsWith('prune failed')).map((r) => `${r.destination}: ${r.pruneNote}`),
  );
  await phase('prune', () => hooks.prunePost(hookCtx));
}

/** 5. close, whatever happened: the leftovers' cleanup settled, the snapshot removed, the finish hook, destinations closed, the lock released. */
async function closePhase(run: Run): Promise<void> {
  const { job, stats, signal } = run;
  if (run.cleaning) {
    // a destination whose upload failed already says why: its cleanup failure (same cause) is not repeated
    const failed = new Set(stats.destinations.filter((d) => !d.ok).map((d) => `${d.destination}: `));
    stats.warnings.push(...(await settleCleanup(run.cleaning, job.retry.timeoutMs, signal)).filter((w) => ![...failed].some((f) => w.startsWith(f))));
  }
  await removeSnapshot(run);
  try {
    await run.hooks.finish(run.hookCtx);
  } catch (e) {
    stats.warnings.push(`restoring after the run failed: ${errorMessage(e)}`);
  }
  await Promise.allSettled(run.destinations.map((d) => d.close()));
  if (run.release) await run.release().catch((e) => stats.warnings.push(`releasing the lock failed: ${errorMessage(e)}`));
}

async function removeSnapshot(run: Run): Promise<void> {
  const s = run.snapshot;
  run.snapshot = null;
  if (s) await s.remove().catch((e) => run.stats.warnings.push(`removing the BACKUP_FROM_SNAPSHOT copy failed: ${errorMessage(e)}`));
}

/** The run's failure, with the phase it happened in and the hint of a user's mistake. */
function recordFailure(stats: RunStats, e: unknown, signal: AbortSignal): void {
  const pe = e instanceof PhaseError ? e : new PhaseError('archive', e);
  const hint = pe.cause instanceof UserError ? pe.cause.hint : undefined;
  if (hint) stats.hints = [redact(hint)];
  if (signal.aborted && !stats.error) stats.error = { phase: pe.phase, message: `aborted: ${redact(pe.message)}` };
  else stats.error ??= { phase: pe.phase, message: redact(pe.message) };
}

/** The cleanup's warnings, or one saying it did not finish in time (it is abandoned, never waited for past the bound). */
async function settleCleanup(cleaning: Promise<string[]>, timeoutMs: number, signal: AbortSignal): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const late = new Promise<string[]>((resolve) => {
    const give = () =>
      resolve(
        signal.aborted
          ? []
          : [
              `removing leftovers of interrupted runs did not finish within ${Math.round(timeoutMs / 1000)}s (BACKUP_DESTINATION_TIMEOUT); the next run tries again`,
            ],
      );
    timer = setTimeout(give, timeoutMs);
    onAbort = give;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([cleaning, late]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
