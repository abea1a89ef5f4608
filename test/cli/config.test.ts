import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

test('offsite config prints every job with secrets redacted', () => {
  const { dir, env } = isolatedEnv();
  mkdirSync(join(dir, 'archive'));
  writeFileSync(join(dir, 'conf.d', 'nightly.env'), 'BACKUP_CRON_EXPRESSION=0 3 * * *\nWEBDAV_PASSWORD=conf-d-secret-pw\n');
  writeFileSync(join(dir, 'conf.d', 'hourly.env'), 'BACKUP_CRON_EXPRESSION=@hourly\n');
  writeFileSync(join(dir, 'aws-secret'), 'file-secret-value\n');
  const r = runCli(['config', '--json'], {
    ...env,
    BACKUP_ARCHIVE: join(dir, 'archive'),
    AWS_SECRET_ACCESS_KEY_FILE: join(dir, 'aws-secret'),
    GPG_PASSPHRASE: 'gpg-passphrase-123',
    WEBDAV_URL: 'https://dav-user:dav-url-password@dav.example.com/remote.php',
  });
  assert.equal(r.code, 0, r.stderr);
  for (const secret of ['conf-d-secret-pw', 'file-secret-value', 'gpg-passphrase-123', 'dav-url-password']) {
    assert.ok(!r.stdout.includes(secret), `secret ${secret} leaked:\n${r.stdout}`);
  }
  const jobs = JSON.parse(r.stdout) as Array<{ job: string; schedule: { cron: string } }>;
  assert.deepEqual(
    jobs.map((j) => [j.job, j.schedule.cron]),
    [
      ['hourly', '@hourly'],
      ['nightly', '0 3 * * *'],
    ],
  );
});

test('a bad configuration exits 2, names each variable, prints no stack trace', () => {
  const { env } = isolatedEnv();
  const r = runCli(['backup'], { ...env, BACKUP_CRON_EXPRESSION: 'every day', BACKUP_RETENTION_DAYS: 'seven', LOCK_TIMEOUT: '10 minutes' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /BACKUP_CRON_EXPRESSION/);
  assert.match(r.stderr, /BACKUP_RETENTION_DAYS/);
  assert.match(r.stderr, /LOCK_TIMEOUT/);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
  assert.equal(r.stdout, '');
});

test('unknown command exits 5 with usage', () => {
  const { env } = isolatedEnv();
  const r = runCli(['frobnicate'], env);
  assert.equal(r.code, 5);
  assert.match(r.stderr, /unknown command/);
});
