/**
 * `offsite backup` through the CLI to a real S3 server (s3rver) with static keys: the
 * configuration is loaded (and frozen) by loadConfig, exactly as in production.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { startS3rver, S3RVER_CREDENTIALS } from '../servers/s3rver.ts';

const s3 = await startS3rver({ buckets: ['cli-bucket'] });
const dirs: string[] = [];
after(async () => {
  await s3.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('backup to S3 with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY succeeds and the backup is listed', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'data.txt'), 'important data');
  const s3env = {
    ...env,
    BACKUP_SOURCES: src,
    BACKUP_ARCHIVE: '', // unset: no local copy
    AWS_S3_BUCKET_NAME: 'cli-bucket',
    AWS_ENDPOINT: `127.0.0.1:${s3.port}`,
    AWS_ENDPOINT_PROTO: 'http',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  };
  const r = runCli(['backup'], s3env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const l = runCli(['list'], s3env);
  assert.equal(l.code, 0, l.stdout + l.stderr);
  assert.match(l.stdout, /S3 +backup-.*\.tar\.gz/);
});
