import { test } from 'node:test';
import { localConfigOf } from '../../src/destinations/local.def.ts';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, utimesSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { createLocalDestination } from '../../src/destinations/local.ts';
import type { Destination } from '../../src/destinations/types.ts';
import { silentLogger } from '../../src/log.ts';
import { runJob } from '../../src/run/run.ts';
import { exitCodeFor, EXIT } from '../../src/run/stats.ts';

function setup(retention: Record<string, string> = { BACKUP_RETENTION_DAYS: '7' }) {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-run-'));
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'a');
  const archive = join(dir, 'archive');
  mkdirSync(archive);
  mkdirSync(join(dir, 'conf.d'));
  const old = new Date(Date.now() - 30 * 86_400_000);
  writeFileSync(join(archive, 'backup-2000-01-01T00-00-00.tar.gz'), 'old');
  utimesSync(join(archive, 'backup-2000-01-01T00-00-00.tar.gz'), old, old);
  const config = loadConfig({
    env: {
      BACKUP_SOURCES: src,
      BACKUP_ARCHIVE: archive,
      ...retention,
      OFFSITE_CONF_DIR: join(dir, 'conf.d'),
      OFFSITE_DOTENV: '/dev/null',
      OFFSITE_STATE_DIR: join(dir, 'state'),
    },
    cwd: dir,
  });
  return { dir, archive, job: config.jobs[0]!, lockFile: join(dir, 'lock') };
}

test('a prune that fails makes the run degraded (exit 4), never a silent success', async () => {
  const s = setup();
  const local = createLocalDestination(localConfigOf(s.job)!, silentLogger());
  // the local directory refuses deletions (as a bucket policy without delete rights would)
  const noDelete: Destination = {
    ...local,
    name: local.name,
    location: local.location,
    async remove() {
      throw new Error('permission denied: delete is not allowed');
    },
  };
  const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile, destinations: [noDelete] });
  assert.equal(stats.status, 'degraded');
  assert.equal(exitCodeFor(stats.status), EXIT.degraded);
  assert.equal(stats.destinations[0]!.ok, true);
  assert.match(stats.degradedBy.join('\n'), /Local: prune failed: .*delete is not allowed/);
  assert.ok(readdirSync(s.archive).includes('backup-2000-01-01T00-00-00.tar.gz'), 'the old backup is still there');
});

test('a successful prune keeps the run a success', async () => {
  const s = setup();
  const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile });
  assert.equal(stats.status, 'success', JSON.stringify(stats.warnings));
  assert.deepEqual(stats.degradedBy, []);
  assert.equal(stats.destinations[0]!.pruned, 1);
  assert.ok(!readdirSync(s.archive).includes('backup-2000-01-01T00-00-00.tar.gz'));
});

test('a run prunes by BACKUP_RETENTION_KEEP_* alone (no BACKUP_RETENTION_DAYS): times from the names, counts in RunStats', async () => {
  const s = setup({ BACKUP_RETENTION_KEEP_LAST: '2' });
  // named yesterday and the day before, modified just now (copied): the names decide
  const day = 86_400_000;
  const names = [1, 2].map((d) => `backup-${new Date(Date.now() - d * day).toISOString().slice(0, 19).replace(/:/g, '-')}.tar.gz`);
  for (const n of names) writeFileSync(join(s.archive, n), 'x');
  const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile });
  assert.equal(stats.status, 'success', JSON.stringify(stats.warnings));
  assert.equal(stats.destinations[0]!.pruned, 2);
  assert.equal(stats.destinations[0]!.kept, 2);
  const left = readdirSync(s.archive).filter((n) => !n.endsWith('.manifest.json'));
  assert.equal(left.length, 2);
  assert.ok(left.includes(names[0]!), 'yesterday stays (last 2/2)');
  assert.ok(left.includes(stats.archive!.name), 'the backup just written stays');
});

test("a pre-scan started before the lock is not the manifest's when another run held the lock: the archive scans again", async () => {
  const { prestartArchiveWorker } = await import('../../src/archive/index.ts');
  const { sparePrescanned } = await import('../../src/archive/spare.ts');
  const { acquireLock } = await import('../../src/run/lock.ts');
  const s = setup({});
  const src = s.job.archive.sources[0]!;
  const other = await acquireLock(s.lockFile, { timeoutMs: 5000, owner: 'other' });
  const worker = prestartArchiveWorker();
  const running = runJob(s.job, { log: silentLogger(), lockFile: s.lockFile });
  // the run pre-scanned (no pre hooks) and waits for the lock; the other run changes the sources meanwhile
  await sparePrescanned();
  writeFileSync(join(src, 'b.txt'), 'bb');
  await other.release();
  const stats = await running;
  worker.end();
  assert.equal(stats.status, 'success', JSON.stringify(stats.warnings));
  assert.equal(worker.taken, true, 'the archive took the pre-scanning worker');
  const sidecar = readdirSync(s.archive).find((n) => n.endsWith('.manifest.json'))!;
  const manifest = JSON.parse(readFileSync(join(s.archive, sidecar), 'utf8'));
  assert.deepEqual(manifest.counts, { files: 2, directories: 1, symlinks: 0 });
  assert.equal(manifest.bytes, 3);
});
