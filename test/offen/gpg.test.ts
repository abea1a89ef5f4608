// Translated from offen/docker-volume-backup test/gpg (run.sh, docker-compose.yml): the literal
// BACKUP_FILENAME test.tar.gz gets `.gpg` appended (test.tar.gz.gpg), GPG_PASSPHRASE '1234#$ecret'
// (compose's $$ is one $), decrypted with the gpg CLI and extracted with tar; the latest symlink
// test-latest.tar.gz.gpg. offsite runs as a process (`offsite backup`); the `offen` container
// stopped during the backup (expect_running_containers) needs Docker and is left out, its volume
// is a directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { backupOk, NEVER, offenVolume, removedAfter, untar } from './scenario.ts';

const dirs = removedAfter();

test('offen test/gpg: test.tar.gz.gpg decrypts with gpg and the passphrase; latest symlink', () => {
  const { dir, env, appData, local } = offenVolume(dirs);
  backupOk({
    ...env,
    BACKUP_CRON_EXPRESSION: NEVER,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_LATEST_SYMLINK: 'test-latest.tar.gz.gpg',
    BACKUP_RETENTION_DAYS: '7',
    GPG_PASSPHRASE: '1234#$ecret',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  const gnupg = mkdtempSync(join(tmpdir(), 'offen-gpg-home-'));
  dirs.push(gnupg);
  const decrypted = execFileSync(
    'gpg',
    ['--homedir', gnupg, '--batch', '-d', '--pinentry-mode', 'loopback', '--yes', '--passphrase-fd', '0', join(local, 'test.tar.gz.gpg')],
    { input: '1234#$ecret\n', stdio: ['pipe', 'pipe', 'ignore'] },
  );
  writeFileSync(join(local, 'decrypted.tar.gz'), decrypted);
  const extracted = untar(join(local, 'decrypted.tar.gz'), dirs);
  assert.ok(existsSync(extracted(join(appData, 'offen.db'))), 'Could not find expected file in untared archive.');
  rmSync(join(local, 'decrypted.tar.gz'));
  assert.ok(lstatSync(join(local, 'test-latest.tar.gz.gpg')).isSymbolicLink(), 'Could not find local symlink to latest encrypted backup.');
});
