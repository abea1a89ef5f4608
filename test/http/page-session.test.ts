// The status page's sessions over real HTTP, in-process with a fake clock (the browser test
// covers the pages): idle and absolute expiry, a revoked or reset token ends its sessions,
// downloads disabled without BACKUP_KEY, security headers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signIn } from '../helpers/page.ts';
import { HealthStore } from '../../src/health/state.ts';
import { RunRegistry } from '../../src/schedule/runs.ts';
import { createApp, listen, type RunningServer } from '../../src/http/server.ts';
import { SESSION_IDLE_MS, SESSION_MAX_MS } from '../../src/http/page.ts';
import { Metrics } from '../../src/metrics/metrics.ts';
import { Inventory } from '../../src/http/inventory.ts';
import { TokenStore } from '../../src/tokens/store.ts';
import { silentLogger } from '../../src/log.ts';
import type { DaemonControl } from '../../src/schedule/daemon.ts';
import type { Config } from '../../src/config/index.ts';
import type { HttpConfig } from '../../src/http/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'offsite-page-'));
const t0 = new Date('2026-03-01T00:00:00Z');
const clock = { now: new Date(t0) };
let server: RunningServer;
after(async () => {
  await server?.close();
});

const http: HttpConfig = {
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
};
const config = { jobs: [], stateDir: join(dir, 'state'), http } as unknown as Config;
const tokens = new TokenStore(config.stateDir, null);
const control: DaemonControl = {
  config,
  health: new HealthStore([], { stateDir: join(dir, 'h') }, t0),
  runs: new RunRegistry(),
  signal: new AbortController().signal,
  next: () => null,
  intervalMs: () => null,
  trigger: () => 'unknown',
  lastTick: () => clock.now,
};

async function start(): Promise<string> {
  if (server) return server.url;
  const app = createApp({
    control,
    metrics: new Metrics('test'),
    inventory: new Inventory([], config.stateDir, silentLogger()),
    tokens,
    log: silentLogger(),
    version: 'test',
    now: () => clock.now,
  });
  server = await listen(app, { host: '127.0.0.1', port: 0 });
  return server.url;
}

async function open(url: string, cookie: string, path = '/'): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(`${url}${path}`, { headers: { cookie }, redirect: 'manual' });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

test('a session ends after an hour without a request and 12 hours after sign-in', async () => {
  const url = await start();
  const { token } = await tokens.create('viewer', ['read'], 0, clock.now);
  const cookie = await signIn(url, token);
  const dash = await open(url, cookie);
  assert.match(dash.text, /<h1>Dashboard<\/h1>/);
  // security headers on every page
  assert.equal(dash.headers.get('cache-control'), 'no-store');
  assert.equal(dash.headers.get('x-frame-options'), 'DENY');
  assert.match(dash.headers.get('content-security-policy') ?? '', /script-src 'nonce-[^']+'/);
  assert.ok(!dash.text.includes(token));

  // requests just within the idle limit keep it going, up to the absolute limit
  const step = SESSION_IDLE_MS - 60_000;
  let at = t0.getTime();
  while (at + step < t0.getTime() + SESSION_MAX_MS) {
    at += step;
    clock.now = new Date(at);
    assert.match((await open(url, cookie)).text, /<h1>Dashboard<\/h1>/, `signed out at ${clock.now.toISOString()}`);
  }
  clock.now = new Date(t0.getTime() + SESSION_MAX_MS + 1000);
  assert.match((await open(url, cookie)).text, /<h1>Sign in<\/h1>/, 'alive after 12 hours');

  const idle = await signIn(url, token);
  clock.now = new Date(clock.now.getTime() + SESSION_IDLE_MS + 1000);
  assert.match((await open(url, idle)).text, /<h1>Sign in<\/h1>/, 'alive after an idle hour');
});

test('revoking or resetting the token ends its sessions at the next request', async () => {
  const url = await start();
  const { token } = await tokens.create('doomed', ['read'], 0, clock.now);
  const cookie = await signIn(url, token);
  assert.match((await open(url, cookie, '/runs')).text, /<h1>Runs<\/h1>/);
  await tokens.revoke('doomed');
  const after = await open(url, cookie, '/runs');
  assert.equal(after.status, 303);
  assert.match((await open(url, cookie)).text, /<h1>Sign in<\/h1>/);

  const { token: t2 } = await tokens.create('reset-me', ['read'], 0, clock.now);
  const c2 = await signIn(url, t2);
  await tokens.reset('reset-me', 0, clock.now);
  assert.equal((await open(url, c2)).status, 303);
  assert.match((await open(url, c2)).text, /<h1>Sign in<\/h1>/);
});

test('without BACKUP_KEY downloads are disabled on the page and refused by the API through it', async () => {
  const url = await start();
  const { token } = await tokens.create('all', ['read', 'run', 'download'], 0, clock.now);
  const cookie = await signIn(url, token);
  const page = await open(url, cookie, '/backups');
  assert.match(page.text, /downloads are disabled: BACKUP_KEY is not set/);
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page.text)![1]!;
  const r = await fetch(`${url}/download`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, job: 'default', destination: 'Local', name: 'backup.tar.gz', key: 'anything-at-all-0123456789' }),
  });
  assert.equal(r.status, 404);
  assert.match(await r.text(), /BACKUP_KEY is not set/);
});
