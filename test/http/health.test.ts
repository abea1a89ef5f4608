// /health over real HTTP with a fake clock: starting -> ok -> failing -> stale, the same
// rule as `offsite healthcheck`; /livez, /readyz; /metrics with and without its token.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthStore } from '../../src/health/state.ts';
import { RunRegistry } from '../../src/schedule/runs.ts';
import { createApp, listen, type RunningServer } from '../../src/http/server.ts';
import { Metrics } from '../../src/metrics/metrics.ts';
import { Inventory } from '../../src/http/inventory.ts';
import { TokenStore } from '../../src/tokens/store.ts';
import { silentLogger } from '../../src/log.ts';
import type { DaemonControl } from '../../src/schedule/daemon.ts';
import type { Config } from '../../src/config/index.ts';
import type { HttpConfig } from '../../src/http/config.ts';

const HOUR = 3600_000;
const dir = mkdtempSync(join(tmpdir(), 'offsite-health-'));
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

function httpConfig(over: Partial<HttpConfig> = {}): HttpConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    metricsToken: null,
    apiToken: null,
    backupKey: null,
    activationDelayMs: 0,
    trustedProxies: [],
    downloadDailyLimit: 3,
    healthchecksUrl: null,
    uptimeKumaUrl: null,
    pushgatewayUrl: null,
    ...over,
  };
}

async function start(clock: { now: Date }, http: HttpConfig, startedAt: Date) {
  const health = new HealthStore([{ name: 'db', intervalMs: HOUR }], { stateDir: join(dir, String(servers.length)) }, startedAt);
  const config = { jobs: [], stateDir: join(dir, `s${servers.length}`), http } as unknown as Config;
  const runs = new RunRegistry();
  let tick = startedAt;
  const control: DaemonControl = {
    config,
    health,
    runs,
    signal: new AbortController().signal,
    next: () => null,
    intervalMs: () => HOUR,
    trigger: () => 'unknown',
    lastTick: () => tick,
  };
  const metrics = new Metrics('test');
  metrics.addJob('db', HOUR);
  const app = createApp({
    control,
    metrics,
    inventory: new Inventory([], config.stateDir, silentLogger()),
    tokens: new TokenStore(config.stateDir, http.apiToken),
    log: silentLogger(),
    version: 'test',
    now: () => clock.now,
  });
  const server = await listen(app, { host: '127.0.0.1', port: 0 });
  servers.push(server);
  return {
    url: server.url,
    health,
    metrics,
    setTick: (d: Date) => {
      tick = d;
    },
  };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

test('/health goes starting -> ok -> failing -> stale with the clock, 200 for the first two and 503 naming the job for the others', async () => {
  const t0 = new Date('2026-03-01T00:00:00Z');
  const clock = { now: new Date(t0) };
  const { url, health } = await start(clock, httpConfig(), t0);

  let r = await get(`${url}/health`);
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'starting');
  assert.equal(r.json.jobs[0].job, 'db');

  // first run succeeds 30 minutes in
  clock.now = new Date(t0.getTime() + 30 * 60_000);
  health.record('db', { status: 'success', end: clock.now });
  r = await get(`${url}/health`);
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ok');
  assert.equal(r.json.jobs[0].lastSuccess, clock.now.toISOString());

  // the next one fails: 503 failing, no cause (it may name paths or backups)
  clock.now = new Date(t0.getTime() + 90 * 60_000);
  health.record('db', { status: 'failure', end: clock.now }, 'upload of backup-2026-03-01.tar.gz to /secret/path failed');
  r = await get(`${url}/health`);
  assert.equal(r.status, 503);
  assert.equal(r.json.status, 'failing');
  assert.equal(r.json.jobs[0].job, 'db');
  assert.equal(r.json.jobs[0].status, 'failing');
  assert.doesNotMatch(r.text, /backup-2026|secret/);

  // a success, then nothing for longer than the interval x 1.25: stale
  health.record('db', { status: 'success', end: clock.now });
  clock.now = new Date(clock.now.getTime() + 1.25 * HOUR - 1000);
  assert.equal((await get(`${url}/health`)).json.status, 'ok');
  clock.now = new Date(clock.now.getTime() + 2000);
  r = await get(`${url}/health`);
  assert.equal(r.status, 503);
  assert.equal(r.json.status, 'stale');
  assert.equal(r.json.jobs[0].job, 'db');
});

test('/livez fails when the scheduler stops answering; /readyz answers', async () => {
  const t0 = new Date();
  const clock = { now: new Date(t0) };
  const s = await start(clock, httpConfig(), t0);
  assert.equal((await get(`${s.url}/livez`)).status, 200);
  assert.equal((await get(`${s.url}/readyz`)).status, 200);
  clock.now = new Date(t0.getTime() + 61_000);
  const r = await get(`${s.url}/livez`);
  assert.equal(r.status, 503);
  s.setTick(clock.now);
  assert.equal((await get(`${s.url}/livez`)).status, 200);
});

test('/metrics: open without OFFSITE_METRICS_TOKEN; with it, 401 without or with a wrong token', async () => {
  const clock = { now: new Date() };
  const open = await start(clock, httpConfig(), new Date());
  const m = await get(`${open.url}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
  assert.match(m.text, /^offsite_build_info\{version="test"\} 1$/m);
  assert.match(m.text, /^offsite_schedule_expected_interval_seconds\{job="db"\} 3600$/m);
  assert.match(m.text, /^process_cpu_user_seconds_total /m);

  const token = 'metrics-token-0123456789abcdef';
  const guarded = await start(clock, httpConfig({ metricsToken: token }), new Date());
  assert.equal((await get(`${guarded.url}/metrics`)).status, 401);
  const wrong = await get(`${guarded.url}/metrics`, { authorization: 'Bearer nope' });
  assert.equal(wrong.status, 401);
  assert.ok(!wrong.text.includes(token));
  const ok = await get(`${guarded.url}/metrics`, { authorization: `Bearer ${token}` });
  assert.equal(ok.status, 200);
  assert.match(ok.text, /offsite_build_info/);
  // the API does not exist while no token is configured
  assert.equal((await get(`${guarded.url}/api/v1/status`, { authorization: `Bearer ${token}` })).status, 404);
});
