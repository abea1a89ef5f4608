// Fast run tests on the in-memory destination (test/destinations/memory.ts): a failed upload,
// a failed prune, a stalled upload and an aborted run end as they must, without any server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/log.ts';
import { runJob } from '../../src/run/run.ts';
import { exitCodeFor, EXIT } from '../../src/run/stats.ts';
import { createMemoryDestination, type MemoryDestination } from '../destinations/memory.ts';

const OLD = 'backup-2000-01-01T00-00-00.tar.gz';

function setup(extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-memrun-'));
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'a'.repeat(200_000));
  mkdirSync(join(dir, 'conf.d'));
  const config = loadConfig({
    env: {
      BACKUP_SOURCES: src,
      BACKUP_ARCHIVE: '',
      BACKUP_RETENTION_DAYS: '7',
      BACKUP_RETRY_ATTEMPTS: '1',
      BACKUP_COMPRESSION: 'none',
      OFFSITE_CONF_DIR: join(dir, 'conf.d'),
      OFFSITE_DOTENV: '/dev/null',
      OFFSITE_STATE_DIR: join(dir, 'state'),
      BACKUP_TMP_DIR: dir,
      ...extra,
    },
    cwd: dir,
  });
  return { job: config.jobs[0]!, lockFile: join(dir, 'lock') };
}

/** A memory destination holding one backup 30 days old (a prune candidate). */
function withOld(name: string): MemoryDestination {
  const d = createMemoryDestination(name, `memory://${name.toLowerCase()}/`);
  d.objects.set(OLD, { data: Buffer.from('old'), modified: new Date(Date.now() - 30 * 86_400_000) });
  return d;
}

test('a failed upload: the run is partial, the failure is reported, nothing is pruned anywhere', async () => {
  const s = setup();
  const good = withOld('Good');
  const bad = withOld('Bad');
  bad.faults.upload = new Error('HTTP 507 Insufficient Storage');
  const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile, destinations: [good, bad] });
  assert.equal(stats.status, 'partial');
  assert.equal(exitCodeFor(stats.status), EXIT.partial);
  const byName = Object.fromEntries(stats.destinations.map((d) => [d.destination, d]));
  assert.equal(byName.Good!.ok, true);
  assert.equal(byName.Bad!.ok, false);
  assert.match(byName.Bad!.error ?? '', /507/);
  assert.deepEqual([...bad.objects.keys()], [OLD], 'nothing new, nothing pruned where the upload failed');
  // a partial backup never replaces older ones: the destination that got it keeps its old backup too
  assert.deepEqual([...good.objects.keys()].filter((n) => !n.endsWith('.manifest.json')).sort(), [OLD, stats.archive!.name].sort());
  assert.match(byName.Good!.pruneNote ?? '', /not pruned: the run was partial/);
});

test('every upload failed: the run fails and prunes nothing', async () => {
  const s = setup();
  const bad = withOld('Bad');
  bad.faults.upload = new Error('connection refused');
  const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile, destinations: [bad] });
  assert.equal(stats.status, 'failure');
  assert.notEqual(stats.error, null);
  assert.deepEqual([...bad.objects.keys()], [OLD]);
});

test('a failed prune: the run is degraded (exit 4) and the old backup stays', async () => {
  const s = setup();
  const d = withOld('Mem');
  d.faults.remove = new Error('permission denied: delete is not allowed');
  const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile, destinations: [d] });
  assert.equal(stats.status, 'degraded');
  assert.equal(exitCodeFor(stats.status), EXIT.degraded);
  assert.match(stats.degradedBy.join('\n'), /prune failed: .*delete is not allowed/);
  assert.ok(d.objects.has(OLD));
});

test('a stalled upload ends after BACKUP_DESTINATION_TIMEOUT and the run is reported failed', async () => {
  const s = setup({ BACKUP_DESTINATION_TIMEOUT: '1s' });
  const d = withOld('Mem');
  d.faults.stallUpload = true;
  const started = Date.now();
  const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile, destinations: [d] });
  assert.equal(stats.status, 'failure');
  assert.match(stats.destinations[0]!.error ?? stats.error?.message ?? '', /no progress|timed? ?out|BACKUP_DESTINATION_TIMEOUT/i);
  assert.ok(Date.now() - started < 60_000, 'the stall ended the run');
  assert.deepEqual([...d.objects.keys()], [OLD]);
});

test('an aborted run (SIGTERM) ends, stores nothing and prunes nothing', async () => {
  const s = setup();
  const d = withOld('Mem');
  d.faults.stallUpload = true;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('SIGTERM')), 300);
  const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile, destinations: [d], signal: ac.signal });
  clearTimeout(timer);
  assert.equal(stats.status, 'failure');
  assert.deepEqual([...d.objects.keys()], [OLD]);
});
