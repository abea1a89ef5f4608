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
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';

const SUFFIX = '._S3rver_object';
const dirs: string[] = [];
let server: S3rverHandle;
before(async () => {
  server = await startS3rver({ buckets: ['backup'] }); // docker exec minio mkdir -p /data/backup
});
after(async () => {
  await server?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/cli: BACKUP_FROM_SNAPSHOT backup to S3 keeps the file and the empty directory', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data'); // -v app_data:/backup/app_data
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  mkdirSync(join(dir, 'backup', 'empty_data')); // -v empty_data:/backup/empty_data
  const tmpDir = join(dir, 'tmp');
  mkdirSync(tmpDir);
  const r = runCli(['backup'], {
    ...env,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT: `127.0.0.1:${server.port}`,
    AWS_ENDPOINT_PROTO: 'http',
    AWS_S3_BUCKET_NAME: 'backup',
    AWS_CHECKSUM: 'when_required',
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_FROM_SNAPSHOT: 'true',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_TMP_DIR: tmpDir,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /BACKUP_FROM_SNAPSHOT/, 'the deprecated variable is named in a warning');
  assert.deepEqual(readdirSync(tmpDir), [], 'the snapshot and the archive were removed from BACKUP_TMP_DIR');

  // docker run -v backup_data:/data alpine ash -c 'tar -xvf /data/backup/test.tar.gz && test -f ... && test -d ...'
  const out = mkdtempSync(join(tmpdir(), 'offen-cli-out-'));
  dirs.push(out);
  execFileSync('tar', ['-xvf', join(server.directory, 'backup', 'test.tar.gz' + SUFFIX), '-C', out]);
  const restored = join(out, dir.slice(1), 'backup');
  assert.ok(existsSync(join(restored, 'app_data', 'offen.db')), 'Found relevant files in untared remote backup.');
  assert.ok(statSync(join(restored, 'empty_data')).isDirectory(), 'the empty volume is a directory in the backup');
});
