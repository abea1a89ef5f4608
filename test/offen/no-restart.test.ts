// Translated from offen/docker-volume-backup test/no-restart (run.sh, docker-compose.yml): the
// `offen` container labelled docker-volume-backup.stop-during-backup-no-restart=true is stopped
// for the backup and left stopped (expect_running_containers 1: only `backup` runs afterwards);
// test.tar.gz in /archive holds backup/app_data/offen.db. No Docker engine runs here: offsite
// talks to the Docker Engine API stand-in (test/servers/docker-fake.ts) through DOCKER_HOST, the
// volume app_data is a directory <tmp>/backup/app_data and /archive a directory <tmp>/local
// (archive paths carry the <tmp> prefix, as in the other translations).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasOffenDb } from './destination-scenario.ts';
import { backupWithDocker, dockerStandIn, NEVER, offenVolume } from './scenario.ts';

const docker = dockerStandIn();

test('offen test/no-restart: the no-restart container is stopped and stays stopped; the archive holds offen.db', async () => {
  const { fake } = docker;
  const { dir, env } = offenVolume(docker.dirs);
  fake.addContainer({ name: 'no-restart-backup-1' });
  const offen = fake.addContainer({ name: 'no-restart-offen-1', labels: { 'docker-volume-backup.stop-during-backup-no-restart': 'true' } });

  const r = await backupWithDocker(fake, {
    ...env,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_CRON_EXPRESSION: NEVER,
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: join(dir, 'local'),
  });
  assert.equal(r.code, 0, r.out);
  const running = [...fake.containers.values()].filter((c) => c.State === 'running').map((c) => c.Names[0]);
  assert.deepEqual(running, ['/no-restart-backup-1'], 'Expected 1 container to be running');
  assert.equal(fake.containers.get(offen)!.State, 'exited');
  assert.ok(!fake.calls.some((c) => c.method === 'POST' && c.path === `/containers/${offen}/start`), 'never started again');
  assert.ok(hasOffenDb(readFileSync(join(dir, 'local', 'test.tar.gz')), dir), 'Could not find expected file in untared archive.');
});
