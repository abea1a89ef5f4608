// The local destination's mount disappears between the daemon's start (configuration
// loaded, BACKUP_ARCHIVE existed) and a run: the run is partial (exit 3), says which
// destination did not receive the backup and why, and the remote copy is complete.
import { localConfigOf } from '../../src/destinations/local.def.ts';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { runJob } from '../../src/run/run.ts';
import { exitCodeFor, EXIT } from '../../src/run/stats.ts';
import { silentLogger } from '../../src/log.ts';
import { startWebdavServer } from '../servers/webdav-server.ts';

const dav = await startWebdavServer();
const dir = mkdtempSync(join(tmpdir(), 'offsite-missing-local-'));
after(async () => {
  await dav.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a local destination whose directory went away after start makes the run partial, never a silent success', async () => {
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'data');
  const archive = join(dir, 'archive');
  mkdirSync(archive);
  mkdirSync(join(dir, 'conf.d'));
  const config = loadConfig({
    env: {
      BACKUP_SOURCES: src,
      BACKUP_ARCHIVE: archive,
      BACKUP_TMP_DIR: dir,
      WEBDAV_URL: dav.url,
      WEBDAV_USERNAME: dav.username,
      WEBDAV_PASSWORD: dav.password,
      WEBDAV_PATH: '/remote',
      OFFSITE_CONF_DIR: join(dir, 'conf.d'),
      OFFSITE_DOTENV: '/dev/null',
      OFFSITE_LOCK_FILE: join(dir, 'lock'),
    },
  });
  const job = config.jobs[0]!;
  assert.ok(localConfigOf(job), 'the local destination is configured at start');
  rmSync(archive, { recursive: true }); // the mount went away
  const stats = await runJob(job, { log: silentLogger(), lockFile: config.lockFile });
  assert.equal(stats.status, 'partial', JSON.stringify(stats, null, 2));
  assert.equal(exitCodeFor(stats.status), EXIT.partial);
  const local = stats.destinations.find((d) => d.destination === 'Local')!;
  assert.equal(local.ok, false);
  assert.match(local.error ?? '', /does not exist/);
  assert.ok(
    stats.warnings.some((w) => /upload to Local failed: .*does not exist/.test(w)),
    stats.warnings.join('\n'),
  );
  assert.equal(stats.destinations.find((d) => d.destination === 'WebDAV')!.ok, true);
  assert.ok(
    readdirSync(join(dav.root, 'remote')).some((n) => n.endsWith('.tar.gz')),
    'the remote copy is there',
  );
  assert.equal(existsSync(archive), false, 'offsite never creates the missing mount point');
});
