// Translated from offen/docker-volume-backup test/collision (run.sh, docker-compose.yml, a Swarm
// stack): the `offen` service carries docker-volume-backup.stop-during-backup=true both as a
// service label (deploy.labels) and as a label of its 2 task containers. Stopping the containers
// would race Swarm, which replaces them: the backup must refuse, exit non-zero, write no
// test.tar.gz, and leave all 3 containers running (expect_running_containers 3). No Docker
// engine runs here: offsite talks to the Docker Engine API stand-in (test/servers/docker-fake.ts)
// as a Swarm manager through DOCKER_HOST; the task containers are added with the labels Swarm
// gives them (com.docker.swarm.service.id / .name). The volume offen_data is a directory
// <tmp>/backup/offen_data, /archive a directory <tmp>/local.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerFake } from '../servers/docker-fake.ts';
import { isolatedEnv } from '../helpers/cli.ts';
import { cli } from './destination-scenario.ts';

const STOP = { 'docker-volume-backup.stop-during-backup': 'true' };
let fake: DockerFake;
let dir = '';
before(async () => {
  fake = await DockerFake.start();
});
after(async () => {
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('offen test/collision: a label on both the service and its task containers is refused; no archive, nothing stopped', async () => {
  const iso = isolatedEnv();
  dir = iso.dir;
  mkdirSync(join(dir, 'backup', 'offen_data'), { recursive: true });
  writeFileSync(join(dir, 'backup', 'offen_data', 'offen.db'), 'db');
  mkdirSync(join(dir, 'local'));
  fake.swarm = 'manager';
  const service = fake.addService({ name: 'test_stack_offen', labels: STOP, replicas: 2 });
  fake.addContainer({ name: 'test_stack_backup.1.a1' });
  for (const slot of [1, 2]) {
    fake.addContainer({
      name: `test_stack_offen.${slot}.b${slot}`,
      labels: { ...STOP, 'com.docker.swarm.service.id': service, 'com.docker.swarm.service.name': 'test_stack_offen' },
    });
  }

  const r = await cli(['backup'], {
    ...iso.env,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: join(dir, 'local'),
    DOCKER_HOST: `unix://${fake.socketPath}`,
  });
  assert.notEqual(r.code, 0, `Expected script to exit with error code.\n${r.out}`);
  assert.match(r.out, /is a task of Swarm service test_stack_offen/);
  assert.ok(!existsSync(join(dir, 'local', 'test.tar.gz')), 'Found backup file that should not have been created.');
  assert.equal([...fake.containers.values()].filter((c) => c.State === 'running').length, 3, 'Expected 3 containers to be running');
  assert.equal(fake.runningTasks(service), 2);
  assert.ok(!fake.calls.some((c) => c.method === 'POST'), 'nothing was stopped or scaled');
});
