// Translated from offen/docker-volume-backup test/print-config (run.sh, docker-compose.yml,
// docker-compose.confd.yml, conf.d/01print-config.env): `backup print-config`, run here as
// offsite invoked under the name `backup` (the image's symlink) instead of `docker compose exec`.
// Difference: offen prints secrets in clear; offsite masks them (asserted below).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, isolatedEnv } from '../helpers/cli.ts';

/** Run offsite as `backup <args>`, through a symlink named backup as in the image. */
function backup(dir: string, args: string[], env: Record<string, string>) {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  try {
    symlinkSync(CLI, join(bin, 'backup'));
  } catch {
    /* exists */
  }
  const r = spawnSync(process.execPath, [join(bin, 'backup'), ...args], { env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('offen test/print-config', () => {
  test('print-config with environment variables', () => {
    const { dir, env } = isolatedEnv({
      // docker-compose.yml (compose turns $${BACKUP_TAG} into ${BACKUP_TAG})
      BACKUP_FILENAME: 'backup-${BACKUP_TAG}.tar',
      BACKUP_FILENAME_EXPAND: 'true',
      BACKUP_TAG: 'expanded',
      BACKUP_SOURCES: '/backup',
      NOTIFICATION_URLS: 'stdout://',
      AWS_S3_BUCKET_NAME: 'example-bucket',
    });
    const r = backup(dir, ['print-config'], env);
    assert.equal(r.code, 0, r.stderr);
    const logs = r.stdout;
    assert.match(logs, /source=from environment/, 'Missing source line.');
    assert.match(logs, /BackupSources:\/backup/, 'Missing BACKUP_SOURCES in output.');
    assert.match(logs, /BackupFilename:backup-expanded\.tar/, 'Missing expanded BACKUP_FILENAME in output.');
    assert.match(logs, /NotificationURLs:\[stdout:\/\/\]/, 'Missing NOTIFICATION_URLS in output.');
    assert.match(logs, /AwsS3BucketName:example-bucket/, 'Missing AWS_S3_BUCKET_NAME in output.');
  });

  test('print-config with conf.d and _FILE', () => {
    const { dir, env } = isolatedEnv();
    const secret = join(dir, 'notification_urls');
    writeFileSync(secret, 'stdout://\n');
    writeFileSync(join(dir, 'conf.d', '01print-config.env'), `BACKUP_SOURCES=/conf-backup\nNOTIFICATION_URLS_FILE=${secret}\n`);
    const r = backup(dir, ['print-config'], env);
    assert.equal(r.code, 0, r.stderr);
    const logs = r.stdout;
    assert.match(logs, /source=01print-config\.env/, 'Missing conf.d source line.');
    assert.match(logs, /BackupSources:\/conf-backup/, 'Missing conf.d BACKUP_SOURCES in output.');
    assert.match(logs, /NotificationURLs:\[stdout:\/\//, 'Missing conf.d NOTIFICATION_URLS in output.');
  });

  test('offsite masks secrets offen would print', () => {
    const { dir, env } = isolatedEnv({
      GPG_PASSPHRASE: 'correct horse battery',
      NOTIFICATION_URLS: 'gotify://gotify.example.com/AbCdEfGhIjKlMnO',
      AWS_S3_BUCKET_NAME: 'b',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMIsecret',
    });
    const r = backup(dir, ['print-config'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /GpgPassphrase:\*\*\*/);
    assert.match(r.stdout, /AwsSecretAccessKey:\*\*\*/);
    for (const s of ['correct horse battery', 'AbCdEfGhIjKlMnO', 'wJalrXUtnFEMIsecret']) assert.ok(!r.stdout.includes(s), `${s} leaked`);
    assert.match(r.stdout, /BackupPruningLeeway:1m0s/);
    assert.match(r.stdout, /LockTimeout:1h0m0s/);
  });

  test('`offsite print-config` is the same command', () => {
    const { dir, env } = isolatedEnv({ BACKUP_SOURCES: '/x' });
    const r = spawnSync(process.execPath, [CLI, 'print-config'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^source=from environment\n/);
    assert.match(r.stdout, /BackupSources:\/x\n/);
    void dir;
  });
});
