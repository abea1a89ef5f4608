// Translated from offen/docker-volume-backup test/cli (run.sh): one backup run by hand
// (`--entrypoint backup`, no compose file) of two volumes, app_data with a file and empty_data
// left empty ("to test whether empty directories are handled correctly"), with
// BACKUP_FROM_SNAPSHOT=true (deprecated, still read: the sources are copied first and the copy is
// archived under the sources' own names), to an S3-compatible server (offen: MinIO with bucket
// `backup`, AWS_ENDPOINT minio:9000, AWS_ENDPOINT_PROTO http) as test.tar.gz; `tar -xvf` of the
// stored object must give backup/app_data/offen.db and the directory backup/empty_data.
// The server is s3rver (test/servers/s3rver.ts), read through its data directory as run.sh reads
// MinIO's volume (an object `<key>` is the file `<bucket>/<key>._S3rver_object`). As in
// test/offen/s3.test.ts, s3rver accepts only its own access key (S3RVER/S3RVER) and needs
// AWS_CHECKSUM=when_required (it stores the SDK's aws-chunked framing verbatim, as MinIO of 2020
// does). offsite runs as a process; the volumes are directories under <tmp>/backup, so archive
// paths carry the <tmp> prefix; expect_running_containers needs Docker and is left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { backupOk, offenVolume, removedAfter, s3rverEnv, s3rverWithBucket, untar } from './scenario.ts';

const SUFFIX = '._S3rver_object';
const dirs = removedAfter();
const s3rver = s3rverWithBucket(); // docker exec minio mkdir -p /data/backup

test('offen test/cli: BACKUP_FROM_SNAPSHOT backup to S3 keeps the file and the empty directory', () => {
  const server = s3rver.server;
  const { dir, env } = offenVolume(dirs, { archive: null }); // -v app_data:/backup/app_data
  mkdirSync(join(dir, 'backup', 'empty_data')); // -v empty_data:/backup/empty_data
  const tmpDir = join(dir, 'tmp');
  mkdirSync(tmpDir);
  const r = backupOk({
    ...env,
    ...s3rverEnv(server.port),
    AWS_CHECKSUM: 'when_required',
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_FROM_SNAPSHOT: 'true',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_TMP_DIR: tmpDir,
  });
  assert.match(r.stdout + r.stderr, /BACKUP_FROM_SNAPSHOT/, 'the deprecated variable is named in a warning');
  assert.deepEqual(readdirSync(tmpDir), [], 'the snapshot and the archive were removed from BACKUP_TMP_DIR');

  // docker run -v backup_data:/data alpine ash -c 'tar -xvf /data/backup/test.tar.gz && test -f ... && test -d ...'
  const extracted = untar(join(server.directory, 'backup', 'test.tar.gz' + SUFFIX), dirs, ['-xvf']);
  const restored = extracted(join(dir, 'backup'));
  assert.ok(existsSync(join(restored, 'app_data', 'offen.db')), 'Found relevant files in untared remote backup.');
  assert.ok(statSync(join(restored, 'empty_data')).isDirectory(), 'the empty volume is a directory in the backup');
});
