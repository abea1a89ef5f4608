// Translated from offen/docker-volume-backup test/pruning (run.sh, docker-compose.yml): "prune-
// skipping with multiple backends (local, s3)". Backups named test-$HOSTNAME.tar.gz (hostname
// hostnametoken, BACKUP_FILENAME_EXPAND), latest symlink test-$HOSTNAME.latest.tar.gz, retention
// 7 days, leeway 5s, prefix test, to a local archive and an S3 bucket. After a first backup an
// empty test-hostnametoken-old.tar.gz, 14 days old, is put into both stores; a backup with
// BACKUP_SKIP_BACKENDS_FROM_PRUNE=s3 (offen's lowercase spelling) prunes it locally and leaves it
// in S3; the local one is put back, and a backup with BACKUP_SKIP_BACKENDS_FROM_PRUNE="s3,local"
// leaves both. Without Docker: the S3 server is s3rver (test/servers/s3rver.ts), whose data
// directory holds an object `<key>` as `<bucket>/<key>._S3rver_object` with that file's mtime as
// LastModified, so run.sh's `touch -d@...` in MinIO's volume is the same touch here. As in
// test/offen/s3.test.ts: s3rver's own keys (S3RVER/S3RVER) and AWS_CHECKSUM=when_required.
// offsite runs as a process; the volume is a directory under <tmp>/backup/app_data;
// expect_running_containers and `docker compose up -d` need Docker and are left out. Deliberate
// difference: an unknown name in BACKUP_SKIP_BACKENDS_FROM_PRUNE is a configuration error in
// offsite (offen ignores it), asserted at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { backupOk, NEVER, offenVolume, removedAfter, s3rverEnv, s3rverWithBucket } from './scenario.ts';

const SUFFIX = '._S3rver_object';
const OLD = 'test-hostnametoken-old.tar.gz';
const dirs = removedAfter();
const s3rver = s3rverWithBucket(); // mkdir -p /data/backup && minio server /data

/** An empty file last modified 14 days ago (`touch -d "14 days ago"`). */
function touchOld(file: string): void {
  writeFileSync(file, '');
  const t = new Date(Date.now() - 1_209_600_000);
  utimesSync(file, t, t);
}

test('offen test/pruning: BACKUP_SKIP_BACKENDS_FROM_PRUNE=s3 prunes only locally; "s3,local" prunes nowhere', () => {
  const server = s3rver.server;
  const { dir, env: base, local } = offenVolume(dirs); // app_data:/backup/app_data:ro, ${LOCAL_DIR}:/archive
  const bucket = join(server.directory, 'backup');
  const env = {
    ...base,
    HOSTNAME: 'hostnametoken', // hostname: hostnametoken
    ...s3rverEnv(server.port),
    AWS_CHECKSUM: 'when_required',
    BACKUP_FILENAME_EXPAND: 'true',
    BACKUP_FILENAME: 'test-$HOSTNAME.tar.gz', // test-$$HOSTNAME.tar.gz in compose
    BACKUP_CRON_EXPRESSION: NEVER,
    BACKUP_RETENTION_DAYS: '7',
    BACKUP_PRUNING_LEEWAY: '5s',
    BACKUP_PRUNING_PREFIX: 'test',
    BACKUP_LATEST_SYMLINK: 'test-$HOSTNAME.latest.tar.gz',
    BACKUP_SKIP_BACKENDS_FROM_PRUNE: 's3',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  };
  const backup = (extra: Record<string, string> = {}) => backupOk({ ...env, ...extra });

  backup();
  assert.ok(existsSync(join(local, 'test-hostnametoken.tar.gz')));
  assert.ok(lstatSync(join(local, 'test-hostnametoken.latest.tar.gz')).isSymbolicLink());
  assert.ok(existsSync(join(bucket, 'test-hostnametoken.tar.gz' + SUFFIX)));
  touchOld(join(local, OLD));
  touchOld(join(bucket, OLD + SUFFIX));

  // Create backup with no prune for s3 backend
  backup();
  assert.ok(!existsSync(join(local, OLD)), 'Expired backup was not pruned from local storage.');
  assert.ok(existsSync(join(bucket, OLD + SUFFIX)), 'the skipped S3 backend is untouched');
  assert.ok(existsSync(join(local, 'test-hostnametoken.tar.gz')), 'the new local backup is still present');

  // Skip local and s3 backend from prune (all backends)
  touchOld(join(local, OLD));
  backup({ BACKUP_SKIP_BACKENDS_FROM_PRUNE: 's3,local' });
  assert.ok(existsSync(join(local, OLD)), 'Backdated file has not been deleted');
  assert.ok(existsSync(join(bucket, OLD + SUFFIX)), 'Skipped all backends while pruning.');

  // Deliberate difference: offen ignores a name it does not know; offsite refuses it by name
  // before anything starts (a typo would otherwise prune the destination meant to be skipped)
  const unknown = runCli(['backup'], { ...env, BACKUP_SKIP_BACKENDS_FROM_PRUNE: 's3,minio' });
  assert.equal(unknown.code, 2, unknown.stdout + unknown.stderr);
  assert.match(unknown.stdout + unknown.stderr, /BACKUP_SKIP_BACKENDS_FROM_PRUNE.*minio/);
  assert.ok(existsSync(join(local, OLD)) && existsSync(join(bucket, OLD + SUFFIX)), 'nothing was pruned');

  // without the skip list both old backups go (the assertions above can fail)
  backup({ BACKUP_SKIP_BACKENDS_FROM_PRUNE: '' });
  assert.ok(!existsSync(join(local, OLD)), 'pruned locally without the skip list');
  assert.ok(!existsSync(join(bucket, OLD + SUFFIX)), 'pruned in S3 without the skip list');
});
