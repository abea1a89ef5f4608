// The HTTP API against a running daemon over real HTTP: tokens (missing, wrong, revoked,
// not yet active, wrong scope), the backup key, runs (202/Location/409/?wait), events,
// backups, downloads (headers, an aborted download, the daily limit), verify, SysReptor's
// export, 429 after repeated failures, notifications; no secret in any answer or log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, readdirSync, mkdtempSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { isolatedEnv, runCliAsync, startDaemon, waitFor } from '../helpers/cli.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';
import { acquireLock } from '../../src/run/lock.ts';
import { silentLogger } from '../../src/log.ts';

const BACKUP_KEY = 'backup-key-0123456789-abcdefghij';
let rec: HttpRecorder;
let env: Record<string, string>;
let dir: string;
let url = '';
let output: () => string;
const tokens: Record<string, string> = {};
const bodies: string[] = [];

async function call(method: string, path: string, opts: { token?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const headers: Record<string, string> = { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.headers ?? {}) };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const buf = Buffer.from(await res.arrayBuffer());
  const text = buf.toString('utf8');
  bodies.push(text);
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, buf, headers: res.headers };
}

/** The CLI with the daemon's environment (and `extra`), as a child the event loop keeps serving (the recorder it notifies lives here). */
const cli = (args: string[], extra: Record<string, string> = {}) => runCliAsync(args, { ...env, ...extra });

async function createToken(name: string, scopes: string, extra: Record<string, string> = {}): Promise<string> {
  const r = await cli(['token', 'create', name, '--scopes', scopes], extra);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^ofs_[A-Za-z0-9_-]{43}$/);
  tokens[name] = token;
  return token;
}

before(async () => {
  rec = await startRecorder();
  const iso = isolatedEnv();
  dir = iso.dir;
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'archive'));
  writeFileSync(join(dir, 'src', 'hello.txt'), 'hello from the API test\n');
  // big enough that a download is still going when the client goes away
  writeFileSync(join(dir, 'src', 'noise.bin'), randomBytes(8 << 20));
  env = {
    ...iso.env,
    BACKUP_SOURCES: join(dir, 'src'),
    BACKUP_ARCHIVE: join(dir, 'archive'),
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?', // never: runs only through the API
    BACKUP_COMPRESSION: 'none',
    BACKUP_RETENTION_DAYS: '7',
    OFFSITE_HTTP_ADDR: '127.0.0.1:0',
    BACKUP_KEY,
    OFFSITE_DOWNLOAD_DAILY_LIMIT: '4',
    OFFSITE_TRUSTED_PROXIES: '127.0.0.1',
    NOTIFICATION_URLS: `generic+http://${rec.host}/notify?template=json`,
    NOTIFICATION_LEVEL: 'error',
  };
  const daemon = await startDaemon(env);
  ({ url, output } = daemon);
  stopDaemon = () => {
    daemon.child.kill('SIGTERM');
  };
});

let stopDaemon = () => {};
after(async () => {
  stopDaemon();
  await rec.close();
});

test('without any token the API answers 404; open endpoints answer', async () => {
  assert.equal((await call('GET', '/api/v1/status')).status, 404);
  assert.equal((await call('GET', '/api/v1/status', { token: 'ofs_whatever' })).status, 404);
  assert.equal((await call('GET', '/livez')).status, 200);
  assert.equal((await call('GET', '/readyz')).status, 200);
  const h = await call('GET', '/health');
  assert.equal(h.status, 200);
});

test('tokens: missing, wrong, revoked, not yet active, wrong scope', async () => {
  const reader = await createToken('reader', 'read');
  await createToken('runner', 'read,run');
  await createToken('dl', 'read,download');
  await createToken('dl2', 'download');
  // not yet active: made with a delay (OpenProject's 24h)
  const late = await createToken('late', 'download,read', { OFFSITE_TOKEN_ACTIVATION_DELAY: '24h' });
  const doomed = await createToken('doomed', 'read');

  const missing = await call('GET', '/api/v1/status');
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await call('GET', '/api/v1/status', { token: `${reader}x` })).status, 401);
  const ok = await call('GET', '/api/v1/status', { token: reader });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.jobs[0].name, 'default');
  assert.equal(ok.json.jobs[0].destinations[0].name, 'Local');

  const inactive = await call('GET', '/api/v1/status', { token: late });
  assert.equal(inactive.status, 403);
  assert.match(inactive.json.error, /becomes valid at/);

  assert.equal((await call('GET', '/api/v1/status', { token: doomed })).status, 200);
  assert.equal((await cli(['token', 'revoke', 'doomed'])).code, 0);
  assert.equal((await call('GET', '/api/v1/status', { token: doomed })).status, 401);

  // reset: the old secret stops working, the new one works
  const r = await cli(['token', 'reset', 'reader']);
  assert.equal(r.code, 0, r.stderr);
  tokens.reader = r.stdout.trim();
  assert.equal((await call('GET', '/api/v1/status', { token: reader })).status, 401);
  assert.equal((await call('GET', '/api/v1/status', { token: tokens.reader })).status, 200);

  const scope = await call('POST', '/api/v1/runs', { token: tokens.reader, body: {} });
  assert.equal(scope.status, 403);
  assert.match(scope.json.error, /run scope/);

  // list: names, scopes, last used; never a secret or a hash
  const list = await cli(['token', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout);
  assert.deepEqual(rows.map((x: any) => x.name).sort(), ['dl', 'dl2', 'late', 'reader', 'runner']);
  for (const t of Object.values(tokens)) assert.ok(!list.stdout.includes(t));
  assert.doesNotMatch(list.stdout, /hash|salt/);
  const stored = readFileSync(join(dir, 'state', 'tokens.json'), 'utf8');
  for (const t of Object.values(tokens)) assert.ok(!stored.includes(t), 'a token is stored in clear');
});

test('download tokens made or reset are notified to every URL, whatever NOTIFICATION_LEVEL', async () => {
  const notes = rec.requests.filter((q) => q.path === '/notify').map((q) => q.body);
  assert.ok(
    notes.some((b) => /token dl with download access was created on/.test(b)),
    notes.join('\n'),
  );
  assert.ok(notes.some((b) => /token late with download access was created/.test(b)));
  assert.ok(!notes.some((b) => /token runner /.test(b)), 'a token without download scope was notified');
});

test('runs: 202 with Location, 409 while the job runs, GET runs/{id}, ?wait=true, events', async () => {
  const runner = tokens.runner!;
  // hold the lock: the run starts and waits for it, so a second request finds it going
  const lock = await acquireLock(env.OFFSITE_LOCK_FILE!, { timeoutMs: 5000, log: silentLogger(), owner: 'test' });
  const events = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${runner}` } });
  assert.equal(events.status, 200);
  assert.match(events.headers.get('content-type') ?? '', /text\/event-stream/);
  const started = await call('POST', '/api/v1/runs', { token: runner, body: {} });
  assert.equal(started.status, 202, started.text);
  assert.equal(started.headers.get('location'), `/api/v1/runs/${started.json.id}`);
  const busy = await call('POST', '/api/v1/runs', { token: runner, body: { job: 'default' } });
  assert.equal(busy.status, 409);
  assert.equal(busy.json.run.id, started.json.id);
  assert.equal((await call('POST', '/api/v1/runs', { token: runner, body: { job: 'nope' } })).status, 404);
  await lock.release();

  // the event stream tells start and end
  const reader = events.body!.getReader();
  let sse = '';
  const end = Date.now() + 60_000;
  while (!sse.includes('event: run.finished') && Date.now() < end) {
    const { value, done } = await reader.read();
    if (done) break;
    sse += Buffer.from(value).toString('utf8');
  }
  await reader.cancel();
  assert.match(sse, /event: run\.started/);
  assert.match(sse, /event: run\.finished/);
  assert.ok(sse.includes(started.json.id));

  let run = await call('GET', started.headers.get('location')!, { token: runner });
  const until = Date.now() + 60_000;
  while (run.json.state !== 'finished' && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    run = await call('GET', `/api/v1/runs/${started.json.id}`, { token: runner });
  }
  assert.equal(run.json.status, 'success', run.text);
  assert.equal(run.json.stats.status, 'success');
  assert.ok(
    run.json.logs.some((l: any) => l.msg === 'backup finished'),
    JSON.stringify(run.json.logs),
  );

  // backup names have one-second resolution, and a second backup of the same name is refused:
  // the next run starts in the next second
  await new Promise((r) => setTimeout(r, 1100));
  const waited = await call('POST', '/api/v1/runs?wait=true', { token: runner, body: {} });
  assert.equal(waited.status, 200);
  assert.equal(waited.json.state, 'finished');
  assert.equal(waited.json.status, 'success');

  const list = await call('GET', '/api/v1/runs', { token: runner });
  assert.equal(list.json.runs.length, 2);
  assert.equal(list.json.runs[0].id, waited.json.id);
});

test('backups: list, download with the backup key, headers, verify', async () => {
  const files = readdirSync(join(dir, 'archive')).filter((f) => f.endsWith('.tar'));
  assert.equal(files.length, 2);
  const name = files.sort()[0]!;
  const list = await call('GET', '/api/v1/backups?destination=local', { token: tokens.reader });
  assert.equal(list.status, 200);
  const local = list.json.destinations[0];
  assert.equal(local.destination, 'Local');
  assert.ok(local.backups.some((b: any) => b.name === name && b.size > 8 << 20));
  // the retention decision for each backup (the status page shows it)
  for (const b of local.backups) assert.deepEqual(b.retention, { keep: true, reasons: ['newer than 7 day(s)'] }, JSON.stringify(b));
  // the file count from each backup's manifest (hello.txt and noise.bin)
  for (const b of local.backups) assert.equal(b.files, 2, JSON.stringify(b));

  const path = `/api/v1/backups/Local/${name}`;
  assert.equal((await call('GET', path, { token: tokens.dl })).status, 403, 'no backup key');
  assert.equal((await call('GET', path, { token: tokens.dl, headers: { 'x-backup-key': 'wrong-key-wrong-key-wrong' } })).status, 403);
  assert.equal((await call('GET', path, { token: tokens.reader, headers: { 'x-backup-key': BACKUP_KEY } })).status, 403, 'read scope only');
  const dl = await call('GET', path, { token: tokens.dl, headers: { 'x-backup-key': BACKUP_KEY } });
  assert.equal(dl.status, 200);
  assert.equal(dl.headers.get('content-disposition'), `attachment; filename="${name}"`);
  assert.equal(dl.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(dl.headers.get('cache-control'), 'no-store');
  assert.ok(dl.buf.equals(readFileSync(join(dir, 'archive', name))));
  assert.ok(/backup downloaded/.test(output()) && /"token":"dl"/.test(output()), 'the download is logged with the token name');
  await waitFor(
    () => rec.requests.some((q) => q.path === '/notify' && /backup downloaded/.test(q.body)),
    20_000,
    'the download notification',
    () => rec.requests.map((q) => q.body).join('\n'),
  );

  const v = await call('POST', `${path}/verify`, { token: tokens.runner });
  assert.equal(v.status, 200, v.text);
  assert.equal(v.json.ok, true);
  assert.equal((await call('POST', `${path}/verify`, { token: tokens.reader })).status, 403);
  assert.equal((await call('GET', `/api/v1/backups/Local/nope.tar`, { token: tokens.dl, headers: { 'x-backup-key': BACKUP_KEY } })).status, 404);
});

test('a download the client aborts leaves the backup untouched and the daemon serving', async () => {
  const name = readdirSync(join(dir, 'archive'))
    .filter((f) => f.endsWith('.tar'))
    .sort()[0]!;
  const before = createHash('sha256')
    .update(readFileSync(join(dir, 'archive', name)))
    .digest('hex');
  const u = new URL(`${url}/api/v1/backups/Local/${name}`);
  await new Promise<void>((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname, headers: { authorization: `Bearer ${tokens.dl}`, 'x-backup-key': BACKUP_KEY } },
      (res) => {
        assert.equal(res.statusCode, 200);
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      },
    );
    req.on('error', (e) => {
      if (!req.destroyed) reject(e);
    });
    req.end();
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(readdirSync(join(dir, 'archive')).filter((f) => f.endsWith('.tar')).length, 2);
  assert.equal(
    createHash('sha256')
      .update(readFileSync(join(dir, 'archive', name)))
      .digest('hex'),
    before,
  );
  assert.equal((await call('GET', '/livez')).status, 200);
});

test('SysReptor: POST /api/v1/utils/backup/ with {"key"} streams a fresh archive that tar reads', async () => {
  const r = await call('POST', '/api/v1/utils/backup/', { token: tokens.dl, body: { key: BACKUP_KEY } });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="default-.*\.tar"$/);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const out = mkdtempSync(join(dir, 'x-'));
  const t = spawnSync('tar', ['-x', '-C', out], { input: r.buf });
  assert.equal(t.status, 0, String(t.stderr));
  // offen's layout: each source under its path without the leading slash
  assert.equal(readFileSync(join(out, dir.slice(1), 'src', 'hello.txt'), 'utf8'), 'hello from the API test\n');
  assert.equal((await call('POST', '/api/v1/utils/backup/', { token: tokens.dl, body: { key: 'not-the-key-not-the-key' } })).status, 403);
  assert.equal((await call('POST', '/api/v1/utils/backup/', { token: tokens.dl, body: { key: BACKUP_KEY, aes_key: 'abc' } })).status, 400);
});

test('downloads and exports are limited per token per day (OFFSITE_DOWNLOAD_DAILY_LIMIT)', async () => {
  // dl used 3 so far (download, aborted download, export); the 4th works, the 5th is refused
  const name = readdirSync(join(dir, 'archive'))
    .filter((f) => f.endsWith('.tar'))
    .sort()[0]!;
  const path = `/api/v1/backups/Local/${name}`;
  assert.equal((await call('GET', path, { token: tokens.dl, headers: { 'x-backup-key': BACKUP_KEY } })).status, 200);
  const refused = await call('GET', path, { token: tokens.dl, headers: { 'x-backup-key': BACKUP_KEY } });
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get('retry-after')) > 0);
  // another token has its own count
  assert.equal((await call('GET', path, { token: tokens.dl2, headers: { 'x-backup-key': BACKUP_KEY } })).status, 200);
});

test('repeated failed authentication from one client gets 429 with Retry-After; X-Forwarded-For counts through a trusted proxy', async () => {
  const from = (ip: string, token: string) => call('GET', '/api/v1/status', { token, headers: { 'x-forwarded-for': ip } });
  for (let i = 0; i < 10; i++) assert.equal((await from('10.9.9.9', 'ofs_wrong')).status, 401);
  const blocked = await from('10.9.9.9', tokens.reader!);
  assert.equal(blocked.status, 429, 'even the right token waits');
  assert.ok(Number(blocked.headers.get('retry-after')) > 0);
  assert.equal((await from('10.9.9.10', tokens.reader!)).status, 200, 'another client is not blocked');
});

test('no secret in any answer, log line or notification', () => {
  const secrets = [BACKUP_KEY, ...Object.values(tokens)];
  const everything = [...bodies, output(), ...rec.requests.map((q) => q.body + JSON.stringify(q.query))].join('\n');
  for (const s of secrets) assert.ok(!everything.includes(s), `a secret leaked: ${s.slice(0, 6)}...`);
});
