/**
 * The read-side commands of the CLI: list, restore, verify, export, import.
 * Each returns an exit code; output goes to the given writers (stdout/stderr).
 */
import { readVerifications, lastVerification, type VerificationRecord } from './history.ts';
import { findCommand, parseCommand } from '../cli-spec.ts';
import { resolve } from 'node:path';
import type { Config, JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Destination } from '../destinations/types.ts';
import { createDestinations, type MakeDestinations } from '../destinations/registry.ts';
import { UsageError, UserError, errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';
import { formatProgress, RateMeter } from '../progress.ts';
import { statusLine } from '../term.ts';
import { formatBytes } from '../notify/index.ts';
import { retentionFates } from '../retention/command.ts';
import { pickDestinations, listBackups, findBackup, type Naming } from './list.ts';
import { restoreBackup, verifyBackup, listContents, type VerifyReport } from './index.ts';
import { exportBackup, importBackup } from './transfer.ts';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTty: boolean;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTty: Boolean(process.stderr.isTTY),
};

let redactedDefault: Io | null = null;

/** Everything a command prints is redacted (destination errors may echo credentials). */
function redacting(io: Io): Io {
  return { out: (s) => io.out(redact(s)), err: (s) => io.err(redact(s)), isTty: io.isTty };
}

function pickJob(config: Config, name: string | undefined): JobConfig {
  if (name) {
    const j = config.jobs.find((x) => x.name === name);
    if (!j) throw new UsageError(`--job ${name}: no such job`, `jobs: ${config.jobs.map((x) => x.name).join(', ')}`);
    return j;
  }
  if (config.jobs.length === 1) return config.jobs[0]!;
  throw new UsageError(`there are ${config.jobs.length} jobs (conf.d); choose one with --job NAME`, `jobs: ${config.jobs.map((x) => x.name).join(', ')}`);
}

/** How the job names its backups: `latest` is the newest by the time in the name. */
export function namingOf(job: JobConfig): Naming {
  return { template: job.archive.filenameTemplate, timeZone: job.schedule.timezone };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function time(d: Date): string {
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function printVerify(r: VerifyReport, io: Io): void {
  io.out(`${r.ok ? 'OK    ' : 'FAILED'} ${r.destination} (${r.location}): ${r.name}\n`);
  for (const c of r.checks) io.out(`  ok    ${c}\n`);
  for (const w of r.warnings) io.out(`  note  ${w}\n`);
  for (const p of r.problems) io.out(`  FAIL  ${p}\n`);
}

/**
 * Lines to stdout with backpressure (a slow reader slows the download, memory stays
 * bounded); a closed pipe aborts the command instead of crashing it.
 */
function lineWriter(io: Io, controller: AbortController): { write: (s: string) => void | Promise<void>; closed: () => boolean } {
  if (io !== defaultIo) return { write: (s) => io.out(s), closed: () => false };
  let closed = false;
  const onError = (e: NodeJS.ErrnoException) => {
    closed = true;
    controller.abort(new Error(e.code === 'EPIPE' ? 'the output was closed' : `cannot write the output: ${e.message}`));
  };
  process.stdout.on('error', onError);
  return {
    write: (s) => {
      if (closed) throw new Error('the output was closed');
      if (process.stdout.write(s)) return;
      return new Promise<void>((res) => {
        const done = () => {
          process.stdout.off('drain', done);
          controller.signal.removeEventListener('abort', done);
          res();
        };
        process.stdout.on('drain', done);
        controller.signal.addEventListener('abort', done);
      });
    },
    closed: () => closed,
  };
}

async function withDestinations<T>(
  job: JobConfig,
  log: Logger,
  fn: (all: Destination[]) => Promise<T>,
  make: MakeDestinations = createDestinations,
): Promise<T> {
  const all = await make(job, log);
  try {
    return await fn(all);
  } finally {
    await Promise.allSettled(all.map((d) => d.close()));
  }
}

/** The backup a command reads (its name, or the newest) on `destination`, with the job's keys and the command's abort signal. */
function backupOn(c: ReadContext, job: JobConfig, destination: Destination) {
  return {
    destination,
    name: c.positionals[0],
    prefix: job.retention.prefix,
    naming: namingOf(job),
    keys: job.encryption.keys,
    log: c.log,
    signal: c.controller.signal,
  };
}

/** The one destination a command reads from: --from DEST, which must be given when several are configured. */
function sourceOf(
  all: Destination[],
  from: string | undefined,
  command: string,
  Err: new (message: string, hint?: string) => UserError = UserError,
): Destination {
  if (!from && all.length > 1)
    throw new Err(`${command} needs --from DEST when several destinations are configured`, `configured: ${all.map((d) => d.name).join(', ')}`);
  return pickDestinations(all, from, '--from')[0]!;
}

/** The command's job (--job) and its destinations, closed when `fn` is done. */
function withJobDestinations(c: ReadContext, fn: (job: JobConfig, all: Destination[]) => Promise<number>): Promise<number> {
  const job = pickJob(c.config, c.values.job);
  return withDestinations(job, c.log, (all) => fn(job, all), c.make);
}

/** Run one read-side command. Throws UserError for user mistakes (the CLI prints them). */
function verifiedField(r: VerificationRecord | undefined): { at: string; ok: boolean; contentChecked: boolean } | null {
  return r ? { at: r.at, ok: r.ok, contentChecked: r.contentChecked } : null;
}

export async function runReadCommand(
  command: string,
  args: string[],
  config: Config,
  log: Logger,
  io: Io = defaultIo,
  make: MakeDestinations = createDestinations,
): Promise<number> {
  const usingDefault = io === defaultIo;
  io = redacting(io);
  if (usingDefault) redactedDefault = io;
  // the options of each command are in the one table of src/cli-spec.ts
  const spec = findCommand(command);
  const parsed = spec ? parseCommand(spec, args) : null;
  if (!parsed || parsed.kind !== 'run') throw new UsageError(`${command}: not a read command`);
  const values = parsed.values as ReadValues;
  const positionals = parsed.positionals;
  const controller = new AbortController();
  const onSignal = (sig: string) => controller.abort(new Error(`received ${sig}`));
  process.once('SIGTERM', onSignal).once('SIGINT', onSignal);
  try {
    const run = Object.hasOwn(READ_COMMANDS, command) ? READ_COMMANDS[command] : undefined;
    if (run) return await run({ config, log, io, make, values, positionals, controller });
    throw new UserError(`unknown command ${command}`);
  } finally {
    process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
  }
}

/** What every read command gets: the parsed command line, the configuration, where output goes. */
interface ReadContext {
  config: Config;
  log: Logger;
  io: Io;
  make: MakeDestinations;
  values: ReadValues;
  positionals: string[];
  /** Aborted by SIGTERM/SIGINT. */
  controller: AbortController;
}

interface ReadValues {
  json?: boolean;
  destination?: string;
  from?: string;
  to?: string;
  include?: string[];
  force?: boolean;
  job?: string;
}

/** `offsite list` */
async function listCommand({ config, log, io, make, values }: ReadContext): Promise<number> {
  const jobs = values.job ? [pickJob(config, values.job)] : config.jobs;
  const rows: Array<Record<string, unknown>> = [];
  const history = await readVerifications(config.stateDir);
  const failures: Array<{ job: string; destination: string; location: string; error: string }> = [];
  for (const job of jobs) {
    await withDestinations(
      job,
      log,
      async (all) => {
        const dests = pickDestinations(all, values.destination);
        const found = [];
        for (const d of dests) {
          try {
            const listed = await listBackups([d], job.retention.prefix, log, namingOf(job));
            const fates = retentionFates(job.retention, listed);
            found.push(...listed.map((b) => ({ ...b, retention: fates?.get(b.name) ?? null })));
          } catch (e) {
            failures.push({ job: job.name, destination: d.name, location: d.location, error: errorMessage(e) });
          }
        }
        for (const b of found) {
          rows.push({
            job: job.name,
            destination: b.destination,
            location: b.location,
            name: b.name,
            size: b.size,
            modified: b.modified.toISOString(),
            encryption: b.manifest?.encryption ?? null,
            compression: b.manifest?.compression ?? null,
            files: b.manifest?.archived.files ?? null,
            bytes: b.manifest?.archived.bytes ?? null,
            sha256: b.manifest?.archive.sha256 ?? null,
            lastVerified: verifiedField(lastVerification(history, b.location, b.name)),
            retention: b.retention,
            ...(b.manifestError ? { manifestError: b.manifestError } : {}),
          });
        }
      },
      make,
    );
  }
  const code = failures.length ? 1 : 0;
  if (values.json) {
    io.out(`${JSON.stringify(failures.length ? { backups: rows, errors: failures } : rows, null, 2)}\n`);
    return code;
  }
  for (const f of failures) io.err(`error: cannot list ${f.destination} (${f.location}): ${f.error}\n`);
  if (rows.length === 0) {
    io.out('no backups found\n');
    return code;
  }
  const w = Math.max(...rows.map((r) => String(r.name).length), 4);
  // what retention does with each backup (prune --dry-run's reasons), when retention is on
  const withRetention = rows.some((r) => r.retention);
  const retentionText = (r: Record<string, unknown>) => {
    const f = r.retention as { keep: boolean; reasons: string[] } | null;
    return f ? `${f.keep ? 'keep' : 'remove'}: ${f.reasons.join(', ')}` : '-';
  };
  io.out(
    `${pad('DESTINATION', 12)}${pad('NAME', w + 2)}${pad('SIZE', 11)}${pad('MODIFIED', 22)}${pad('ENCRYPTION', 11)}${pad('FILES', 9)}${withRetention ? `${pad('LAST VERIFIED', 37)}RETENTION` : 'LAST VERIFIED'}\n`,
  );
  for (const r of rows) {
    const v = r.lastVerified as ReturnType<typeof verifiedField>;
    const verified = v ? `${time(new Date(v.at))} ${v.ok ? (v.contentChecked ? 'ok' : 'ok (hash only)') : 'FAILED'}` : 'never';
    io.out(
      `${pad(String(r.destination), 12)}${pad(String(r.name), w + 2)}${pad(formatBytes(r.size as number), 11)}${pad(time(new Date(r.modified as string)), 22)}${pad(String(r.encryption ?? '?'), 11)}${pad(String(r.files ?? '?'), 9)}${withRetention ? `${pad(verified, 37)}${retentionText(r)}` : verified}\n`,
    );
  }
  return code;
}

/** `offsite restore` */
async function restoreCommand(c: ReadContext): Promise<number> {
  const { io, values } = c;
  return withJobDestinations(c, async (job, all) => {
    const dest = sourceOf(all, values.from, 'restore', UsageError);
    let last = 0;
    const meter = new RateMeter();
    const report = await restoreBackup({
      ...backupOn(c, job, dest),
      target: resolve(values.to!),
      include: values.include,
      force: values.force,
      onProgress: io.isTty
        ? (p, total) => {
            const now = Date.now();
            meter.add(now, p.bytes);
            if (now - last < 250) return;
            last = now;
            // the status line of src/term.ts: log lines are written above it, not into it
            const line = formatProgress('restoring', { files: p.files, bytes: p.bytes, total }, meter.rate());
            if (io === redactedDefault) statusLine.set(line);
            else io.err(`\r${line}`);
          }
        : undefined,
    });
    if (io.isTty) {
      if (io === redactedDefault) statusLine.clear();
      else io.err('\n');
    }
    const r = report.result;
    io.out(`restored ${report.name} from ${report.destination} into ${report.target}\n`);
    for (const c of report.checks) io.out(`  ok    ${c}\n`);
    if (r.hardlinks) io.out(`  ok    ${r.hardlinks} hard links\n`);
    for (const w of r.warnings) io.out(`  note  ${w}\n`);
    return 0;
  });
}

/** `offsite ls` */
async function lsCommand(c: ReadContext): Promise<number> {
  const { io, values, controller } = c;
  return withJobDestinations(c, async (job, all) => {
    const dest = sourceOf(all, values.from, 'ls');
    const out = lineWriter(io, controller);
    try {
      await listContents({
        ...backupOn(c, job, dest),
        onEntry: (e) =>
          out.write(
            values.json
              ? `${JSON.stringify({ path: e.path, type: e.type, size: e.size, mode: `0${e.mode.toString(8)}`, mtime: e.mtime.toISOString(), uid: e.uid, gid: e.gid, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) })}\n`
              : `${e.path}\n`,
          ),
      });
    } catch (e) {
      if (out.closed()) return 0; // the reader went away (ls | head): end quietly
      throw e;
    }
    return 0;
  });
}

/** `offsite verify` */
async function verifyCommand(c: ReadContext): Promise<number> {
  const { config, io, values } = c;
  return withJobDestinations(c, async (job, all) => {
    const dests = pickDestinations(all, values.from, '--from');
    const reports: VerifyReport[] = [];
    for (const d of dests) {
      const r = await verifyBackup({
        ...backupOn(c, job, d),
        stateDir: config.stateDir,
      });
      reports.push(r);
      if (!values.json) printVerify(r, io);
    }
    if (values.json) {
      io.out(
        `${JSON.stringify(
          reports.map((r) => ({
            destination: r.destination,
            location: r.location,
            name: r.name,
            ok: r.ok,
            contentChecked: r.contentChecked,
            checks: r.checks,
            warnings: r.warnings,
            problems: r.problems,
            counts: r.result
              ? {
                  files: r.result.files,
                  hardlinks: r.result.hardlinks,
                  directories: r.result.directories,
                  symlinks: r.result.symlinks,
                  bytes: r.result.bytes,
                }
              : null,
          })),
          null,
          2,
        )}\n`,
      );
    }
    return reports.every((r) => r.ok) ? 0 : 1;
  });
}

/** `offsite export` */
async function exportCommand(c: ReadContext): Promise<number> {
  const { log, io, values, positionals, controller } = c;
  const [name, file] = positionals as [string, string];
  return withJobDestinations(c, async (job, all) => {
    let dests = pickDestinations(all, values.from, '--from');
    if (!values.from && name !== 'latest') {
      // the first destination that holds it
      const holding: Destination[] = [];
      for (const d of dests) {
        if (
          await findBackup(d, name, '').then(
            () => true,
            () => false,
          )
        )
          holding.push(d);
      }
      if (holding.length) dests = holding;
    }
    const r = await exportBackup({
      destination: dests[0]!,
      name,
      prefix: job.retention.prefix,
      naming: namingOf(job),
      file,
      log,
      signal: controller.signal,
    });
    io.out(`exported ${r.name} (${formatBytes(r.size)}, SHA-256 ${r.sha256}) to ${r.file}${r.sidecar ? ` and its manifest to ${r.file}.manifest.json` : ''}\n`);
    return 0;
  });
}

/** `offsite import` */
async function importCommand(c: ReadContext): Promise<number> {
  const { log, io, values, positionals, controller } = c;
  return withJobDestinations(c, async (job, all) => {
    const dests = pickDestinations(all, values.to, '--to');
    const r = await importBackup({
      destinations: dests,
      file: resolve(positionals[0]!),
      keys: job.encryption.keys,
      force: values.force,
      log,
      signal: controller.signal,
    });
    io.out(`imported ${r.name} to ${r.destinations.join(', ')}\n`);
    return 0;
  });
}

const READ_COMMANDS: Record<string, (c: ReadContext) => Promise<number>> = {
  list: listCommand,
  restore: restoreCommand,
  ls: lsCommand,
  verify: verifyCommand,
  export: exportCommand,
  import: importCommand,
};
