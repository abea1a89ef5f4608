// Translated from offen/docker-volume-backup test/no-restart (run.sh, docker-compose.yml): the
// `offen` container labelled docker-volume-backup.stop-during-backup-no-restart=true is stopped
// for the backup and left stopped (expect_running_containers 1: only `backup` runs afterwards);
// test.tar.gz in /archive holds backup/app_data/offen.db. No Docker engine runs here: offsite
// talks to the Docker Engine API stand-in (test/servers/docker-fake.ts) through DOCKER_HOST, the
// volume app_data is a directory <tmp>/backup/app_data and /archive a directory <tmp>/local
// (archive paths carry the <tmp> prefix, as in the other translations).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerFake } from '../servers/docker-fake.ts';
import { isolatedEnv } from '../helpers/cli.ts';
import { cli, hasOffenDb } from './destination-scenario.ts';

let fake: DockerFake;
let dir = '';
before(async () => {
  fake = await DockerFake.start();
});
after(async () => {
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('offen test/no-restart: the no-restart container is stopped and stays stopped; the archive holds offen.db', async () => {
  const iso = isolatedEnv();
  dir = iso.dir;
  mkdirSync(join(dir, 'backup', 'app_data'), { recursive: true });
  writeFileSync(join(dir, 'backup', 'app_data', 'offen.db'), 'db');
  mkdirSync(join(dir, 'local'));
  fake.addContainer({ name: 'no-restart-backup-1' });
  const offen = fake.addContainer({ name: 'no-restart-offen-1', labels: { 'docker-volume-backup.stop-during-backup-no-restart': 'true' } });

  const r = await cli(['backup'], {
    ...iso.env,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: join(dir, 'local'),
    DOCKER_HOST: `unix://${fake.socketPath}`,
  });
  assert.equal(r.code, 0, r.out);
  const running = [...fake.containers.values()].filter((c) => c.State === 'running').map((c) => c.Names[0]);
  assert.deepEqual(running, ['/no-restart-backup-1'], 'Expected 1 container to be running');
  assert.equal(fake.containers.get(offen)!.State, 'exited');
  assert.ok(!fake.calls.some((c) => c.method === 'POST' && c.path === `/containers/${offen}/start`), 'never started again');
  assert.ok(hasOffenDb(readFileSync(join(dir, 'local', 'test.tar.gz')), dir), 'Could not find expected file in untared archive.');
});
