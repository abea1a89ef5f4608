// Translated from offen/docker-volume-backup test/secrets (run.sh, docker-compose.yml, a Swarm
// stack): the S3 credentials come from Docker secrets through AWS_ACCESS_KEY_ID_FILE and
// AWS_SECRET_ACCESS_KEY_FILE (/run/secrets/minio_root_user, /run/secrets/minio_root_password,
// created with printf, no trailing newline); one backup run by hand as test.tar.gz of the
// postgres volume pg_data, which `tar -xf` of the stored object must give with PG_VERSION. Then
// `backup` with AWS_ACCESS_KEY_ID also set (both X and X_FILE) must fail, and so must
// AWS_ACCESS_KEY_ID_FILE naming a file that does not exist.
// Without Docker: the secrets are files in a private directory; the postgres volume is a data
// directory made by the real initdb (PostgreSQL from .ci/system-packages.sh) when it is installed,
// else a directory holding PG_VERSION; the server is s3rver (test/servers/s3rver.ts) read through
// its data directory as run.sh reads MinIO's volume (object `<key>` = file
// `<bucket>/<key>._S3rver_object`). As in test/offen/s3.test.ts, s3rver accepts only its own keys
// (so the secrets hold S3RVER/S3RVER) and needs AWS_CHECKSUM=when_required. The Swarm services
// (offen replicas, expect_running_containers 5) need a Docker engine and are left out.
// offen treats X and X_FILE both set as X unset (the backup then fails for lack of credentials);
// offsite refuses the pair by name before anything starts: both fail, as the test asserts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { makePgData } from './pgdata.ts';
import { S3RVER_CREDENTIALS } from '../servers/s3rver.ts';
import { removedAfter, s3rverWithBucket } from './scenario.ts';

const SUFFIX = '._S3rver_object';
const dirs = removedAfter();
const s3rver = s3rverWithBucket(); // minio: mkdir -p /data/backup

test('offen test/secrets: S3 keys from _FILE secrets; both X and X_FILE fail; a missing _FILE fails', () => {
  const server = s3rver.server;
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  makePgData(join(dir, 'backup', 'pg_data')); // pg_data:/backup/pg_data:ro
  const secrets = join(dir, 'run', 'secrets');
  mkdirSync(secrets, { recursive: true });
  writeFileSync(join(secrets, 'minio_root_user'), S3RVER_CREDENTIALS.accessKeyId); // printf "test" | docker secret create minio_root_user -
  writeFileSync(join(secrets, 'minio_root_password'), S3RVER_CREDENTIALS.secretAccessKey);
  const base = {
    ...env,
    AWS_ACCESS_KEY_ID_FILE: join(secrets, 'minio_root_user'),
    AWS_SECRET_ACCESS_KEY_FILE: join(secrets, 'minio_root_password'),
    AWS_ENDPOINT: `127.0.0.1:${server.port}`,
    AWS_ENDPOINT_PROTO: 'http',
    AWS_S3_BUCKET_NAME: 'backup',
    AWS_CHECKSUM: 'when_required',
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
    BACKUP_RETENTION_DAYS: '7',
    BACKUP_PRUNING_LEEWAY: '5s',
    BACKUP_SOURCES: join(dir, 'backup'),
  };
  const object = join(server.directory, 'backup', 'test.tar.gz' + SUFFIX);

  const r = runCli(['backup'], base);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = mkdtempSync(join(tmpdir(), 'offen-secrets-out-'));
  dirs.push(out);
  execFileSync('tar', ['-xf', object, '-C', out]);
  assert.ok(existsSync(join(out, dir.slice(1), 'backup', 'pg_data', 'PG_VERSION')), 'Found relevant files in untared backup.');

  // docker exec -e AWS_ACCESS_KEY_ID=test <backup> backup && fail "Backup should have failed due to duplicate env variables."
  rmSync(object);
  const dup = runCli(['backup'], { ...base, AWS_ACCESS_KEY_ID: 'test' });
  assert.notEqual(dup.code, 0, 'Backup should have failed due to duplicate env variables.');
  assert.match(dup.stdout + dup.stderr, /AWS_ACCESS_KEY_ID_FILE/, 'the error names the pair');
  assert.ok(!existsSync(object), 'nothing was uploaded');

  // docker exec -e AWS_ACCESS_KEY_ID_FILE=/tmp/nonexistant <backup> backup && fail "...non existing file env variable."
  const missing = runCli(['backup'], { ...base, AWS_ACCESS_KEY_ID_FILE: join(dir, 'nonexistant') });
  assert.notEqual(missing.code, 0, 'Backup should have failed due to non existing file env variable.');
  assert.match(missing.stdout + missing.stderr, /AWS_ACCESS_KEY_ID_FILE/, 'the error names the variable');
  assert.ok(!existsSync(object), 'nothing was uploaded');
  for (const x of [dup, missing]) assert.doesNotMatch(x.stdout + x.stderr, /\n\s+at .*\.ts:\d+/, 'no stack trace for a user mistake');
});
