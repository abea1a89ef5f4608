// Translated from offen/docker-volume-backup test/services (run.sh, docker-compose.yml, a Swarm
// stack): the services `offen` (2 replicas) and `pg` carry docker-volume-backup.stop-during-backup
// as service labels (deploy.labels); the backup scales both to 0 and back, writes test.tar.gz to
// S3 (MinIO, bucket backup, BACKUP_RETENTION_DAYS 7, leeway 5s), the archive holds
// backup/pg_data/PG_VERSION, and every task runs again (expect_running_containers 5: minio,
// backup, offen x2, pg). No Docker engine runs here: offsite talks to the Docker Engine API
// stand-in (test/servers/docker-fake.ts) as a Swarm manager through DOCKER_HOST; S3 is s3rver
// (its own access key), read from its data directory as run.sh reads MinIO's volume; pg_data
// is a directory <tmp>/backup/pg_data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv } from '../helpers/cli.ts';
import { backupWithDocker, dockerStandIn, s3rverWithBucket, swarmStackS3Env, untar } from './scenario.ts';

const STOP = { 'docker-volume-backup.stop-during-backup': 'true' };
const docker = dockerStandIn();
const dirs = docker.dirs;
const s3rver = s3rverWithBucket();

test('offen test/services: labelled services scaled to 0 and back, test.tar.gz in S3 holds pg_data', async () => {
  const s3 = s3rver.server;
  const { fake } = docker;
  const iso = isolatedEnv();
  dirs.push(iso.dir);
  mkdirSync(join(iso.dir, 'backup', 'pg_data'), { recursive: true });
  writeFileSync(join(iso.dir, 'backup', 'pg_data', 'PG_VERSION'), '14\n');
  fake.swarm = 'manager';
  const offen = fake.addService({ name: 'test_stack_offen', labels: STOP, replicas: 2 });
  const pg = fake.addService({ name: 'test_stack_pg', labels: STOP, replicas: 1 });
  const other = fake.addService({ name: 'test_stack_minio', replicas: 1 });

  const r = await backupWithDocker(fake, swarmStackS3Env(iso.env, iso.dir, s3.port));
  assert.equal(r.code, 0, r.out);
  const extracted = untar(join(s3.directory, 'backup', 'test.tar.gz._S3rver_object'), dirs);
  assert.ok(existsSync(extracted(join(iso.dir, 'backup', 'pg_data', 'PG_VERSION'))), 'Found relevant files in untared backup.');

  for (const [id, replicas] of [
    [offen, 2],
    [pg, 1],
  ] as const) {
    const scaled = fake.calls
      .filter((c) => c.method === 'POST' && c.path === `/services/${id}/update`)
      .map((c) => (c.body as { Mode: { Replicated: { Replicas: number } } }).Mode.Replicated.Replicas);
    assert.deepEqual(scaled, [0, replicas], 'scaled to 0 for the backup and back');
    assert.equal(fake.runningTasks(id), replicas);
  }
  assert.ok(!fake.calls.some((c) => c.method === 'POST' && c.path === `/services/${other}/update`), 'an unlabelled service is left alone');
});
