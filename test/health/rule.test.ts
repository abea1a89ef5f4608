import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateHealth, evaluateJob, expectedIntervalMs, formatInterval, GRACE_FACTOR, type JobHealthInput } from '../../src/health/rule.ts';

const H = 3_600_000;
const t0 = new Date('2026-01-05T00:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

test('expected interval: largest gap among the firings', () => {
  // weekdays at 02:00: Fri -> Mon is the largest gap (3 days)
  const firings = ['2026-01-05', '2026-01-06', '2026-01-07', '2026-01-08', '2026-01-09', '2026-01-12', '2026-01-13', '2026-01-14'].map(
    (d) => new Date(`${d}T02:00:00Z`),
  );
  assert.equal(expectedIntervalMs(firings), 72 * H);
  assert.equal(expectedIntervalMs([at(0), at(H), at(2 * H)]), H);
  assert.equal(expectedIntervalMs([at(0)]), null);
  assert.equal(expectedIntervalMs([]), null);
});

test('grace factor is 1.25', () => assert.equal(GRACE_FACTOR, 1.25));

const hourly = (o: Partial<JobHealthInput> = {}): JobHealthInput => ({ job: 'db', intervalMs: H, ...o });

test('starting: no run yet within the first interval (with grace) after start', () => {
  const r = evaluateHealth({ now: at(H), startedAt: t0, jobs: [hourly()] });
  assert.equal(r.state, 'starting');
  assert.equal(r.healthy, true);
  assert.match(r.message, /db: no run since the daemon started at 2026-01-05T00:00:00Z \(expected every 60m\)/);
  // exactly at the grace boundary still starting, one ms later stale
  assert.equal(evaluateHealth({ now: at(1.25 * H), startedAt: t0, jobs: [hourly()] }).state, 'starting');
  const stale = evaluateHealth({ now: at(1.25 * H + 1), startedAt: t0, jobs: [hourly()] });
  assert.equal(stale.state, 'stale');
  assert.equal(stale.healthy, false);
  assert.match(stale.message, /db: no successful run since the daemon started/);
});

test('ok while the last success is younger than interval × grace, stale after', () => {
  const job = hourly({ lastAttempt: { at: at(0), status: 'success' }, lastSuccess: at(0) });
  const start = at(-10 * H);
  const ok = evaluateHealth({ now: at(1.25 * H), startedAt: start, jobs: [job] });
  assert.equal(ok.state, 'ok');
  assert.equal(ok.healthy, true);
  assert.match(ok.message, /db: last run succeeded at 2026-01-05T00:00:00Z/);
  const stale = evaluateHealth({ now: at(1.25 * H + 1000), startedAt: start, jobs: [job] });
  assert.equal(stale.state, 'stale');
  assert.equal(stale.healthy, false);
  assert.equal(stale.message, 'db: no successful run since 2026-01-05T00:00:00Z (expected every 60m)');
});

test('failing: the last run failed, even just after a restart and with a recent older success', () => {
  const job = hourly({
    lastAttempt: { at: at(10 * 60_000), status: 'failure', cause: 'S3: connect ECONNREFUSED 127.0.0.1:9' },
    lastSuccess: at(0),
  });
  const r = evaluateHealth({ now: at(11 * 60_000), startedAt: at(10.5 * 60_000), jobs: [job] });
  assert.equal(r.state, 'failing');
  assert.equal(r.healthy, false);
  assert.equal(r.message, 'db: last run failed at 2026-01-05T00:10:00Z: S3: connect ECONNREFUSED 127.0.0.1:9');
});

test('partial and degraded runs are not successes', () => {
  for (const status of ['partial', 'degraded']) {
    const r = evaluateJob(hourly({ lastAttempt: { at: at(0), status, cause: 'WebDAV: HTTP 507' } }), at(1000), t0);
    assert.equal(r.state, 'failing');
    assert.equal(r.message, `db: last run was ${status} at 2026-01-05T00:00:00Z: WebDAV: HTTP 507`);
  }
});

test('a failure without a recorded cause still reads as a sentence; causes are one line', () => {
  assert.match(evaluateJob(hourly({ lastAttempt: { at: at(0), status: 'failure' } }), at(1), t0).message, /failed at .*: no cause recorded$/);
  const m = evaluateJob(hourly({ lastAttempt: { at: at(0), status: 'failure', cause: 'a\nb\r\n  c' } }), at(1), t0).message;
  assert.ok(!/[\r\n]/.test(m));
  assert.match(m, /: a b c$/);
  const long = evaluateJob(hourly({ lastAttempt: { at: at(0), status: 'failure', cause: 'x'.repeat(5000) } }), at(1), t0).message;
  assert.ok(long.length < 400);
});

test('after a restart, an old success is not stale during the first interval, stale after', () => {
  const job = hourly({ lastAttempt: { at: at(-48 * H), status: 'success' }, lastSuccess: at(-48 * H) });
  assert.equal(evaluateHealth({ now: at(30 * 60_000), startedAt: t0, jobs: [job] }).state, 'starting');
  assert.equal(evaluateHealth({ now: at(2 * H), startedAt: t0, jobs: [job] }).state, 'stale');
});

test('several jobs: the worst state wins and names the job', () => {
  const good = { job: 'a', intervalMs: H, lastAttempt: { at: at(0), status: 'success' }, lastSuccess: at(0) };
  const bad = { job: 'b', intervalMs: H, lastAttempt: { at: at(0), status: 'failure', cause: 'boom' } };
  const old = { job: 'c', intervalMs: H, lastAttempt: { at: at(-5 * H), status: 'success' }, lastSuccess: at(-5 * H) };
  const r = evaluateHealth({ now: at(60_000), startedAt: at(-10 * H), jobs: [good, bad, old] });
  assert.equal(r.state, 'failing');
  assert.equal(r.message, 'b: last run failed at 2026-01-05T00:00:00Z: boom');
  assert.deepEqual(
    r.jobs.map((j) => j.state),
    ['ok', 'failing', 'stale'],
  );
  const r2 = evaluateHealth({ now: at(60_000), startedAt: at(-10 * H), jobs: [good, old] });
  assert.equal(r2.state, 'stale');
  assert.match(r2.message, /^c: /);
  const r3 = evaluateHealth({ now: at(60_000), startedAt: at(0), jobs: [good, hourly({ job: 'new' })] });
  assert.equal(r3.state, 'starting');
  assert.equal(r3.healthy, true);
});

test('a schedule without a further firing only judges the last result', () => {
  assert.equal(evaluateJob({ job: 'x', intervalMs: null }, at(100 * H), t0).state, 'ok');
  assert.equal(evaluateJob({ job: 'x', intervalMs: null, lastAttempt: { at: at(0), status: 'failure', cause: 'c' } }, at(1), t0).state, 'failing');
});

test('no job: healthy with a message', () => {
  const r = evaluateHealth({ now: t0, startedAt: t0, jobs: [] });
  assert.equal(r.healthy, true);
  assert.equal(r.message, 'no job is scheduled');
});

test('intervals read well', () => {
  assert.equal(formatInterval(1000), '1s');
  assert.equal(formatInterval(5 * 60_000), '5m');
  assert.equal(formatInterval(24 * H), '24h');
  assert.equal(formatInterval(2.5 * H), '2h30m');
  assert.equal(formatInterval(72 * H), '3d');
});
