// The run history in OFFSITE_STATE_DIR (src/run/history.ts): one compact record per run,
// bounded (days, runs, bytes read), a damaged or oversized file set aside with a warning,
// concurrent appends (one process and several) all kept, secrets never written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, statSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import {
  RunHistory,
  historyRecord,
  addRun,
  emptyHistory,
  parseHistory,
  HISTORY_FILE,
  HISTORY_DAYS,
  MAX_HISTORY_RUNS,
  MAX_HISTORY_BYTES,
  type HistoryRun,
} from '../../src/run/history.ts';
import type { RunStats } from '../../src/run/stats.ts';

function logger(): { log: pino.Logger; lines: () => string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'info', base: undefined }, { write: (l: string) => void lines.push(l) });
  return { log, lines: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

function stats(job: string, end: Date, status: RunStats['status'] = 'success'): RunStats {
  return {
    job,
    status,
    start: new Date(end.getTime() - 5000),
    end,
    durationMs: 5000,
    lockWaitMs: 0,
    archive: {
      name: `backup-${end.getTime()}.tar.gz`,
      size: 1234,
      sha256: 'ab'.repeat(32),
      compression: 'gz',
      encryption: 'none',
      files: 3,
    } as RunStats['archive'],
    destinations: [
      { destination: 'S3', location: 's3://bucket/', ok: status !== 'failure', bytes: 1234, durationMs: 10, attempts: 1, pruned: status === 'success' ? 2 : 0 },
      {
        destination: 'WebDAV',
        location: 'https://user:hunter2secret@dav.example/x',
        ok: false,
        bytes: 0,
        durationMs: 10,
        attempts: 3,
        pruned: 0,
        pruneNote: 'prune failed: the server said no',
        error: 'x'.repeat(5000),
      },
    ],
    containersStopped: 0,
    containersRestarted: 0,
    warnings: [],
    degradedBy: [],
    error: status === 'failure' ? { phase: 'upload', message: 'every destination failed' } : null,
  };
}

const dir = () => mkdtempSync(join(tmpdir(), 'offsite-history-'));
let n = 0;
const rec = (job: string, end: Date, status: RunStats['status'] = 'success'): HistoryRun => historyRecord(stats(job, end, status), `id-${n++}`, 'cli');

test('a record is compact: results, bytes, destinations; errors cut, secrets redacted', () => {
  const r = rec('app', new Date('2026-03-01T02:00:00Z'), 'failure');
  assert.equal(r.status, 'failure');
  assert.equal(r.error, 'upload: every destination failed');
  assert.equal(r.archive?.size, 1234);
  assert.equal(r.destinations.length, 2);
  assert.ok(r.destinations[1]!.error!.length <= 300);
  assert.doesNotMatch(JSON.stringify(r), /hunter2secret/);
});

test('appends survive a new RunHistory (another process), count per day and in totals, and are kept once', async () => {
  const d = dir();
  const { log, lines } = logger();
  const h = new RunHistory(d, log);
  const t = new Date('2026-03-10T12:00:00Z');
  const a = rec('app', t);
  await h.append(a, t);
  await h.append(a, t); // the same run twice: one record
  await h.append(rec('app', new Date('2026-03-10T13:00:00Z'), 'failure'), t);
  await h.append(rec('db', new Date('2026-03-09T13:00:00Z'), 'degraded'), t);
  const other = await new RunHistory(d, log).read();
  assert.equal(other.runs.length, 3);
  assert.deepEqual(
    other.days.map((x) => [x.job, x.day, x.success, x.failure, x.degraded]),
    [
      ['db', '2026-03-09', 0, 0, 1],
      ['app', '2026-03-10', 1, 1, 0],
    ],
  );
  assert.deepEqual(other.totals.app, { success: 1, degraded: 0, partial: 0, failure: 1 });
  // the prune counters (pushed to a Pushgateway) per destination
  assert.deepEqual(other.prune.app, { S3: { deleted: 2, errors: 0 }, WebDAV: { deleted: 0, errors: 2 } });
  assert.deepEqual(lines(), []);
});

test('the file stays bounded: runs older than HISTORY_DAYS dropped, at most MAX_HISTORY_RUNS runs; totals keep counting', () => {
  const data = emptyHistory();
  const now = new Date('2026-06-01T00:00:00Z');
  // two runs an hour for 60 days, oldest first
  for (let i = 60 * 48 - 1; i >= 0; i--) addRun(data, rec('app', new Date(now.getTime() - i * 1_800_000)), now);
  assert.equal(data.runs.length, MAX_HISTORY_RUNS);
  assert.ok(data.days.length <= HISTORY_DAYS + 1, `${data.days.length} days kept`);
  assert.equal(data.totals.app!.success, 60 * 48);
  // the newest runs are the ones kept
  assert.equal(data.runs.at(-1)!.finished, now.toISOString());
  const oldest = Math.min(...data.runs.map((r) => Date.parse(r.finished)));
  assert.ok(now.getTime() - oldest < 30 * 86_400_000);
  // days older than HISTORY_DAYS go
  assert.ok(data.days.every((x) => Date.parse(x.day) >= now.getTime() - (HISTORY_DAYS + 1) * 86_400_000));
  assert.ok(JSON.stringify(data).length < MAX_HISTORY_BYTES / 2, `${JSON.stringify(data).length} bytes`);
});

test('a damaged history does not stop the record: set aside as .bad with one warning, a new history starts', async () => {
  const d = dir();
  writeFileSync(join(d, HISTORY_FILE), '{"version":1,"runs":[{"id":');
  const { log, lines } = logger();
  const h = new RunHistory(d, log);
  assert.deepEqual((await h.read()).runs, []);
  assert.match(lines()[0] ?? '', /run history .* is damaged \(not valid JSON\)/);
  const t = new Date();
  await h.append(rec('app', t), t);
  assert.match(
    lines().at(-1) ?? '',
    /is damaged.*set aside as .*run-history\.json\.bad; a new history starts with this run \(the backup itself is not affected\)/,
  );
  assert.equal(readFileSync(join(d, `${HISTORY_FILE}.bad`), 'utf8'), '{"version":1,"runs":[{"id":');
  assert.equal(parseHistory(readFileSync(join(d, HISTORY_FILE), 'utf8')).runs.length, 1);
});

test('an oversized history is not read (bounded), set aside, and replaced', async () => {
  const d = dir();
  writeFileSync(join(d, HISTORY_FILE), Buffer.alloc(MAX_HISTORY_BYTES + 10, 0x20));
  const { log, lines } = logger();
  const t = new Date();
  const data = await new RunHistory(d, log).append(rec('app', t), t);
  assert.equal(data.runs.length, 1);
  assert.match(lines().join('\n'), /is larger than 4 MiB/);
  assert.ok(statSync(join(d, HISTORY_FILE)).size < 10_000);
});

test(
  'a state directory that cannot be written: a warning, the run kept in memory',
  { skip: process.getuid?.() === 0 ? 'root writes anywhere' : false },
  async () => {
    const d = dir();
    mkdirSync(join(d, 'ro'));
    chmodSync(join(d, 'ro'), 0o500);
    const { log, lines } = logger();
    const h = new RunHistory(join(d, 'ro'), log);
    const t = new Date();
    await h.append(rec('app', t), t);
    await h.append(rec('app', t), t);
    assert.equal((await h.read()).runs.length, 2);
    assert.equal(lines().filter((l) => /cannot record the run in the run history/.test(l)).length, 1, lines().join('\n'));
  },
);

test('a state directory that is a file: a warning, never a throw', async () => {
  const d = dir();
  writeFileSync(join(d, 'file'), 'x');
  const { log, lines } = logger();
  const t = new Date();
  const data = await new RunHistory(join(d, 'file'), log).append(rec('app', t), t);
  assert.equal(data.runs.length, 1);
  assert.match(lines().join('\n'), /cannot record the run in the run history/);
});

test('concurrent appends in one process and from other processes all land', async () => {
  const d = dir();
  const { log } = logger();
  const t = new Date();
  const h = new RunHistory(d, log);
  const script = fileURLToPath(new URL('../../src/run/history.ts', import.meta.url));
  // four other processes append 10 runs each while this one appends 20
  const child = (k: number) =>
    new Promise<number | null>((resolve) => {
      const code = `
        import { RunHistory, historyRecord } from ${JSON.stringify(script)};
        import pino from 'pino';
        const h = new RunHistory(${JSON.stringify(d)}, pino({ level: 'silent' }));
        const end = new Date();
        for (let i = 0; i < 10; i++)
          await h.append({ id: 'p${k}-' + i, job: 'app', trigger: 'cli', started: end.toISOString(), finished: end.toISOString(), status: 'success', archive: null, destinations: [] });
      `;
      const p = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'inherit', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
      p.on('close', resolve);
    });
  const others = [1, 2, 3, 4].map(child);
  await Promise.all(Array.from({ length: 20 }, () => h.append(rec('app', t), t)));
  assert.deepEqual(await Promise.all(others), [0, 0, 0, 0]);
  const data = parseHistory(readFileSync(join(d, HISTORY_FILE), 'utf8'));
  assert.equal(data.runs.length, 60);
  assert.equal(data.totals.app!.success, 60);
  assert.ok(!existsSync(join(d, `${HISTORY_FILE}.lock`)));
});
