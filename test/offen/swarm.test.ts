// Translated from offen/docker-volume-backup test/swarm (run.sh, docker-compose.yml, a Swarm
// stack backing up pg_data to S3): the services `offen` (2 replicas) and `pg` carry
// docker-volume-backup.stop-during-backup=true as *container* labels (`labels:`, not
// `deploy.labels`), with restart_policy on-failure. offen stops and restarts the task containers
// directly, finds backup/pg_data/PG_VERSION in test.tar.gz and 5 running containers.
// Deliberate difference (README, "offen's own test scenarios"): offsite refuses to stop a
// container that is a Swarm task, before anything is stopped or archived, and names the
// service: Swarm replaces a stopped task unless its restart policy happens to allow the stop,
// so the volume could be written during the backup; the label belongs on the service
// (deploy.labels), which offsite scales to 0 and back (test/offen/services.test.ts). This test
// asserts that refusal: exit non-zero, the hint, nothing stopped, no object in the bucket, all 5
// running. No Docker engine runs here: the Docker Engine API stand-in (test/servers/docker-fake.ts)
// as a Swarm manager, task containers added with the labels Swarm gives them; S3 is s3rver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv } from '../helpers/cli.ts';
import { backupWithDocker, dockerStandIn, s3rverWithBucket, swarmStackS3Env, swarmTaskLabels } from './scenario.ts';

const STOP = { 'docker-volume-backup.stop-during-backup': 'true' };
const docker = dockerStandIn();
const s3rver = s3rverWithBucket();

test('offen test/swarm: container labels on Swarm tasks are refused naming the service (offsite differs); nothing stopped, nothing written', async () => {
  const s3 = s3rver.server;
  const { fake } = docker;
  const iso = isolatedEnv();
  const dir = iso.dir;
  docker.dirs.push(dir);
  mkdirSync(join(dir, 'backup', 'pg_data'), { recursive: true });
  writeFileSync(join(dir, 'backup', 'pg_data', 'PG_VERSION'), '14\n');
  fake.swarm = 'manager';
  const task = (service: string, id: string, slot: number, labels: Record<string, string> = {}) =>
    fake.addContainer({
      name: `test_stack_${service}.${slot}.x${slot}`,
      labels: { ...labels, ...swarmTaskLabels(id, `test_stack_${service}`) },
    });
  for (const [service, replicas, labels] of [
    ['minio', 1, {}],
    ['backup', 1, {}],
    ['offen', 2, STOP],
    ['pg', 1, STOP],
  ] as const) {
    const id = fake.addService({ name: `test_stack_${service}`, replicas });
    for (let slot = 1; slot <= replicas; slot++) task(service, id, slot, labels);
  }

  const r = await backupWithDocker(fake, swarmStackS3Env(iso.env, dir, s3.port));
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, /is labelled to stop but is a task of Swarm service test_stack_(offen|pg)/);
  assert.match(r.out, /deploy\.labels/);
  assert.ok(!fake.calls.some((c) => c.method === 'POST'), 'nothing was stopped');
  assert.equal([...fake.containers.values()].filter((c) => c.State === 'running').length, 5);
  const bucket = join(s3.directory, 'backup');
  assert.deepEqual(existsSync(bucket) ? readdirSync(bucket) : [], [], 'no backup was written');
});
