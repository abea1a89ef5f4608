import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthStore, checkHealthFile, causeOf } from '../../src/health/state.ts';
import { emptyStats } from '../../src/run/run.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'offsite-health-'));

test('healthcheck without a health file says the daemon is not running, not ENOENT', () => {
  const r = checkHealthFile(join(dir(), 'none.json'));
  assert.equal(r.healthy, false);
  assert.match(r.message, /the daemon is not running/);
  assert.doesNotMatch(r.message, /ENOENT/);
});

test('healthcheck of a dead daemon says so, not "kill ESRCH"', () => {
  const f = join(dir(), 'h.json');
  const now = new Date();
  writeFileSync(f, JSON.stringify({ pid: 2 ** 22 + 12345, startedAt: now.toISOString(), updated: now.toISOString(), jobs: {} }));
  const r = checkHealthFile(f, now);
  assert.equal(r.healthy, false);
  assert.doesNotMatch(r.message, /ESRCH|kill/);
  assert.match(r.message, /the daemon \(pid \d+\) is not running any more; it last reported at /);
});

test('healthcheck of a hung daemon (stale health file) fails', () => {
  const f = join(dir(), 'h.json');
  const now = new Date('2026-01-01T01:00:00Z');
  writeFileSync(f, JSON.stringify({ pid: process.pid, startedAt: '2026-01-01T00:00:00Z', updated: '2026-01-01T00:58:00Z', jobs: {} }));
  const r = checkHealthFile(f, now);
  assert.equal(r.healthy, false);
  assert.match(r.message, /not responding: it last reported at 2026-01-01T00:58:00Z, 120s ago/);
});

test('garbage health file: readable message', () => {
  const f = join(dir(), 'h.json');
  writeFileSync(f, '{oops');
  assert.match(checkHealthFile(f).message, /cannot read the health file .*: it is not valid JSON/);
});

test('the store records results, the healthcheck fails on a failed last run, and the results survive a restart', async () => {
  const d = dir();
  const healthFile = join(d, 'h.json');
  const stateDir = join(d, 'state');
  const store = new HealthStore([{ name: 'db', intervalMs: 60_000 }], { healthFile, stateDir });
  const stats = emptyStats('db', new Date());
  stats.status = 'failure';
  stats.error = { phase: 'upload', message: 'S3: connect ECONNREFUSED 127.0.0.1:9' };
  store.record('db', stats);
  await store.write();
  const r = checkHealthFile(healthFile);
  assert.equal(r.healthy, false);
  assert.match(r.message, /^failing: db: last run failed at \S+Z: S3: connect ECONNREFUSED 127\.0\.0\.1:9$/);
  // a new daemon (restart): the failure is remembered from the state dir, even with a new health file
  const store2 = new HealthStore([{ name: 'db', intervalMs: 60_000 }], { healthFile: join(d, 'h2.json'), stateDir });
  await store2.write();
  assert.match(checkHealthFile(join(d, 'h2.json')).message, /^failing: db: last run failed/);
  // success clears it
  const ok = emptyStats('db', new Date());
  store2.record('db', ok);
  await store2.write();
  const r2 = checkHealthFile(join(d, 'h2.json'));
  assert.equal(r2.healthy, true, r2.message);
  assert.match(r2.message, /^ok: db: last run succeeded at /);
  assert.equal(JSON.parse(readFileSync(join(stateDir, 'last-runs.json'), 'utf8')).jobs.db.lastAttempt.status, 'success');
});

test('without a writable state dir the health file carries the results across a restart', async () => {
  const d = dir();
  const blocker = join(d, 'file');
  writeFileSync(blocker, 'x');
  const errors: string[] = [];
  const healthFile = join(d, 'h.json');
  const store = new HealthStore([{ name: 'a', intervalMs: 1000 }], { healthFile, stateDir: join(blocker, 'state'), onError: (w) => errors.push(w) });
  const s = emptyStats('a', new Date());
  s.status = 'failure';
  s.error = { phase: 'archive', message: 'boom' };
  store.record('a', s);
  await store.write();
  await store.write();
  assert.deepEqual(errors, ['state'], 'warned once');
  const again = new HealthStore([{ name: 'a', intervalMs: 1000 }], { healthFile, stateDir: join(blocker, 'state') });
  assert.equal(again.jobs.a!.lastAttempt?.cause, 'boom');
});

test('causeOf: error, failed destinations, degraded reasons', () => {
  const s = emptyStats('x', new Date());
  assert.equal(causeOf(s), undefined);
  s.status = 'partial';
  s.destinations = [
    { destination: 'S3', location: 's3://b', ok: false, bytes: 0, durationMs: 1, attempts: 1, pruned: 0, error: 'HTTP 403' },
    { destination: 'Local', location: '/archive', ok: true, bytes: 1, durationMs: 1, attempts: 1, pruned: 0 },
  ];
  assert.equal(causeOf(s), 'S3: HTTP 403');
  s.status = 'degraded';
  s.destinations = [];
  s.degradedBy = ['2 file(s) could not be read'];
  assert.equal(causeOf(s), '2 file(s) could not be read');
  mkdirSync(join(dir(), 'x'));
});
