// Translated from offen/docker-volume-backup test/gpg (run.sh, docker-compose.yml): the literal
// BACKUP_FILENAME test.tar.gz gets `.gpg` appended (test.tar.gz.gpg), GPG_PASSPHRASE '1234#$ecret'
// (compose's $$ is one $), decrypted with the gpg CLI and extracted with tar; the latest symlink
// test-latest.tar.gz.gpg. offsite runs as a process (`offsite backup`); the `offen` container
// stopped during the backup (expect_running_containers) needs Docker and is left out, its volume
// is a directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/gpg: test.tar.gz.gpg decrypts with gpg and the passphrase; latest symlink', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data');
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  const local = join(dir, 'local');
  mkdirSync(local);
  const r = runCli(['backup'], {
    ...env,
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_LATEST_SYMLINK: 'test-latest.tar.gz.gpg',
    BACKUP_RETENTION_DAYS: '7',
    GPG_PASSPHRASE: '1234#$ecret',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const tmp = mkdtempSync(join(tmpdir(), 'offen-gpg-out-'));
  dirs.push(tmp);
  const gnupg = mkdtempSync(join(tmpdir(), 'offen-gpg-home-'));
  dirs.push(gnupg);
  const decrypted = execFileSync(
    'gpg',
    ['--homedir', gnupg, '--batch', '-d', '--pinentry-mode', 'loopback', '--yes', '--passphrase-fd', '0', join(local, 'test.tar.gz.gpg')],
    { input: '1234#$ecret\n', stdio: ['pipe', 'pipe', 'ignore'] },
  );
  writeFileSync(join(local, 'decrypted.tar.gz'), decrypted);
  execFileSync('tar', ['-xf', join(local, 'decrypted.tar.gz'), '-C', tmp]);
  assert.ok(existsSync(join(tmp, dir.slice(1), 'backup', 'app_data', 'offen.db')), 'Could not find expected file in untared archive.');
  rmSync(join(local, 'decrypted.tar.gz'));
  assert.ok(lstatSync(join(local, 'test-latest.tar.gz.gpg')).isSymbolicLink(), 'Could not find local symlink to latest encrypted backup.');
});
