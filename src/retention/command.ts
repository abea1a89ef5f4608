/**
 * `offsite prune [--job NAME] [--dry-run] [--json]`: apply the retention policy now, without a
 * backup, to every destination of every job (or one), and print each backup's fate and why.
 * The I/O edge of src/retention: listing, the lock, removing; the decisions are planPrune's.
 */
import type { Config, JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Destination, DestinationKind } from '../destinations/types.ts';
import { createDestinations, noDestinationHint, type MakeDestinations } from '../destinations/registry.ts';
import { withRetry } from '../destinations/retry.ts';
import { acquireLock } from '../run/lock.ts';
import { strftime } from '../archive/filename.ts';
import { UserError, errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';
import { planPrune, retentionEnabled, type PlannedBackup, type RetentionPolicy } from './index.ts';
import { describePolicy } from './policy.ts';

export interface PruneIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

export interface PruneOptions {
  job?: string;
  dryRun?: boolean;
  json?: boolean;
  now?: () => Date;
  signal?: AbortSignal;
}

export interface DestinationPlan {
  destination: DestinationKind;
  location: string;
  /** Why nothing was planned (BACKUP_SKIP_BACKENDS_FROM_PRUNE). */
  skipped?: string;
  /** Listing or removing failed. */
  error?: string;
  backups: PlannedBackup[];
  kept: number;
  /** Names removed (or, in a dry run, that would be): backups, their sidecars, orphan sidecars. */
  remove: string[];
  /** True when `remove` was carried out. */
  removed: boolean;
  warnings: string[];
}

export interface JobPlan {
  job: string;
  /** `keep daily 7, weekly 4`, `remove backups older than 7 day(s)`, or `off`. */
  policy: string;
  /** How backup times are read. */
  times: string;
  destinations: DestinationPlan[];
}

/** A one-line account of a job's retention. */
export function describeRetention(r: RetentionPolicy): string {
  if (r.keep) return `keep ${describePolicy(r.keep)}`;
  if (retentionEnabled(r)) return `remove backups older than ${r.days} day(s) (by modification time, leeway included)`;
  return 'off';
}

/**
 * What retention does with each listed backup now (for `offsite list`): keep or remove, and why.
 * Null when retention is off. `backups` are archives as listed (sidecars need not be included).
 */
export function retentionFates(
  policy: RetentionPolicy,
  backups: ReadonlyArray<{ name: string; size: number; modified: Date }>,
  now = new Date(),
): Map<string, { keep: boolean; reasons: string[] }> | null {
  if (!retentionEnabled(policy)) return null;
  const d = planPrune(
    backups.map((b) => ({ name: b.name, size: b.size, modified: b.modified })),
    policy,
    now,
    null,
  );
  return new Map(d.backups.map((b) => [b.name, { keep: b.keep, reasons: b.reasons }]));
}

function pickJobs(config: Config, name: string | undefined): readonly JobConfig[] {
  if (!name) return config.jobs;
  const j = config.jobs.find((x) => x.name === name);
  if (!j) throw new UserError(`--job ${name}: no such job`, `jobs: ${config.jobs.map((x) => x.name).join(', ')}`);
  return [j];
}

/** Plan (and unless dryRun, carry out) retention for one job on its destinations. */
export async function pruneJob(job: JobConfig, destinations: Destination[], log: Logger, opts: PruneOptions = {}): Promise<JobPlan> {
  const r = job.retention;
  const plan: JobPlan = {
    job: job.name,
    policy: describeRetention(r),
    times: r.keep ? `read from the names (BACKUP_FILENAME) in ${r.names.timeZone}, else the modification time` : 'modification times',
    destinations: [],
  };
  if (!retentionEnabled(r)) return plan;
  const now = (opts.now ?? (() => new Date()))();
  for (const d of destinations) {
    const dp: DestinationPlan = { destination: d.name, location: d.location, backups: [], kept: 0, remove: [], removed: false, warnings: [] };
    plan.destinations.push(dp);
    if (r.skipBackends.includes(d.name)) {
      dp.skipped = 'BACKUP_SKIP_BACKENDS_FROM_PRUNE';
      continue;
    }
    const dlog = log.child({ destination: d.name });
    try {
      const listing = (
        await withRetry(() => d.list(r.prefix), { settings: job.retry, log: dlog, what: `listing ${d.name} ${d.location}`, signal: opts.signal })
      ).value;
      const decision = planPrune(listing, r, now, null);
      dp.backups = decision.backups;
      dp.kept = decision.kept;
      dp.remove = decision.remove;
      dp.warnings = decision.warnings;
      for (const w of decision.warnings) dlog.warn(w);
      if (!opts.dryRun && decision.remove.length > 0) {
        await withRetry(() => d.remove(decision.remove), {
          settings: job.retry,
          log: dlog,
          what: `removing ${decision.remove.length} old backup file(s) from ${d.name} ${d.location}`,
          signal: opts.signal,
        });
        dp.removed = true;
        dlog.info(
          { removed: decision.remove.length, kept: decision.kept },
          `pruned ${decision.remove.length} file(s) from ${d.name} ${d.location}, kept ${decision.kept} backup(s)`,
        );
      }
    } catch (e) {
      dp.error = redact(errorMessage(e));
      dlog.error(`prune failed: ${dp.error}`);
    }
  }
  return plan;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** The plan as a table a person reads. */
export function formatPlan(plans: JobPlan[], dryRun: boolean, timeZoneOf: (job: string) => string): string {
  const lines: string[] = [];
  for (const p of plans) {
    lines.push(`job ${p.job}: ${p.policy}`);
    if (p.policy === 'off') {
      lines.push('  retention is off: set BACKUP_RETENTION_KEEP_* or BACKUP_RETENTION_DAYS to prune');
      continue;
    }
    lines.push(`  backup times: ${p.times}`);
    const tz = timeZoneOf(p.job);
    for (const d of p.destinations) {
      lines.push('');
      if (d.skipped) {
        lines.push(`  ${d.destination} ${d.location}: skipped (${d.skipped})`);
        continue;
      }
      if (d.error && d.backups.length === 0) {
        lines.push(`  ${d.destination} ${d.location}: FAILED: ${d.error}`);
        continue;
      }
      const removing = d.backups.length - d.kept;
      const verb = dryRun ? 'would remove' : d.removed ? 'removed' : 'remove';
      lines.push(`  ${d.destination} ${d.location}: ${d.backups.length} backup(s), keep ${d.kept}, ${verb} ${removing}`);
      const w = Math.max(4, ...d.backups.map((b) => b.name.length));
      if (d.backups.length > 0) lines.push(`    ${pad('ACTION', 8)}${pad('NAME', w + 2)}${pad('TIME', 26)}WHY`);
      for (const b of d.backups) {
        const t = b.time ? `${strftime('%Y-%m-%d %H:%M:%S %Z', b.time, tz)}${b.timeFrom === 'modified' ? '*' : ''}` : 'unknown';
        lines.push(`    ${pad(b.keep ? 'keep' : 'remove', 8)}${pad(b.name, w + 2)}${pad(t, 26)}${b.reasons.join(', ')}`);
      }
      const extra = d.remove.filter((n) => !d.backups.some((b) => b.name === n));
      if (extra.length > 0) lines.push(`    (${dryRun ? 'would also remove' : 'also removes'} ${extra.length} sidecar file(s): manifests of removed backups)`);
      if (d.backups.some((b) => b.timeFrom === 'modified')) lines.push('    * modification time: the name does not match BACKUP_FILENAME');
      for (const x of d.warnings) lines.push(`    note: ${x}`);
      if (d.error) lines.push(`    FAILED: ${d.error}`);
    }
    lines.push('');
  }
  if (dryRun) lines.push('dry run: nothing was deleted');
  return lines.join('\n').replace(/\n+$/, '') + '\n';
}

/** The `prune` command. Returns the exit code: 0, or 1 when a destination could not be listed or pruned. */
export async function runPrune(
  config: Config,
  log: Logger,
  opts: PruneOptions,
  io: PruneIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
  make: MakeDestinations = createDestinations,
): Promise<number> {
  const jobs = pickJobs(config, opts.job);
  const plans: JobPlan[] = [];
  for (const job of jobs) {
    if (!retentionEnabled(job.retention)) {
      plans.push(await pruneJob(job, [], log, opts));
      continue;
    }
    // a real prune waits for a running backup (never prunes beside an upload); a dry run reads only
    const lock = opts.dryRun
      ? null
      : await acquireLock(config.lockFile, { timeoutMs: job.lockTimeoutMs, signal: opts.signal, log, owner: `${job.name} (prune)` });
    const dests = await make(job, log);
    try {
      if (dests.length === 0) throw new UserError(`job ${job.name} has no destination to prune`, noDestinationHint());
      plans.push(await pruneJob(job, dests, log, opts));
    } finally {
      await Promise.allSettled(dests.map((d) => d.close()));
      await lock?.release();
    }
  }
  const failed = plans.some((p) => p.destinations.some((d) => d.error));
  if (opts.json) {
    io.out(`${JSON.stringify({ dryRun: Boolean(opts.dryRun), jobs: plans }, null, 2)}\n`);
  } else {
    const tz = new Map(jobs.map((j) => [j.name, j.retention.names.timeZone]));
    io.out(formatPlan(plans, Boolean(opts.dryRun), (j) => tz.get(j) ?? 'UTC'));
  }
  return failed ? 1 : 0;
}
