/**
 * The run history (issue 17): one compact record per run, kept in
 * OFFSITE_STATE_DIR/run-history.json by the daemon and by `offsite backup` (e.g. a
 * Kubernetes CronJob), so the status page's "last 30 days" strip and its runs list survive a
 * restart and show runs of other processes.
 *
 * Like last-runs.json and verifications.json: the whole file is replaced atomically (a
 * temporary file, then rename); a short-lived lock file (`run-history.json.lock`, created with
 * O_EXCL, taken over after LOCK_STALE_MS) keeps two processes from losing each other's record;
 * in one process appends are queued. Bounded: the runs of the last HISTORY_DAYS days, at most
 * MAX_HISTORY_RUNS of them, plus one count per job and day (the strip needs no more) and the
 * counts of every result since the file was created (the Pushgateway's runs counter); the file
 * is read only up to MAX_HISTORY_BYTES. A damaged or oversized file is set aside as
 * `run-history.json.bad` with a warning and the history starts afresh; nothing here ever
 * fails a run (a state directory that cannot be written is a warning).
 */
import { mkdir, open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { RunStats, RunStatus } from './stats.ts';
import { errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';

export const HISTORY_FILE = 'run-history.json';
/** Runs and day counts older than this are dropped. */
export const HISTORY_DAYS = 35;
/** At most this many runs are kept (the newest). */
export const MAX_HISTORY_RUNS = 1000;
/** A larger file is not read (set aside with a warning). */
export const MAX_HISTORY_BYTES = 4 << 20;
/** Jobs whose result counts are kept. */
const MAX_JOBS = 200;
/** Error texts are cut to this many characters. */
const MAX_TEXT = 300;
/** A lock file older than this is left over from a killed process and taken over. */
export const LOCK_STALE_MS = 10_000;
/** How long an append waits for another process's lock before writing anyway. */
const LOCK_WAIT_MS = 3_000;

const STATUSES: readonly RunStatus[] = ['success', 'degraded', 'partial', 'failure'];
const DAY_MS = 86_400_000;

export interface HistoryDestination {
  destination: string;
  /** Without secrets. */
  location: string;
  ok: boolean;
  bytes: number;
  error?: string;
  /** Backups retention removed there (0: none, or pruning did not run). */
  pruned?: number;
  /** Pruning failed there. */
  pruneFailed?: boolean;
}

export interface HistoryRun {
  id: string;
  job: string;
  /** The daemon's schedule, an API request, or `offsite backup` (cli). */
  trigger: 'schedule' | 'api' | 'cli';
  started: string;
  finished: string;
  status: RunStatus;
  archive: { name: string; size: number; files: number; sha256: string } | null;
  /** `phase: message` of a failed run (redacted, cut). */
  error?: string;
  destinations: HistoryDestination[];
}

/** How many runs of one job ended on one UTC day, by result. */
export interface HistoryDay extends Record<RunStatus, number> {
  job: string;
  /** YYYY-MM-DD, UTC. */
  day: string;
}

export interface HistoryData {
  version: 1;
  runs: HistoryRun[];
  days: HistoryDay[];
  /** Runs of each job by result since the file was created (a counter; it restarts only with a new file). */
  totals: Record<string, Record<RunStatus, number>>;
  /** Per job and destination: backups removed by retention, and failed prunes, since the file was created (counters). */
  prune: Record<string, Record<string, PruneTotals>>;
}

export interface PruneTotals {
  deleted: number;
  errors: number;
}

export const emptyHistory = (): HistoryData => ({ version: 1, runs: [], days: [], totals: {}, prune: {} });

const cut = (s: string) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT - 1)}…` : s);
export const dayOf = (t: number | string | Date) => new Date(t).toISOString().slice(0, 10);

/** The compact record of one finished run. */
export function historyRecord(stats: RunStats, id: string, trigger: HistoryRun['trigger']): HistoryRun {
  const a = stats.archive;
  return {
    id,
    job: stats.job,
    trigger,
    started: stats.start.toISOString(),
    finished: stats.end.toISOString(),
    status: stats.status,
    archive: a ? { name: a.name, size: a.size, files: a.files, sha256: a.sha256 } : null,
    ...(stats.error ? { error: cut(redact(`${stats.error.phase}: ${stats.error.message}`)) } : {}),
    destinations: stats.destinations.map((d) => ({
      destination: d.destination,
      location: cut(redact(d.location)),
      ok: d.ok,
      bytes: d.bytes,
      ...(d.error ? { error: cut(redact(d.error)) } : {}),
      ...(d.pruned > 0 ? { pruned: d.pruned } : {}),
      ...(d.pruneNote?.startsWith('prune failed') ? { pruneFailed: true } : {}),
    })),
  };
}

const isStr = (x: unknown): x is string => typeof x === 'string';
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isStatus = (x: unknown): x is RunStatus => STATUSES.includes(x as RunStatus);

function validRun(r: unknown): r is HistoryRun {
  if (!r || typeof r !== 'object') return false;
  const x = r as Record<string, unknown>;
  return (
    isStr(x.id) &&
    isStr(x.job) &&
    isStr(x.started) &&
    isStr(x.finished) &&
    !Number.isNaN(Date.parse(x.finished)) &&
    isStatus(x.status) &&
    Array.isArray(x.destinations) &&
    (x.archive === null || (typeof x.archive === 'object' && isNum((x.archive as Record<string, unknown>).size)))
  );
}

function validDay(d: unknown): d is HistoryDay {
  if (!d || typeof d !== 'object') return false;
  const x = d as Record<string, unknown>;
  return isStr(x.job) && isStr(x.day) && /^\d{4}-\d{2}-\d{2}$/.test(x.day) && STATUSES.every((s) => isNum(x[s]));
}

/** The history's shape checked; entries that are not records are dropped, a file that is not a history at all throws. */
export function parseHistory(text: string): HistoryData {
  const j = JSON.parse(text) as Record<string, unknown>;
  if (!j || typeof j !== 'object' || j.version !== 1 || !Array.isArray(j.runs) || !Array.isArray(j.days)) throw new Error('it is not a run history');
  const totals: HistoryData['totals'] = {};
  if (j.totals && typeof j.totals === 'object')
    for (const [job, t] of Object.entries(j.totals as Record<string, unknown>)) {
      if (!t || typeof t !== 'object') continue;
      const c = t as Record<string, unknown>;
      totals[job] = Object.fromEntries(STATUSES.map((s) => [s, isNum(c[s]) ? c[s] : 0])) as Record<RunStatus, number>;
    }
  const prune: HistoryData['prune'] = {};
  if (j.prune && typeof j.prune === 'object')
    for (const [job, byDest] of Object.entries(j.prune as Record<string, unknown>)) {
      if (!byDest || typeof byDest !== 'object') continue;
      for (const [dest, t] of Object.entries(byDest as Record<string, unknown>)) {
        const c = (t ?? {}) as Record<string, unknown>;
        (prune[job] ??= {})[dest] = { deleted: isNum(c.deleted) ? c.deleted : 0, errors: isNum(c.errors) ? c.errors : 0 };
      }
    }
  return {
    version: 1,
    runs: j.runs.filter(validRun).sort((a, b) => Date.parse(a.finished) - Date.parse(b.finished)),
    days: j.days.filter(validDay),
    totals,
    prune,
  };
}

/** The file as it is, or why it cannot be used (absent is an empty history, not a problem). */
export async function readHistoryFile(file: string): Promise<{ data: HistoryData; problem?: string; stamp?: string }> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { data: emptyHistory() };
    return { data: emptyHistory(), problem: `cannot be read (${errorMessage(e)})` };
  }
  if (!st.isFile()) return { data: emptyHistory(), problem: 'is not a regular file' };
  if (st.size > MAX_HISTORY_BYTES) return { data: emptyHistory(), problem: `is larger than ${MAX_HISTORY_BYTES >> 20} MiB` };
  const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
  let text: string;
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return { data: emptyHistory() };
  try {
    const buf = Buffer.alloc(Math.min(st.size, MAX_HISTORY_BYTES) + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_HISTORY_BYTES) return { data: emptyHistory(), problem: `is larger than ${MAX_HISTORY_BYTES >> 20} MiB` };
    text = buf.subarray(0, bytesRead).toString('utf8');
  } catch (e) {
    return { data: emptyHistory(), problem: `cannot be read (${errorMessage(e)})` };
  } finally {
    await fh.close().catch(() => {});
  }
  try {
    return { data: parseHistory(text), stamp };
  } catch (e) {
    return { data: emptyHistory(), problem: `is damaged (${e instanceof SyntaxError ? 'not valid JSON' : errorMessage(e)})` };
  }
}

/** Adds one run (once: a known id is skipped) and drops what is older than HISTORY_DAYS before `now`. */
export function addRun(data: HistoryData, run: HistoryRun, now = new Date()): HistoryData {
  if (!data.runs.some((r) => r.id === run.id)) {
    const last = data.runs.at(-1);
    data.runs.push(run);
    // kept in order of finishing (another process's run may have finished earlier)
    if (last && Date.parse(run.finished) < Date.parse(last.finished)) data.runs.sort((a, b) => Date.parse(a.finished) - Date.parse(b.finished));
    const day = dayOf(run.finished);
    let d = data.days.find((x) => x.job === run.job && x.day === day);
    if (!d) data.days.push((d = { job: run.job, day, success: 0, degraded: 0, partial: 0, failure: 0 }));
    d[run.status]++;
    const t = (data.totals[run.job] ??= { success: 0, degraded: 0, partial: 0, failure: 0 });
    t[run.status]++;
    for (const dest of run.destinations) {
      const p = ((data.prune[run.job] ??= {})[dest.destination] ??= { deleted: 0, errors: 0 });
      p.deleted += isNum(dest.pruned) ? Math.max(0, dest.pruned) : 0;
      if (dest.pruneFailed) p.errors++;
    }
  }
  const oldest = dayOf(now.getTime() - HISTORY_DAYS * DAY_MS);
  let drop = Math.max(0, data.runs.length - MAX_HISTORY_RUNS);
  while (drop < data.runs.length && dayOf(data.runs[drop]!.finished) < oldest) drop++;
  if (drop) data.runs = data.runs.slice(drop);
  data.days = data.days.filter((d) => d.day >= oldest).sort((a, b) => a.day.localeCompare(b.day) || a.job.localeCompare(b.job));
  const jobs = Object.keys(data.totals);
  if (jobs.length > MAX_JOBS) {
    const recent = new Set(data.days.map((d) => d.job));
    for (const j of jobs)
      if (Object.keys(data.totals).length > MAX_JOBS && !recent.has(j) && j !== run.job) {
        delete data.totals[j];
        delete data.prune[j];
      }
  }
  return data;
}

/** In one process, appends to one file go one after the other. */
const queues = new Map<string, Promise<unknown>>();

async function withFileLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let held = false;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(`${process.pid}\n`).finally(() => fh.close());
      held = true;
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > LOCK_STALE_MS) {
        await unlink(lock).catch(() => {});
        continue;
      }
      // another process holds it for longer than a write takes: write anyway (a record may be lost, never a run)
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    if (held) await unlink(lock).catch(() => {});
  }
}

/**
 * One state directory's run history. The daemon keeps one (it also remembers what it could not
 * write); `offsite backup` uses `recordRun`.
 */
export class RunHistory {
  readonly file: string;
  private readonly dir: string;
  private readonly log: Logger;
  private memory: HistoryData = emptyHistory();
  private stamp: string | undefined;
  /** Runs this process could not write (shown while it runs; written with the next run that can be). */
  private unsaved: HistoryRun[] = [];
  private readonly warned = new Set<string>();

  constructor(stateDir: string, log: Logger) {
    this.dir = stateDir;
    this.file = join(stateDir, HISTORY_FILE);
    this.log = log;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn({ file: this.file }, message);
  }

  /** The history as on disk now (re-read only when the file changed); what this process knows when it cannot be read. */
  async read(): Promise<HistoryData> {
    const r = await readHistoryFile(this.file);
    if (r.problem) {
      this.warnOnce(`read:${r.problem}`, `the run history ${this.file} ${r.problem}; the next run sets it aside and starts a new one`);
      return this.memory;
    }
    if (r.stamp && r.stamp === this.stamp) return this.memory;
    // runs this process could not write stay visible
    for (const m of this.unsaved) addRun(r.data, m);
    this.memory = r.data;
    this.stamp = r.stamp;
    return this.memory;
  }

  /** The last known totals of a job (counts by result), from memory. */
  totals(job: string): Record<RunStatus, number> | undefined {
    return this.memory.totals[job];
  }

  /** The last known prune counts of a job per destination, from memory. */
  prune(job: string): Record<string, PruneTotals> | undefined {
    return this.memory.prune[job];
  }

  /** Record one run. Never throws: a problem is a warning, the run is kept in memory. */
  async append(run: HistoryRun, now = new Date()): Promise<HistoryData> {
    const prev = queues.get(this.file) ?? Promise.resolve();
    const p = prev.then(() => this.appendNow(run, now));
    const tail = p.catch(() => {});
    queues.set(this.file, tail);
    void tail.then(() => {
      if (queues.get(this.file) === tail) queues.delete(this.file);
    });
    return p;
  }

  private async appendNow(run: HistoryRun, now: Date): Promise<HistoryData> {
    try {
      await mkdir(this.dir, { recursive: true });
      return await withFileLock(`${this.file}.lock`, async () => {
        const r = await readHistoryFile(this.file);
        let data = r.data;
        if (r.problem) {
          const aside = `${this.file}.bad`;
          const moved = await rename(this.file, aside).then(
            () => true,
            () => false,
          );
          this.log.warn(
            { file: this.file },
            `the run history ${this.file} ${r.problem}; ${moved ? `set aside as ${aside}; ` : ''}a new history starts with this run (the backup itself is not affected)`,
          );
          // what this process knew survives
          data = this.memory;
        }
        for (const u of this.unsaved) addRun(data, u, now);
        addRun(data, run, now);
        const tmp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
        try {
          await writeFile(tmp, JSON.stringify(data));
          await rename(tmp, this.file);
        } catch (e) {
          await unlink(tmp).catch(() => {});
          throw e;
        }
        this.memory = data;
        this.stamp = undefined;
        this.unsaved = [];
        return data;
      });
    } catch (e) {
      addRun(this.memory, run, now);
      if (this.unsaved.length < MAX_HISTORY_RUNS) this.unsaved.push(run);
      this.warnOnce(
        'write',
        `cannot record the run in the run history ${this.file} (${errorMessage(e)}); the status page shows it only while this process runs`,
      );
      return this.memory;
    }
  }
}

/** `offsite backup`: record one run in OFFSITE_STATE_DIR's history (a warning when it cannot). */
export async function recordRun(stateDir: string, stats: RunStats, id: string, trigger: HistoryRun['trigger'], log: Logger): Promise<HistoryData> {
  return new RunHistory(stateDir, log).append(historyRecord(stats, id, trigger));
}
