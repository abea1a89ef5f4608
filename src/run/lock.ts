/**
 * Runs never overlap: not two jobs of one daemon, not the daemon and a manual
 * `offsite backup` in the same container (they share Config.lockFile).
 *
 * - In-process: a FIFO mutex per lock path.
 * - Across processes: a lock file created atomically with its content (written to a
 *   private temporary file, then hard-linked to the lock path, which fails when the path
 *   exists; `open(path, 'wx')` where hard links are not supported). The content names the
 *   holder: pid, host, boot id, the process's start time, a random token.
 * - A lock whose holder is gone (pid not alive: ESRCH; pid reused by another process; this
 *   very pid after a restart; another boot) or whose content is garbage is stale and is taken
 *   over. Only the holder of a short-lived guard file (`<lock>.takeover`) may remove a lock
 *   it did not create, and only after reading the very same stale content again under the
 *   guard, so two processes never both take over, and a fresh lock is never removed.
 * - A lock held by a process on another host (shared volume) cannot be checked: it is
 *   treated as held until LOCK_TIMEOUT, and the error says so.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { formatDuration } from '../config/duration.ts';
import { UserError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { sleep } from '../retry.ts';

export interface LockOptions {
  /** How long to wait for another run (LOCK_TIMEOUT); 0 = fail at once when held. */
  timeoutMs: number;
  signal?: AbortSignal;
  log?: Logger;
  /** How often to look at the lock file while another process holds it. Default 500 ms. */
  pollMs?: number;
  /** Who is asking (job name), written into the lock file and shown to waiters. */
  owner?: string;
}

export interface LockHandle {
  /** Releases the lock (idempotent). */
  release(): Promise<void>;
  /** How long acquiring waited for other runs, in ms. */
  waitedMs: number;
  /** Whether another run held the lock (in this process or another) when this one asked for it. */
  contended: boolean;
}

interface LockInfo {
  pid: number;
  host: string;
  token: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  owner?: string;
  /** Linux: /proc/sys/kernel/random/boot_id. */
  bootId?: string;
  /** Linux: start time of the process in clock ticks since boot (/proc/<pid>/stat field 22). */
  procStart?: string;
}

type Holder =
  | { state: 'gone' }
  | { state: 'alive'; info: LockInfo }
  | { state: 'unknown'; info: LockInfo }
  | { state: 'creating' }
  | { state: 'stale'; raw: string; why: string; info: LockInfo | null };

/** A fresh empty lock file may be one being written by `open(wx)` + write; older than this, it is garbage. */
const EMPTY_GRACE_MS = 5_000;
/** A takeover guard lives for a few syscalls; one older than this was left by a crash. */
const GUARD_STALE_MS = 10_000;

// ---------------------------------------------------------------------------
// In-process FIFO mutex, one per resolved lock path.

interface LocalHolder {
  owner: string | undefined;
  since: number;
}
interface Waiter {
  holder: LocalHolder;
  grant: () => void;
}
interface LocalMutex {
  held: LocalHolder | null;
  queue: Waiter[];
}
const mutexes = new Map<string, LocalMutex>();

function localRelease(key: string): void {
  const m = mutexes.get(key);
  if (!m) return;
  const next = m.queue.shift();
  if (next) {
    m.held = next.holder;
    next.grant();
  } else {
    m.held = null;
    mutexes.delete(key);
  }
}

// ---------------------------------------------------------------------------
// Files held by this process: removed on exit so a normal exit never leaves a lock behind.

const heldFiles = new Map<string, string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', releaseHeldLocksSync);
}

/** Remove every lock file this process holds, synchronously (exit paths that cannot wait). */
export function releaseHeldLocksSync(): void {
  for (const [path, raw] of heldFiles) {
    try {
      if (readFileSync(path, 'utf8') === raw) unlinkSync(path);
    } catch {
      /* best effort */
    }
  }
  heldFiles.clear();
}

// ---------------------------------------------------------------------------

function readProcStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: fields after the last ')' start at field 3.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

let bootIdCache: string | undefined | null = null;
function bootId(): string | undefined {
  if (bootIdCache === null) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      bootIdCache = undefined;
    }
  }
  return bootIdCache;
}

function parseInfo(raw: string): LockInfo | null {
  try {
    const v = JSON.parse(raw) as Partial<LockInfo>;
    if (!v || typeof v !== 'object') return null;
    if (!Number.isInteger(v.pid) || (v.pid as number) <= 0) return null;
    if (typeof v.host !== 'string' || typeof v.token !== 'string' || typeof v.startedAt !== 'string') return null;
    return v as LockInfo;
  } catch {
    return null;
  }
}

const ownTokens = new Set<string>();

/** Is the process named by a lock file still there? */
function liveness(info: LockInfo): { alive: true } | { alive: false; why: string } | { alive: 'unknown' } {
  if (info.host !== hostname()) return { alive: 'unknown' };
  const boot = bootId();
  if (info.bootId && boot && info.bootId !== boot) return { alive: false, why: 'it was taken before the last reboot' };
  if (info.pid === process.pid) {
    return ownTokens.has(info.token) ? { alive: true } : { alive: false, why: 'it was left by an earlier process with this same pid' };
  }
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return { alive: false, why: `process ${info.pid} is no longer running` };
    // EPERM: alive, owned by another user.
  }
  if (info.procStart) {
    const now = readProcStart(info.pid);
    if (now !== undefined && now !== info.procStart) return { alive: false, why: `pid ${info.pid} now belongs to another process` };
  }
  return { alive: true };
}

async function readHolder(path: string): Promise<Holder> {
  let raw: string;
  let mtimeMs: number;
  try {
    raw = await readFile(path, 'utf8');
    mtimeMs = (await stat(path)).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'gone' };
    throw e;
  }
  if (raw === '' && Date.now() - mtimeMs < EMPTY_GRACE_MS) return { state: 'creating' };
  const info = parseInfo(raw);
  if (!info) return { state: 'stale', raw, why: 'its content is not a lock record', info: null };
  const l = liveness(info);
  if (l.alive === true) return { state: 'alive', info };
  if (l.alive === 'unknown') return { state: 'unknown', info };
  return { state: 'stale', raw, why: l.why, info };
}

/** Create the lock file with its content in one step. Returns false when it exists. */
async function tryCreate(path: string, raw: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fallback = false;
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(raw);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') fallback = true;
      else throw e;
    }
  } finally {
    await unlink(tmp).catch(() => {});
  }
  if (!fallback) return false;
  // File systems without hard links: exclusive create, then write (readers give an empty file EMPTY_GRACE_MS).
  let fh;
  try {
    fh = await open(path, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await fh.writeFile(raw);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/**
 * Remove a stale lock, under the takeover guard, only if it still holds exactly `staleRaw`.
 * 'removed': this call removed it; 'changed': the file changed meanwhile (retry at once);
 * 'busy': another process holds the guard (retry shortly).
 */
async function takeOver(path: string, staleRaw: string): Promise<'removed' | 'changed' | 'busy'> {
  const guard = `${path}.takeover`;
  let fh;
  try {
    fh = await open(guard, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    try {
      const s = await stat(guard);
      if (Date.now() - s.mtimeMs > GUARD_STALE_MS) await unlink(guard).catch(() => {});
    } catch {
      /* gone meanwhile */
    }
    return 'busy';
  }
  try {
    await fh.writeFile(`${process.pid}\n`);
    await fh.close();
    fh = undefined;
    let now: string;
    try {
      now = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'changed';
      throw e;
    }
    if (now !== staleRaw) return 'changed'; // someone else already took over; compete again
    await unlink(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    return 'removed';
  } finally {
    if (fh) await fh.close().catch(() => {});
    await unlink(guard).catch(() => {});
  }
}

const round = (ms: number) => formatDuration(Math.max(0, Math.round(ms / 1000)) * 1000);

function holderText(info: LockInfo): string {
  const parts = [`pid ${info.pid}`];
  if (info.host !== hostname()) parts.push(`on host ${info.host}`);
  if (info.owner) parts.push(`job ${info.owner}`);
  return parts.join(', ');
}

function heldForMs(info: LockInfo): number | null {
  const t = Date.parse(info.startedAt);
  return Number.isFinite(t) ? Date.now() - t : null;
}

function mkLockError(path: string, timeoutMs: number, info: LockInfo | null): UserError {
  const held = info ? heldForMs(info) : null;
  const who = info ? `another backup run (${holderText(info)})` : 'another backup run';
  const since = held !== null ? ` for ${round(held)}` : '';
  const remote =
    info && info.host !== hostname() ? ` It runs on another host, so offsite cannot tell whether it is still alive; if it is not, remove ${path}.` : '';
  return new UserError(
    `${who} has held the lock ${path}${since}; waited LOCK_TIMEOUT=${formatDuration(timeoutMs)}.${remote}`,
    'runs never overlap: raise LOCK_TIMEOUT or space the schedules further apart',
  );
}

/**
 * Take the run lock: first in this process (FIFO), then across processes.
 * Waits up to `timeoutMs` in total; logs once at info when it has to wait.
 */
export async function acquireLock(path: string, opts: LockOptions): Promise<LockHandle> {
  const key = resolve(path);
  const started = Date.now();
  let contended = false;
  const deadline = started + Math.max(0, opts.timeoutMs);
  const pollMs = Math.max(10, opts.pollMs ?? 500);
  const { signal, log } = opts;
  signal?.throwIfAborted();
  let loggedWait = false;
  const logWait = (holder: string, heldMs: number | null) => {
    if (loggedWait) return;
    loggedWait = true;
    log?.info(
      { lockFile: key, holder, ...(heldMs !== null ? { heldFor: round(heldMs) } : {}) },
      `waiting for another run to finish, up to LOCK_TIMEOUT (${formatDuration(opts.timeoutMs)})`,
    );
  };

  // 1. In-process.
  const me: LocalHolder = { owner: opts.owner, since: 0 };
  let m = mutexes.get(key);
  if (!m) {
    m = { held: null, queue: [] };
    mutexes.set(key, m);
  }
  if (m.held === null) {
    me.since = Date.now();
    m.held = me;
  } else {
    contended = true;
    const mutex = m;
    const other = mutex.held!;
    logWait(other.owner ? `job ${other.owner} in this process` : 'a job in this process', Date.now() - other.since);
    await new Promise<void>((resolveWait, reject) => {
      const waiter: Waiter = {
        holder: me,
        grant: () => {
          cleanup();
          me.since = Date.now();
          resolveWait();
        },
      };
      const drop = () => {
        const i = mutex.queue.indexOf(waiter);
        if (i >= 0) mutex.queue.splice(i, 1);
      };
      const onAbort = () => {
        cleanup();
        drop();
        reject(signal!.reason);
      };
      const timer = setTimeout(
        () => {
          cleanup();
          drop();
          const cur = mutex.held;
          const who = cur?.owner ? `another backup job in this process (job ${cur.owner})` : 'another backup job in this process';
          const since = cur ? ` has been running for ${round(Date.now() - cur.since)}` : ' is still running';
          reject(
            new UserError(
              `${who}${since}; waited LOCK_TIMEOUT=${formatDuration(opts.timeoutMs)} for the lock ${key}`,
              'runs never overlap: raise LOCK_TIMEOUT or space the schedules further apart',
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      mutex.queue.push(waiter);
    });
  }

  // 2. Across processes.
  try {
    const token = randomBytes(12).toString('hex');
    const info: LockInfo = {
      pid: process.pid,
      host: hostname(),
      token,
      startedAt: '',
      ...(opts.owner ? { owner: opts.owner } : {}),
      ...(bootId() ? { bootId: bootId() } : {}),
      ...(readProcStart(process.pid) ? { procStart: readProcStart(process.pid) } : {}),
    };
    let madeDir = false;
    for (;;) {
      signal?.throwIfAborted();
      info.startedAt = new Date().toISOString();
      const raw = `${JSON.stringify(info)}\n`;
      let created: boolean;
      try {
        created = await tryCreate(key, raw);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && !madeDir) {
          madeDir = true;
          await mkdir(dirname(key), { recursive: true }).catch(() => {});
          continue;
        }
        throw new UserError(`cannot create the lock file ${key}: ${errorMessage(e)}`, 'set OFFSITE_LOCK_FILE to a path in a writable directory', { cause: e });
      }
      if (created) {
        ownTokens.add(token);
        heldFiles.set(key, raw);
        installExitHook();
        return { waitedMs: Date.now() - started, contended, release: makeRelease(key, raw, token, log) };
      }
      contended = true;
      const h = await readHolder(key);
      if (h.state === 'gone') continue;
      if (h.state === 'stale') {
        const r = await takeOver(key, h.raw);
        if (r === 'removed') log?.warn({ lockFile: key }, `took over a stale lock${h.info ? ` left by pid ${h.info.pid}` : ''}: ${h.why}`);
        if (r !== 'busy') continue;
        if (Date.now() >= deadline) throw mkLockError(key, opts.timeoutMs, h.info);
        await sleep(Math.min(50, pollMs), signal);
        continue;
      }
      const holderInfo = h.state === 'alive' || h.state === 'unknown' ? h.info : null;
      if (holderInfo) logWait(holderText(holderInfo), heldForMs(holderInfo));
      if (Date.now() >= deadline) throw mkLockError(key, opts.timeoutMs, holderInfo);
      await sleep(Math.min(h.state === 'creating' ? Math.min(50, pollMs) : pollMs, deadline - Date.now()), signal);
    }
  } catch (e) {
    localRelease(key);
    throw e;
  }
}

function makeRelease(key: string, raw: string, token: string, log: Logger | undefined): () => Promise<void> {
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    try {
      let now: string | null = null;
      try {
        now = await readFile(key, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (now === raw)
        await unlink(key).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
      else
        log?.warn(
          { lockFile: key },
          now === null
            ? 'the lock file was removed by someone else while this run held it'
            : 'the lock file was replaced by someone else while this run held it; left it alone',
        );
    } finally {
      heldFiles.delete(key);
      ownTokens.delete(token);
      localRelease(key);
    }
  };
}
