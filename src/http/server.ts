/**
 * The daemon's HTTP server (OFFSITE_HTTP_ADDR), on Hono and @hono/node-server.
 *
 * Open: /livez, /readyz, /health, /metrics (OFFSITE_METRICS_TOKEN optionally guards it).
 * Nothing they answer is secret or names a backup.
 * /api/: a Bearer token (`offsite token create`, or OFFSITE_API_TOKEN) with the endpoint's
 * scope; 404 while no token exists. Endpoints handing out backup data also need BACKUP_KEY
 * (X-Backup-Key header, or "key" in a JSON body) and answer 404 without it.
 * README.md "HTTP API" documents every endpoint and its JSON.
 */
import { Hono, type Context } from 'hono';
import { serve, type HttpBindings } from '@hono/node-server';
import { streamSSE } from 'hono/streaming';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { DaemonControl } from '../schedule/daemon.ts';
import type { RunRecord, RunEvent, RunProgress, RunLogLine } from '../schedule/runs.ts';
import type { RunStats, RunStatus } from '../run/stats.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Inventory } from './inventory.ts';
import type { JobConfig } from '../config/index.ts';
import type { Destination } from '../destinations/types.ts';
import { evaluateHealth, formatTime, type HealthResult } from '../health/rule.ts';
import { TokenStore, secretEquals, type Scope, type TokenIdentity } from '../tokens/store.ts';
import { ProxyTrust, FailureLimiter, DownloadLimit } from './auth.ts';
import { createDestinations } from '../destinations/registry.ts';
import { verifyBackup } from '../restore/index.ts';
import { namingOf } from '../restore/commands.ts';
import { freshArchive } from '../run/fresh.ts';
import { parseAesKey } from '../crypto/aes.ts';
import { notifyEveryone } from './notify.ts';
import { errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';
import { HEALTH_MAX_AGE_MS } from '../health/state.ts';
import { mountPage } from './page.ts';
import { dayOf, HISTORY_DAYS, MAX_HISTORY_RUNS, type HistoryData, type HistoryRun } from '../run/history.ts';

export interface ServerDeps {
  control: DaemonControl;
  metrics: Metrics;
  inventory: Inventory;
  tokens: TokenStore;
  log: Logger;
  version: string;
  /** The clock (tests move it). */
  now?: () => Date;
  /** Readiness: configuration loaded and destinations built. */
  ready?: () => boolean;
  limiter?: FailureLimiter;
}

type Env = { Bindings: HttpBindings; Variables: { token: TokenIdentity; client: string } };

const JSON_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

/** The health rule applied to the daemon's HealthStore (the same rule as `offsite healthcheck`). */
export function healthOf(control: Pick<DaemonControl, 'health'>, now: Date): HealthResult {
  const h = control.health;
  return evaluateHealth({
    now,
    startedAt: h.startedAt,
    jobs: Object.entries(h.jobs).map(([job, r]) => ({
      job,
      intervalMs: r.intervalMs,
      lastAttempt: r.lastAttempt ? { at: new Date(r.lastAttempt.at), status: r.lastAttempt.status, cause: r.lastAttempt.cause } : null,
      lastSuccess: r.lastSuccess ? new Date(r.lastSuccess) : null,
    })),
  });
}

/** /health's body: states and times, no cause (a cause may name a backup or a path). */
function publicHealth(r: HealthResult, control: DaemonControl): Record<string, unknown> {
  return {
    status: r.state,
    jobs: r.jobs.map((j) => {
      const rec = control.health.jobs[j.job];
      return {
        job: j.job,
        status: j.state,
        lastSuccess: rec?.lastSuccess ?? null,
        lastAttempt: rec?.lastAttempt ? { at: rec.lastAttempt.at, status: rec.lastAttempt.status } : null,
        expectedIntervalSeconds: rec?.intervalMs ? Math.round(rec.intervalMs / 1000) : null,
      };
    }),
  };
}

/** A value as JSON.stringify writes it: dates become strings. */
export type Json<T> = T extends Date ? string : T extends (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;

/** One run in `/api/v1/runs`, `/api/v1/status` (running) and the events stream; the status page reads the same type. */
export interface RunSummaryJson {
  id: string;
  job: string;
  trigger: HistoryRun['trigger'];
  state: RunRecord['state'];
  started: string;
  finished: string | null;
  status: RunStatus | null;
  progress: RunProgress | null;
  archive: { size: number; files: number; sha256: string } | null;
  /** 'history': known only from the run history (no progress, stats or log). */
  source?: 'history';
  error?: string | null;
  destinations?: HistoryRun['destinations'];
}

/** `/api/v1/runs/{id}`. */
export interface RunDetailJson extends RunSummaryJson {
  stats: Json<RunStats> | null;
  logs: RunLogLine[];
  droppedLines: number;
}

export function runSummary(r: RunRecord): RunSummaryJson {
  return {
    id: r.id,
    job: r.job,
    trigger: r.trigger,
    state: r.state,
    started: r.started.toISOString(),
    finished: r.finished?.toISOString() ?? null,
    status: r.stats?.status ?? null,
    progress: r.progress ?? null,
    archive: r.stats?.archive ? { size: r.stats.archive.size, files: r.stats.archive.files, sha256: r.stats.archive.sha256 } : null,
  };
}

/** A run known only from the run history (an earlier daemon's, or `offsite backup`'s): no progress, stats or log. */
export function historySummary(r: HistoryRun): RunSummaryJson {
  return {
    id: r.id,
    job: r.job,
    trigger: r.trigger,
    state: 'finished',
    started: r.started,
    finished: r.finished,
    status: r.status,
    progress: null,
    archive: r.archive ? { size: r.archive.size, files: r.archive.files, sha256: r.archive.sha256 } : null,
    source: 'history',
    error: r.error ?? null,
    destinations: r.destinations,
  };
}

/** Days shown by the status page's strip. */
export const STRIP_DAYS = 30;

/** A job's runs per UTC day, by result, for the last STRIP_DAYS days: the run history's counts plus this daemon's runs it lacks. */
export function runDays(job: string, history: HistoryData | null, runs: readonly RunRecord[], now: Date): Array<Record<string, string | number>> {
  const out = new Map<string, { day: string; success: number; degraded: number; partial: number; failure: number }>();
  for (let i = STRIP_DAYS - 1; i >= 0; i--) {
    const day = dayOf(now.getTime() - i * 86_400_000);
    out.set(day, { day, success: 0, degraded: 0, partial: 0, failure: 0 });
  }
  for (const d of history?.days ?? []) {
    const o = d.job === job ? out.get(d.day) : undefined;
    if (o) for (const k of ['success', 'degraded', 'partial', 'failure'] as const) o[k] += d[k];
  }
  const known = new Set(history?.runs.map((r) => r.id));
  for (const r of runs) {
    if (r.job !== job || r.state !== 'finished' || !r.stats || known.has(r.id)) continue;
    const o = out.get(dayOf(r.finished ?? r.started));
    if (o) o[r.stats.status]++;
  }
  return [...out.values()];
}

function runDetail(r: RunRecord): RunDetailJson {
  return { ...runSummary(r), stats: r.stats ? JSON.parse(redact(JSON.stringify(r.stats))) : null, logs: r.logs, droppedLines: r.droppedLines };
}

function bearer(c: Context): string | null {
  const h = c.req.header('authorization');
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

export function createApp(deps: ServerDeps): Hono<Env> {
  const { control, metrics, inventory, tokens, log } = deps;
  const cfg = control.config.http;
  const now = deps.now ?? (() => new Date());
  const trust = new ProxyTrust(cfg.trustedProxies);
  const limiter = deps.limiter ?? new FailureLimiter();
  const downloads = new DownloadLimit(control.config.stateDir, cfg.downloadDailyLimit);
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    const peer = c.env?.incoming?.socket?.remoteAddress ?? '';
    c.set('client', trust.client(peer, c.req.header('x-forwarded-for')));
    await next();
  });
  app.onError((e, c) => {
    log.error({ path: c.req.path, error: errorMessage(e) }, 'HTTP request failed');
    return c.json({ error: "internal error; see the daemon's log" }, 500, JSON_HEADERS);
  });
  app.notFound((c) => c.json({ error: 'not found' }, 404, JSON_HEADERS));

  const tooMany = (c: Context<Env>): Response | null => {
    const wait = limiter.blockedFor(c.get('client'));
    if (!wait) return null;
    return c.json({ error: `too many failed authentications from ${c.get('client')}; try again in ${wait}s` }, 429, {
      ...JSON_HEADERS,
      'Retry-After': String(wait),
    });
  };
  const failAuth = (c: Context<Env>, status: 401 | 403, error: string): Response => {
    limiter.fail(c.get('client'));
    log.warn({ client: c.get('client'), path: c.req.path }, `HTTP authentication failed: ${error}`);
    return c.json({ error }, status, { ...JSON_HEADERS, ...(status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}) });
  };

  // --- open endpoints ---
  app.get('/livez', (c) => {
    const age = now().getTime() - control.lastTick().getTime();
    if (age > HEALTH_MAX_AGE_MS) return c.json({ status: 'down', error: `the scheduler last answered ${Math.round(age / 1000)}s ago` }, 503, JSON_HEADERS);
    return c.json({ status: 'ok' }, 200, JSON_HEADERS);
  });
  app.get('/readyz', (c) => {
    const ready = deps.ready ? deps.ready() : true;
    return c.json({ status: ready ? 'ok' : 'not ready' }, ready ? 200 : 503, JSON_HEADERS);
  });
  app.get('/health', (c) => {
    const r = healthOf(control, now());
    return c.json(publicHealth(r, control), r.healthy ? 200 : 503, JSON_HEADERS);
  });
  app.get('/metrics', async (c) => {
    if (cfg.metricsToken) {
      const blocked = tooMany(c);
      if (blocked) return blocked;
      const t = bearer(c);
      if (!t || !secretEquals(t, cfg.metricsToken))
        return failAuth(c, 401, t ? 'wrong metrics token' : 'this endpoint needs OFFSITE_METRICS_TOKEN as a Bearer token');
    }
    return c.body(await metrics.text(), 200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
  });

  // --- the API ---
  const api = new Hono<Env>();
  api.use('*', async (c, next) => {
    // no token at all: the API does not exist
    if (!tokens.any()) return c.json({ error: 'not found' }, 404, JSON_HEADERS);
    const blocked = tooMany(c);
    if (blocked) return blocked;
    const presented = bearer(c);
    if (!presented) return failAuth(c, 401, 'this endpoint needs a token: Authorization: Bearer TOKEN (offsite token create)');
    const r = tokens.check(presented, now());
    if (!r.ok) {
      if (r.reason === 'inactive')
        return c.json({ error: `token ${r.name} becomes valid at ${formatTime(r.activeFrom)} (OFFSITE_TOKEN_ACTIVATION_DELAY)` }, 403, JSON_HEADERS);
      return failAuth(c, 401, 'unknown or revoked token');
    }
    tokens.touch(r.token.name, now());
    c.set('token', r.token);
    await next();
  });
  const need = (c: Context<Env>, scope: Scope): Response | null =>
    c.get('token').scopes.includes(scope) ? null : c.json({ error: `token ${c.get('token').name} lacks the ${scope} scope` }, 403, JSON_HEADERS);
  /** BACKUP_KEY: 404 when unset; the key from X-Backup-Key or the JSON body's "key". */
  const needKey = (c: Context<Env>, bodyKey?: unknown): Response | null => {
    if (!cfg.backupKey) return c.json({ error: 'not found (backup downloads are disabled: BACKUP_KEY is not set)' }, 404, JSON_HEADERS);
    const given = c.req.header('x-backup-key') ?? (typeof bodyKey === 'string' ? bodyKey : undefined);
    if (!given) return failAuth(c, 403, 'this endpoint needs the backup key: X-Backup-Key header or "key" in the JSON body');
    if (!secretEquals(given, cfg.backupKey)) return failAuth(c, 403, 'wrong backup key');
    return null;
  };
  const jobOf = (name: string | undefined): JobConfig | null | 'ambiguous' => {
    const jobs = control.config.jobs;
    if (name) return jobs.find((j) => j.name === name) ?? null;
    return jobs.length === 1 ? jobs[0]! : 'ambiguous';
  };

  api.get('/v1/status', async (c) => {
    const denied = need(c, 'read');
    if (denied) return denied;
    const h = healthOf(control, now());
    const history = control.history ? await control.history.read() : null;
    const jobs = await Promise.all(
      control.config.jobs.map(async (job) => {
        const rec = control.health.jobs[job.name];
        const running = control.runs.running(job.name);
        const last = control.runs.last(job.name);
        let dests: Array<{ name: string; location: string }> = [];
        try {
          const built = await createDestinations(job, log);
          dests = built.map((d) => ({ name: d.name, location: redact(d.location) }));
          void Promise.allSettled(built.map((d) => d.close()));
        } catch (e) {
          dests = [{ name: '(error)', location: redact(errorMessage(e)) }];
        }
        return {
          name: job.name,
          schedule: job.schedule.cron,
          timezone: job.schedule.timezone,
          next: control.next(job.name)?.toISOString() ?? null,
          expectedIntervalSeconds: rec?.intervalMs ? Math.round(rec.intervalMs / 1000) : null,
          health: h.jobs.find((j) => j.job === job.name)?.state ?? 'ok',
          lastRun: rec?.lastAttempt ? { ...rec.lastAttempt, ...(last ? { id: last.id } : {}) } : null,
          lastSuccess: rec?.lastSuccess ?? null,
          running: running ? runSummary(running) : null,
          destinations: dests,
          days: runDays(job.name, history, control.runs.list(job.name), now()),
        };
      }),
    );
    return c.json({ version: deps.version, startedAt: control.health.startedAt.toISOString(), health: h.state, jobs }, 200, JSON_HEADERS);
  });

  api.post('/v1/runs', async (c) => {
    const denied = need(c, 'run');
    if (denied) return denied;
    let body: { job?: unknown } = {};
    if ((c.req.header('content-type') ?? '').includes('json')) {
      try {
        body = await c.req.json();
      } catch {
        return c.json({ error: 'the body is not JSON' }, 400, JSON_HEADERS);
      }
    }
    const job = jobOf(typeof body.job === 'string' ? body.job : undefined);
    if (job === 'ambiguous')
      return c.json(
        { error: `there are ${control.config.jobs.length} jobs; name one: {"job": "NAME"}`, jobs: control.config.jobs.map((j) => j.name) },
        400,
        JSON_HEADERS,
      );
    if (!job) return c.json({ error: 'no such job', jobs: control.config.jobs.map((j) => j.name) }, 404, JSON_HEADERS);
    const r = control.trigger(job.name);
    if (r === 'busy') {
      const running = control.runs.running(job.name);
      return c.json({ error: `a run of ${job.name} is going`, run: running ? runSummary(running) : null }, 409, JSON_HEADERS);
    }
    if (r === 'unknown') return c.json({ error: 'no such job' }, 404, JSON_HEADERS);
    log.info({ job: job.name, run: r.id, token: c.get('token').name, client: c.get('client') }, 'run started through the API');
    const location = `/api/v1/runs/${r.id}`;
    if (c.req.query('wait') === 'true') {
      // no byte moves until the run ends: this connection is exempt from the idle timeout (the run has its own deadlines)
      c.env?.incoming?.socket?.setTimeout(0);
      await waitFinished(control, r.id, c.req.raw.signal);
      return c.json(runDetail(control.runs.get(r.id) ?? r), 200, { ...JSON_HEADERS, Location: location });
    }
    return c.json(runSummary(r), 202, { ...JSON_HEADERS, Location: location });
  });

  api.get('/v1/runs', async (c) => {
    const denied = need(c, 'read');
    if (denied) return denied;
    const job = c.req.query('job');
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_RUNS)
      return c.json({ error: `limit must be a whole number from 1 to ${MAX_HISTORY_RUNS}` }, 400, JSON_HEADERS);
    // this daemon's runs (with progress and details), then the run history's (earlier daemons, `offsite backup`)
    const mine = control.runs.list(job);
    const ids = new Set(mine.map((r) => r.id));
    const history = control.history ? await control.history.read() : null;
    const older = (history?.runs ?? []).filter((r) => !ids.has(r.id) && (!job || r.job === job));
    const all = [
      ...mine.map((r) => ({ at: r.started.getTime(), json: runSummary(r) })),
      ...older.map((r) => ({ at: Date.parse(r.started), json: historySummary(r) })),
    ].sort((a, b) => b.at - a.at);
    return c.json({ runs: all.slice(0, limit).map((r) => r.json) }, 200, JSON_HEADERS);
  });
  api.get('/v1/runs/:id', async (c) => {
    const denied = need(c, 'read');
    if (denied) return denied;
    const r = control.runs.get(c.req.param('id'));
    if (!r) {
      const old = control.history ? (await control.history.read()).runs.find((x) => x.id === c.req.param('id')) : undefined;
      if (old) return c.json({ ...historySummary(old), stats: null, logs: [], droppedLines: 0 }, 200, JSON_HEADERS);
      return c.json({ error: `no such run (the run history keeps the last ${MAX_HISTORY_RUNS} runs of ${HISTORY_DAYS} days)` }, 404, JSON_HEADERS);
    }
    return c.json(runDetail(r), 200, JSON_HEADERS);
  });

  api.get('/v1/events', (c) => {
    const denied = need(c, 'read');
    if (denied) return denied;
    c.header('Cache-Control', 'no-store');
    // listening before the response starts: no event between the answer and the stream is lost
    const queue: RunEvent[] = [];
    let wake: (() => void) | null = null;
    const onRun = (e: RunEvent) => {
      queue.push(e);
      wake?.();
    };
    control.runs.on('run', onRun);
    return streamSSE(c, async (stream) => {
      const stopped = () => wake?.();
      control.signal.addEventListener('abort', stopped);
      stream.onAbort(() => wake?.());
      try {
        await stream.writeSSE({
          event: 'hello',
          data: JSON.stringify({
            running: control.config.jobs
              .map((j) => control.runs.running(j.name))
              .filter(Boolean)
              .map((r) => runSummary(r!)),
          }),
        });
        while (!stream.aborted && !stream.closed && !control.signal.aborted) {
          if (queue.length === 0) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, 15_000).unref();
            });
            wake = null;
            if (queue.length === 0 && !stream.aborted && !control.signal.aborted) await stream.write(': keep-alive\n\n');
            continue;
          }
          const e = queue.shift()!;
          await stream.writeSSE({ event: `run.${e.type}`, id: e.run.id, data: JSON.stringify(runSummary(e.run)) });
        }
      } finally {
        control.runs.off('run', onRun);
        control.signal.removeEventListener('abort', stopped);
      }
    });
  });

  api.get('/v1/backups', async (c) => {
    const denied = need(c, 'read');
    if (denied) return denied;
    const want = c.req.query('destination')?.toLowerCase();
    const all = (await inventory.all()).filter((d) => !want || d.destination.toLowerCase() === want);
    return c.json({ destinations: all }, 200, JSON_HEADERS);
  });

  /** The job and destination holding `name` on the destination called `destName` (a ?job= narrows it). */
  const locate = async (c: Context<Env>, destName: string, name: string): Promise<{ job: JobConfig; dest: Destination; size: number } | Response> => {
    const only = c.req.query('job');
    for (const job of control.config.jobs) {
      if (only && job.name !== only) continue;
      if (!name.startsWith(job.retention.prefix)) continue;
      let dests: Destination[];
      try {
        dests = await createDestinations(job, log);
      } catch {
        continue;
      }
      const dest = dests.find((d) => d.name.toLowerCase() === destName.toLowerCase());
      for (const d of dests) if (d !== dest) void d.close().catch(() => {});
      if (!dest) continue;
      try {
        const found = (await dest.list(name)).find((o) => o.name === name);
        if (found) return { job, dest, size: found.size };
      } catch (e) {
        await dest.close().catch(() => {});
        return c.json({ error: `cannot list ${dest.name}: ${redact(errorMessage(e))}` }, 502, JSON_HEADERS);
      }
      await dest.close().catch(() => {});
    }
    return c.json({ error: `no backup named ${name} on ${destName}` }, 404, JSON_HEADERS);
  };

  /** Log, notify and count one download or export; false (and the answer) when the daily limit is used up. */
  const takeDownload = async (c: Context<Env>, what: string, fields: Record<string, unknown>): Promise<Response | null> => {
    const token = c.get('token').name;
    const t = await downloads.take(token, now());
    if (!t.ok) {
      log.warn({ token, client: c.get('client'), ...fields }, `${what} refused: the daily limit of ${t.limit} is used up`);
      return c.json({ error: `token ${token} used its ${t.limit} downloads of today (OFFSITE_DOWNLOAD_DAILY_LIMIT); the limit resets at 00:00 UTC` }, 429, {
        ...JSON_HEADERS,
        'Retry-After': String(secondsToMidnight(now())),
      });
    }
    log.info({ token, client: c.get('client'), ...fields }, what);
    void notifyEveryone(
      control.config,
      {
        title: `[offsite] ${what}`,
        message: `${what} on ${hostname()} by token ${token} from ${c.get('client')}: ${Object.entries(fields)
          .map(([k, v]) => `${k} ${String(v)}`)
          .join(', ')}`,
        level: 'info',
      },
      log,
    );
    return null;
  };

  api.get('/v1/backups/:destination/:name', async (c) => {
    const denied = need(c, 'download') ?? needKey(c);
    if (denied) return denied;
    const found = await locate(c, c.req.param('destination'), c.req.param('name'));
    if (found instanceof Response) return found;
    const { job, dest, size } = found;
    const name = c.req.param('name');
    const limited = await takeDownload(c, 'backup downloaded', { job: job.name, destination: dest.name, backup: name });
    if (limited) {
      await dest.close().catch(() => {});
      return limited;
    }
    let source: Readable;
    try {
      source = await dest.download(name);
    } catch (e) {
      await dest.close().catch(() => {});
      return c.json({ error: `cannot read ${name} from ${dest.name}: ${redact(errorMessage(e))}` }, 502, JSON_HEADERS);
    }
    return c.body(
      streamOf(source, () => void dest.close().catch(() => {}), c.req.raw.signal),
      200,
      {
        ...archiveHeaders(name),
        'Content-Length': String(size),
      },
    );
  });

  api.post('/v1/backups/:destination/:name/verify', async (c) => {
    const denied = need(c, 'run');
    if (denied) return denied;
    const found = await locate(c, c.req.param('destination'), c.req.param('name'));
    if (found instanceof Response) return found;
    const { job, dest } = found;
    // no byte moves until the check ends (a large backup is read whole): exempt from the idle timeout like ?wait=true
    c.env?.incoming?.socket?.setTimeout(0);
    try {
      const r = await verifyBackup({
        destination: dest,
        name: c.req.param('name'),
        naming: namingOf(job),
        keys: job.encryption.keys,
        log: log.child({ job: job.name, task: 'verify' }),
        signal: control.signal,
        stateDir: control.config.stateDir,
      });
      if (r.ok) metrics.observeVerification(job.name, dest.name, now());
      inventory.invalidate(job.name);
      return c.json(
        {
          job: job.name,
          destination: r.destination,
          name: r.name,
          ok: r.ok,
          contentChecked: r.contentChecked,
          checks: r.checks,
          problems: r.problems.map(redact),
          warnings: r.warnings.map(redact),
        },
        200,
        JSON_HEADERS,
      );
    } finally {
      await dest.close().catch(() => {});
    }
  });

  // SysReptor: POST /api/v1/utils/backup/ {"key": BACKUP_KEY, "aes_key"?: 64 hex}: a fresh archive, streamed
  const sysreptor = async (c: Context<Env>) => {
    let body: Record<string, unknown> = {};
    const type = c.req.header('content-type') ?? '';
    if (type.includes('json')) {
      try {
        body = await c.req.json();
      } catch {
        return c.json({ error: 'the body is not JSON' }, 400, JSON_HEADERS);
      }
    } else if (type.includes('form')) {
      body = Object.fromEntries(Object.entries(await c.req.parseBody()).filter(([, v]) => typeof v === 'string'));
    }
    const denied = need(c, 'download') ?? needKey(c, body.key);
    if (denied) return denied;
    let aesKey: Buffer | null = null;
    if (body.aes_key !== undefined && body.aes_key !== null && body.aes_key !== '') {
      aesKey = typeof body.aes_key === 'string' ? parseAesKey(body.aes_key) : null;
      if (!aesKey) return c.json({ error: '"aes_key" must be 64 hexadecimal characters (256 bits)' }, 400, JSON_HEADERS);
    }
    const job = jobOf(typeof body.job === 'string' ? body.job : c.req.query('job'));
    if (job === 'ambiguous')
      return c.json({ error: 'there are several jobs; name one: {"job": "NAME"}', jobs: control.config.jobs.map((j) => j.name) }, 400, JSON_HEADERS);
    if (!job) return c.json({ error: 'no such job' }, 404, JSON_HEADERS);
    const limited = await takeDownload(c, 'backup downloaded', { kind: 'fresh export', job: job.name, encrypted: aesKey ? 'aes' : 'no' });
    if (limited) return limited;
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, control.signal]);
    const { archive, extension } = freshArchive(job, { log: log.child({ job: job.name, task: 'export' }), signal, aesKey });
    archive.done.then(
      (r) => log.info({ job: job.name, token: c.get('token').name, size: r.size, files: r.files, sha256: r.sha256 }, 'backup export finished'),
      (e) => log.warn({ job: job.name, token: c.get('token').name, error: errorMessage(e) }, 'backup export ended early'),
    );
    const stamp = now()
      .toISOString()
      .replace(/\.\d+Z$/, '')
      .replace(/:/g, '-');
    return c.body(
      streamOf(archive.stream, () => controller.abort(new Error('the client went away')), c.req.raw.signal),
      200,
      archiveHeaders(`${job.name}-${stamp}.${extension}`),
    );
  };
  api.post('/v1/utils/backup/', sysreptor);
  api.post('/v1/utils/backup', sysreptor);

  app.route('/api', api);
  // the status page: a client of the API above, as the signed-in session's token
  mountPage(app, { control, tokens, now });
  return app;
}

function archiveHeaders(filename: string): Record<string, string> {
  const safe = filename.replace(/[^A-Za-z0-9._-]/g, '_');
  return {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': `attachment; filename="${safe}"`,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
}

/**
 * A web stream over a Node stream, read only as fast as the client takes it; when the client
 * goes away (or the response is cancelled) the source is destroyed, so nothing more is read
 * from the destination, and `onEnd` runs once.
 */
export function streamOf(source: Readable, onEnd: () => void, requestSignal?: AbortSignal): ReadableStream<Uint8Array> {
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
  const reader = web.getReader();
  requestSignal?.addEventListener(
    'abort',
    () => {
      source.destroy();
      end();
    },
    { once: true },
  );
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            ctrl.close();
            end();
            return;
          }
          ctrl.enqueue(value);
        } catch (e) {
          end();
          ctrl.error(e);
        }
      },
      cancel() {
        source.destroy();
        void reader.cancel().catch(() => {});
        end();
      },
    },
    { highWaterMark: 0 },
  );
}

function secondsToMidnight(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

function waitFinished(control: DaemonControl, id: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (control.runs.get(id)?.state !== 'running') {
      resolve();
      return;
    }
    const done = () => {
      control.runs.off('run', on);
      control.signal.removeEventListener('abort', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const on = (e: RunEvent) => {
      if (e.type === 'finished' && e.run.id === id) done();
    };
    control.runs.on('run', on);
    control.signal.addEventListener('abort', done);
    signal.addEventListener('abort', done);
  });
}

/** A connection where no byte moves for this long is closed (SSE sends a keep-alive every 15 s). */
export const IDLE_TIMEOUT_MS = 120_000;

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Listen on `listen`; resolves once listening (rejects with a clear error when the port is taken). */
export function listen(app: Hono<Env>, where: { host: string; port: number }): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: where.host, port: where.port }) as Server;
    // longer than clients' own idle timeout (undici: 4 s), so a client never reuses a connection the server is closing
    server.keepAliveTimeout = 65_000;
    // a client that stops reading (or sending) for this long is dropped, which ends its download's reading
    server.timeout = IDLE_TIMEOUT_MS;
    server.once('error', (e) => reject(new Error(`cannot listen on ${where.host}:${where.port} (OFFSITE_HTTP_ADDR): ${errorMessage(e)}`)));
    server.once('listening', () => {
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        url: `http://${host}:${a.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
