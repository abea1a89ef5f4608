// Translated from offen/docker-volume-backup test/collision (run.sh, docker-compose.yml, a Swarm
// stack): the `offen` service carries docker-volume-backup.stop-during-backup=true both as a
// service label (deploy.labels) and as a label of its 2 task containers. Stopping the containers
// would race Swarm, which replaces them: the backup must refuse, exit non-zero, write no
// test.tar.gz, and leave all 3 containers running (expect_running_containers 3). No Docker
// engine runs here: offsite talks to the Docker Engine API stand-in (test/servers/docker-fake.ts)
// as a Swarm manager through DOCKER_HOST; the task containers are added with the labels Swarm
// gives them (com.docker.swarm.service.id / .name). The volume offen_data is a directory
// <tmp>/backup/offen_data, /archive a directory <tmp>/local.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { backupWithDocker, dockerStandIn, offenVolume, swarmTaskLabels } from './scenario.ts';

const STOP = { 'docker-volume-backup.stop-during-backup': 'true' };
const docker = dockerStandIn();

test('offen test/collision: a label on both the service and its task containers is refused; no archive, nothing stopped', async () => {
  const { fake } = docker;
  const { dir, env } = offenVolume(docker.dirs, { volume: 'offen_data' });
  fake.swarm = 'manager';
  const service = fake.addService({ name: 'test_stack_offen', labels: STOP, replicas: 2 });
  fake.addContainer({ name: 'test_stack_backup.1.a1' });
  for (const slot of [1, 2]) {
    fake.addContainer({
      name: `test_stack_offen.${slot}.b${slot}`,
      labels: { ...STOP, ...swarmTaskLabels(service, 'test_stack_offen') },
    });
  }

  const r = await backupWithDocker(fake, {
    ...env,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: join(dir, 'local'),
  });
  assert.notEqual(r.code, 0, `Expected script to exit with error code.\n${r.out}`);
  assert.match(r.out, /is a task of Swarm service test_stack_offen/);
  assert.ok(!existsSync(join(dir, 'local', 'test.tar.gz')), 'Found backup file that should not have been created.');
  assert.equal([...fake.containers.values()].filter((c) => c.State === 'running').length, 3, 'Expected 3 containers to be running');
  assert.equal(fake.runningTasks(service), 2);
  assert.ok(!fake.calls.some((c) => c.method === 'POST'), 'nothing was stopped or scaled');
});
