// Translated from offen/docker-volume-backup test/commands (01compose.sh, 02swarm.sh,
// docker-compose.yml): with EXEC_LABEL test and EXEC_FORWARD_OUTPUT true, the `database`
// container (docker-volume-backup.exec-label=test) runs its deprecated
// docker-volume-backup.exec-pre command before the archive (a dump written into the volume:
// backup/data/dump.sql is in the archive) and its copy-post command after it (post.txt is not in
// the archive); `other_database` (exec-label not-relevant) has an archive-pre command that must
// not run (no not-relevant.txt). 02swarm runs the same stack in Swarm mode. No Docker engine runs
// here: offsite talks to the Docker Engine API stand-in (test/servers/docker-fake.ts) through
// DOCKER_HOST, which runs each exec as a real process on this machine, so the volume app_data is
// the directory <tmp>/backup/data for the commands as for offsite (offen's /tmp/volume in the
// database containers), and the dump is `echo` of a line instead of mysqldump (no MariaDB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv } from '../helpers/cli.ts';
import { backupWithDocker, dockerStandIn, NEVER, swarmTaskLabels, untar } from './scenario.ts';

const docker = dockerStandIn();
const dirs = docker.dirs;

async function scenario(swarm: boolean) {
  const { fake } = docker;
  fake.swarm = swarm ? 'manager' : 'inactive';
  for (const id of [...fake.containers.keys()]) fake.containers.delete(id);
  const iso = isolatedEnv();
  dirs.push(iso.dir);
  const volume = join(iso.dir, 'backup', 'data'); // app_data: /backup/data in backup, /tmp/volume in the databases
  mkdirSync(volume, { recursive: true });
  mkdirSync(join(iso.dir, 'local'));
  const swarmLabels = (svc: string): Record<string, string> => (swarm ? swarmTaskLabels(`id-${svc}`, `test_stack_${svc}`) : {});
  fake.addContainer({
    name: swarm ? 'test_stack_database.1.a' : 'commands-database-1',
    labels: {
      'docker-volume-backup.exec-pre': `/bin/sh -c 'echo "-- MariaDB dump" > ${volume}/dump.sql'`,
      'docker-volume-backup.copy-post': `/bin/sh -c 'echo "post" > ${volume}/post.txt'`,
      'docker-volume-backup.exec-label': 'test',
      ...swarmLabels('database'),
    },
  });
  fake.addContainer({
    name: swarm ? 'test_stack_other_database.1.b' : 'commands-other_database-1',
    labels: {
      'docker-volume-backup.archive-pre': `touch ${volume}/not-relevant.txt`,
      'docker-volume-backup.exec-label': 'not-relevant',
      ...swarmLabels('other_database'),
    },
  });

  const r = await backupWithDocker(fake, {
    ...iso.env,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_CRON_EXPRESSION: NEVER,
    EXEC_LABEL: 'test',
    EXEC_FORWARD_OUTPUT: 'true',
    BACKUP_SOURCES: join(iso.dir, 'backup', 'data'),
    BACKUP_ARCHIVE: join(iso.dir, 'local'),
  });
  assert.equal(r.code, 0, r.out);
  const data = untar(join(iso.dir, 'local', 'test.tar.gz'), dirs)(volume);
  assert.ok(existsSync(join(data, 'dump.sql')), 'Could not find file written by pre command.');
  assert.ok(!existsSync(join(data, 'not-relevant.txt')), 'Command ran for container with other label.');
  assert.ok(!existsSync(join(volume, 'not-relevant.txt')), 'Command ran for container with other label.');
  assert.ok(!existsSync(join(data, 'post.txt')), 'File created in post command was present in backup.');
  assert.ok(existsSync(join(volume, 'post.txt')), 'the copy-post command ran after the archive');
}

test('offen test/commands 01compose: exec-pre output in the archive, copy-post after it, other exec-label not run', async () => {
  await scenario(false);
});

test('offen test/commands 02swarm: the same in a Swarm stack', async () => {
  await scenario(true);
});
