/**
 * What the daemon remembers about each job's runs (last attempt, last success,
 * result, cause), written to the health file every 15 s and after every run,
 * and to OFFSITE_STATE_DIR/last-runs.json so it survives restarts (a failing
 * job stays failing after the container restarts). `offsite healthcheck`
 * reads the health file and applies the rule of rule.ts.
 */
import { readFileSync, statSync } from 'node:fs';
import { writeFile, rename, mkdir } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import type { RunStats } from '../run/stats.ts';
import { redact } from '../redact.ts';
import { errorMessage } from '../errors.ts';
import { evaluateHealth, formatTime, type HealthResult, type JobHealthInput } from './rule.ts';

export interface JobRecord {
  intervalMs: number | null;
  lastAttempt?: { at: string; status: string; cause?: string };
  lastSuccess?: string;
}

export interface HealthFile {
  pid: number;
  startedAt: string;
  updated: string;
  jobs: Record<string, JobRecord>;
}

/** The daemon writes its health file at least this often; older means it hangs. */
export const HEALTH_REFRESH_MS = 15_000;
export const HEALTH_MAX_AGE_MS = 60_000;
const MAX_READ = 1 << 20;

/** Why a run was not a success, on one line (already redacted). */
export function causeOf(stats: RunStats): string | undefined {
  if (stats.status === 'success') return undefined;
  if (stats.error) return redact(stats.error.message);
  const failed = stats.destinations.filter((d) => !d.ok);
  if (failed.length) return redact(failed.map((d) => `${d.destination}: ${d.error ?? 'failed'}`).join('; '));
  if (stats.degradedBy.length) return redact(stats.degradedBy.join('; '));
  return undefined;
}

function readJson(file: string): unknown {
  const st = statSync(file);
  if (!st.isFile()) throw new Error(`${file} is not a regular file`);
  if (st.size > MAX_READ) throw new Error(`${file} is larger than 1 MiB`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

export interface HealthStoreOptions {
  healthFile?: string;
  stateDir?: string;
  onError?: (what: string, message: string) => void;
}

export class HealthStore {
  readonly startedAt: Date;
  readonly jobs: Record<string, JobRecord> = {};
  private readonly opts: HealthStoreOptions;
  private readonly warned = new Set<string>();

  constructor(jobs: ReadonlyArray<{ name: string; intervalMs: number | null }>, opts: HealthStoreOptions, now = new Date()) {
    this.opts = opts;
    this.startedAt = now;
    const previous = this.loadPrevious();
    for (const j of jobs) {
      const p = previous[j.name];
      this.jobs[j.name] = {
        intervalMs: j.intervalMs,
        ...(p?.lastAttempt ? { lastAttempt: p.lastAttempt } : {}),
        ...(p?.lastSuccess ? { lastSuccess: p.lastSuccess } : {}),
      };
    }
  }

  private get stateFile(): string | null {
    return this.opts.stateDir ? join(this.opts.stateDir, 'last-runs.json') : null;
  }

  private loadPrevious(): Record<string, JobRecord> {
    for (const file of [this.stateFile, this.opts.healthFile]) {
      if (!file) continue;
      try {
        const j = readJson(file) as { jobs?: Record<string, JobRecord> };
        if (j && typeof j === 'object' && j.jobs && typeof j.jobs === 'object') return j.jobs;
      } catch {
        /* absent or unreadable: start afresh */
      }
    }
    return {};
  }

  setInterval(job: string, intervalMs: number | null): void {
    (this.jobs[job] ??= { intervalMs: null }).intervalMs = intervalMs;
  }

  record(job: string, stats: Pick<RunStats, 'status' | 'end'> & Partial<RunStats>, cause?: string): void {
    const rec = (this.jobs[job] ??= { intervalMs: null });
    const at = stats.end.toISOString();
    const c = cause ?? causeOf(stats as RunStats);
    rec.lastAttempt = { at, status: stats.status, ...(c ? { cause: c } : {}) };
    if (stats.status === 'success') rec.lastSuccess = at;
  }

  snapshot(now = new Date()): HealthFile {
    return { pid: process.pid, startedAt: this.startedAt.toISOString(), updated: now.toISOString(), jobs: this.jobs };
  }

  /** Write the health file and the state file (atomic rename each). Never throws. */
  async write(now = new Date()): Promise<void> {
    const body = JSON.stringify(this.snapshot(now));
    const fail = (what: string) => (e: unknown) => {
      if (this.warned.has(what)) return;
      this.warned.add(what);
      this.opts.onError?.(what, errorMessage(e));
    };
    if (this.opts.healthFile) await atomicWrite(this.opts.healthFile, body).catch(fail('health file'));
    const sf = this.stateFile;
    if (sf)
      await mkdir(dirname(sf), { recursive: true })
        .then(() => atomicWrite(sf, JSON.stringify({ jobs: this.jobs })))
        .catch(fail('state'));
  }
}

async function atomicWrite(file: string, body: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, body);
  await rename(tmp, file);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface HealthcheckResult {
  healthy: boolean;
  message: string;
  result?: HealthResult;
}

function toDate(s: string | undefined): Date | null {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** `offsite healthcheck`: is the daemon alive, and do its jobs pass the rule? One readable line either way. */
export function checkHealthFile(file: string, now = new Date(), alive: (pid: number) => boolean = isAlive): HealthcheckResult {
  let h: Partial<HealthFile>;
  try {
    h = readJson(file) as Partial<HealthFile>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return {
        healthy: false,
        message: `the daemon is not running: it has not written ${file} (is \`offsite daemon\` running, with the same OFFSITE_HEALTH_FILE?)`,
      };
    return { healthy: false, message: `cannot read the health file ${file}: ${e instanceof SyntaxError ? 'it is not valid JSON' : errorMessage(e)}` };
  }
  if (!h || typeof h !== 'object' || typeof h.pid !== 'number') return { healthy: false, message: `the health file ${file} is not one the daemon wrote` };
  if (!alive(h.pid))
    return {
      healthy: false,
      message: `the daemon (pid ${h.pid}) is not running any more; it last reported at ${formatTime(toDate(h.updated) ?? new Date(NaN))}`,
    };
  const updated = toDate(h.updated);
  if (!updated || now.getTime() - updated.getTime() > HEALTH_MAX_AGE_MS) {
    return {
      healthy: false,
      message: `the daemon (pid ${h.pid}) is not responding: it last reported ${updated ? `at ${formatTime(updated)}, ${Math.round((now.getTime() - updated.getTime()) / 1000)}s ago` : 'never'}`,
    };
  }
  const jobs: JobHealthInput[] = Object.entries(h.jobs ?? {}).map(([job, r]) => ({
    job,
    intervalMs: typeof r.intervalMs === 'number' ? r.intervalMs : null,
    lastAttempt: r.lastAttempt ? { at: toDate(r.lastAttempt.at) ?? new Date(NaN), status: String(r.lastAttempt.status), cause: r.lastAttempt.cause } : null,
    lastSuccess: toDate(r.lastSuccess),
  }));
  const result = evaluateHealth({ now, startedAt: toDate(h.startedAt) ?? updated, jobs });
  return { healthy: result.healthy, message: `${result.state}: ${redact(result.message)}`, result };
}
