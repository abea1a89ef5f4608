/** Progress: totals, percentage, rate and ETA (pure), and the status line cleared before log lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProgress, formatEta, etaMs, RateMeter, followProgress } from '../src/progress.ts';

const MiB = 1 << 20;

test('with totals: files and bytes done of total, percentage, rate and ETA', () => {
  const line = formatProgress('db', { files: 1200, bytes: 300 * MiB, total: { files: 5000, bytes: 1000 * MiB } }, 10 * MiB);
  assert.equal(line, 'db: 1,200/5,000 files, 300 MiB/1000 MiB (30%), 10.0 MiB/s, ETA 1m10s');
});

test('without totals or rate: what is known only', () => {
  assert.equal(formatProgress('db', { files: 3, bytes: 2048 }, null), 'db: 3 files, 2.00 KiB');
  assert.equal(formatProgress('db', { files: 3, bytes: 2048, total: null }, 1024), 'db: 3 files, 2.00 KiB, 1.00 KiB/s');
});

test('percentage is capped at 100 and works for empty files', () => {
  assert.match(formatProgress('x', { files: 10, bytes: 200, total: { files: 10, bytes: 100 } }, null), /\(100%\)/);
  assert.match(formatProgress('x', { files: 5, bytes: 0, total: { files: 10, bytes: 0 } }, null), /\(50%\)/);
});

test('ETA', () => {
  assert.equal(etaMs({ files: 0, bytes: 50, total: { files: 1, bytes: 150 } }, 10), 10_000);
  assert.equal(etaMs({ files: 0, bytes: 50, total: null }, 10), null);
  assert.equal(etaMs({ files: 0, bytes: 50, total: { files: 1, bytes: 150 } }, 0), null);
  assert.equal(formatEta(42_000), '42s');
  assert.equal(formatEta(185_000), '3m05s');
  assert.equal(formatEta(3_720_000), '1h02m');
});

test('rate over a sliding window', () => {
  const m = new RateMeter(10_000);
  m.add(0, 0);
  assert.equal(m.rate(), null);
  m.add(500, 100);
  assert.equal(m.rate(), null, 'less than a second: unknown');
  m.add(2000, 2000);
  assert.equal(m.rate(), 1000);
  // after the window, old samples go: the rate follows the current speed
  m.add(20_000, 2000 + 18_000 * 10);
  m.add(30_000, 2000 + 28_000 * 10);
  assert.equal(m.rate(), 10_000);
});

test('followProgress emits on its interval and stops', async () => {
  const lines: string[] = [];
  let bytes = 0;
  const stop = followProgress(
    'j',
    () => ({ files: 1, bytes: (bytes += 10), total: { files: 2, bytes: 1000 } }),
    20,
    (l) => lines.push(l),
  );
  for (let i = 0; i < 500 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  stop();
  const n = lines.length;
  assert.ok(n >= 2, `${n} lines`);
  assert.match(lines[0]!, /^j: 1\/2 files, \d+ B\/1000 B \(\d+%\)/);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(lines.length, n, 'stopped');
});
