// Translated from offen/docker-volume-backup test/lock (run.sh, docker-compose.yml): a backup run
// by hand (BACKUP_FILENAME=test.tar.gz, BACKUP_RETENTION_DAYS=7) and, while it runs, a second one
// (BACKUP_FILENAME=test2.tar.gz, LOCK_TIMEOUT=1s): the second must exit non-zero and create no
// archive, the first must complete test.tar.gz. In offen the first run is slow because it stops
// the `offen` container (stop-during-backup) and the second starts 0.1 s later; without Docker this
// test holds the first run inside the lock with a BACKUP_PRE_COMMAND that waits for the test to
// release it once the second run has exited, so the overlap does not depend on timing. offsite runs
// as two processes sharing one lock file (OFFSITE_LOCK_FILE; offen's lock is /var/lock/dockervolumebackup.lock
// in the one container).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { collect, runCli, startCli, waitFor } from '../helpers/cli.ts';
import { NEVER, offenVolume, removedAfter } from './scenario.ts';

const dirs = removedAfter();

test('offen test/lock: a second backup while the first holds the lock fails after LOCK_TIMEOUT and creates no archive', async () => {
  const { dir, env, local } = offenVolume(dirs); // app_data:/backup/app_data:ro, ${LOCAL_DIR}:/archive
  const started = join(dir, 'first-started');
  const release = join(dir, 'first-release');
  const base = {
    ...env,
    BACKUP_CRON_EXPRESSION: NEVER,
    BACKUP_RETENTION_DAYS: '7',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  };

  // docker compose exec -e BACKUP_RETENTION_DAYS=7 -e BACKUP_FILENAME=test.tar.gz backup backup &
  const first = startCli(['backup'], {
    ...base,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_PRE_COMMAND: `touch '${started}'; i=0; while [ ! -f '${release}' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done`,
  });
  const firstLog = collect(first);
  const firstExit = once(first, 'exit');
  await waitFor(() => existsSync(started), 60_000, 'the first backup to hold the lock', firstLog);

  // docker compose exec -e BACKUP_FILENAME=test2.tar.gz -e LOCK_TIMEOUT=1s backup backup
  const t0 = Date.now();
  const second = runCli(['backup'], { ...base, BACKUP_FILENAME: 'test2.tar.gz', LOCK_TIMEOUT: '1s' });
  assert.notEqual(second.code, 0, `Subsequent invocation exited 0\n${second.stdout}${second.stderr}`);
  assert.match(second.stdout + second.stderr, /lock/i, 'the failure names the lock');
  assert.ok(Date.now() - t0 >= 1000, 'the second run waited LOCK_TIMEOUT before failing');

  writeFileSync(release, '');
  const [code] = await firstExit;
  assert.equal(code, 0, firstLog());
  assert.ok(existsSync(join(local, 'test.tar.gz')), 'Could not find expected tar file');
  assert.ok(!existsSync(join(local, 'test2.tar.gz')), 'Subsequent invocation was expected to fail but created archive');
});
