// Translated from offen/docker-volume-backup test/services (run.sh, docker-compose.yml, a Swarm
// stack): the services `offen` (2 replicas) and `pg` carry docker-volume-backup.stop-during-backup
// as service labels (deploy.labels); the backup scales both to 0 and back, writes test.tar.gz to
// S3 (MinIO, bucket backup, BACKUP_RETENTION_DAYS 7, leeway 5s), the archive holds
// backup/pg_data/PG_VERSION, and every task runs again (expect_running_containers 5: minio,
// backup, offen x2, pg). No Docker engine runs here: offsite talks to the Docker Engine API
// stand-in (test/servers/docker-fake.ts) as a Swarm manager through DOCKER_HOST; S3 is s3rver
// (its own access key), read from its data directory as run.sh reads MinIO's volume; pg_data
// is a directory <tmp>/backup/pg_data.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DockerFake } from '../servers/docker-fake.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';
import { isolatedEnv } from '../helpers/cli.ts';
import { cli } from './destination-scenario.ts';

const STOP = { 'docker-volume-backup.stop-during-backup': 'true' };
let fake: DockerFake;
let s3: S3rverHandle;
const dirs: string[] = [];
before(async () => {
  fake = await DockerFake.start();
  s3 = await startS3rver({ buckets: ['backup'] });
});
after(async () => {
  await fake?.close();
  await s3?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/services: labelled services scaled to 0 and back, test.tar.gz in S3 holds pg_data', async () => {
  const iso = isolatedEnv();
  dirs.push(iso.dir);
  mkdirSync(join(iso.dir, 'backup', 'pg_data'), { recursive: true });
  writeFileSync(join(iso.dir, 'backup', 'pg_data', 'PG_VERSION'), '14\n');
  fake.swarm = 'manager';
  const offen = fake.addService({ name: 'test_stack_offen', labels: STOP, replicas: 2 });
  const pg = fake.addService({ name: 'test_stack_pg', labels: STOP, replicas: 1 });
  const other = fake.addService({ name: 'test_stack_minio', replicas: 1 });

  const r = await cli(['backup'], {
    ...iso.env,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT: `127.0.0.1:${s3.port}`,
    AWS_ENDPOINT_PROTO: 'http',
    AWS_S3_BUCKET_NAME: 'backup',
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
    BACKUP_RETENTION_DAYS: '7',
    BACKUP_PRUNING_LEEWAY: '5s',
    BACKUP_SOURCES: join(iso.dir, 'backup'),
    BACKUP_ARCHIVE: '',
    DOCKER_HOST: `unix://${fake.socketPath}`,
  });
  assert.equal(r.code, 0, r.out);
  const tmp = mkdtempSync(join(tmpdir(), 'offen-services-out-'));
  dirs.push(tmp);
  const object = join(s3.directory, 'backup', 'test.tar.gz._S3rver_object');
  writeFileSync(join(tmp, 'test.tar.gz'), readFileSync(object));
  execFileSync('tar', ['-xf', join(tmp, 'test.tar.gz'), '-C', tmp]);
  assert.ok(existsSync(join(tmp, iso.dir.slice(1), 'backup', 'pg_data', 'PG_VERSION')), 'Found relevant files in untared backup.');

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
