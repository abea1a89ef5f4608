// After a daemon restart, offsite_backup_last_success_timestamp_seconds comes back from
// OFFSITE_STATE_DIR for each destination: without it the stale alert has no series to fire on
// when the restarted daemon never succeeds again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/metrics/metrics.ts';
import type { RunStats } from '../../src/run/stats.ts';

const value = (text: string, destination: string) =>
  new RegExp(`^offsite_backup_last_success_timestamp_seconds\\{job="db",destination="${destination}"\\} (\\S+)$`, 'm').exec(text)?.[1];

test('the remembered last success is restored for every destination of the job', async () => {
  const m = new Metrics('test', { processMetrics: false });
  m.restoreSuccess('db', ['local', 'S3'], '2026-11-20T02:00:05.000Z');
  const text = await m.text();
  assert.equal(value(text, 'local'), String(Date.parse('2026-11-20T02:00:05.000Z') / 1000));
  assert.equal(value(text, 'S3'), String(Date.parse('2026-11-20T02:00:05.000Z') / 1000));
});

test('nothing remembered (or unreadable): no series is made up', async () => {
  const m = new Metrics('test', { processMetrics: false });
  m.restoreSuccess('db', ['local'], undefined);
  m.restoreSuccess('db', ['local'], 'yesterday');
  assert.equal(value(await m.text(), 'local'), undefined);
});

test('a success seen by this process is never replaced by the older remembered one', async () => {
  const m = new Metrics('test', { processMetrics: false });
  const end = new Date('2026-11-26T02:00:00.000Z');
  m.observeRun({
    job: 'db',
    status: 'success',
    start: end,
    end,
    durationMs: 1000,
    destinations: [{ destination: 'local', ok: true, pruned: 0 }],
  } as unknown as RunStats);
  m.restoreSuccess('db', ['local'], '2026-11-20T02:00:05.000Z');
  assert.equal(value(await m.text(), 'local'), String(end.getTime() / 1000));
});
