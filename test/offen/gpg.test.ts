// Translated from offen/docker-volume-backup test/gpg (run.sh, docker-compose.yml): the literal
// BACKUP_FILENAME test.tar.gz gets `.gpg` appended (test.tar.gz.gpg), GPG_PASSPHRASE '1234#$ecret'
// (compose's $$ is one $), decrypted with the gpg CLI and extracted with tar; the latest symlink
// test-latest.tar.gz.gpg. offsite runs as a process (`offsite backup`); the `offen` container
// stopped during the backup (expect_running_containers) needs Docker and is left out, its volume
// is a directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix.
import { test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { assertDecryptedHoldsOffenDb, encryptedBackupOk, offenVolume, removedAfter } from './scenario.ts';

const dirs = removedAfter();

test('offen test/gpg: test.tar.gz.gpg decrypts with gpg and the passphrase; latest symlink', () => {
  const vol = offenVolume(dirs);
  const { local } = vol;
  encryptedBackupOk(vol, 'gpg', { GPG_PASSPHRASE: '1234#$ecret' });
  const gnupg = mkdtempSync(join(tmpdir(), 'offen-gpg-home-'));
  dirs.push(gnupg);
  const decrypted = execFileSync(
    'gpg',
    ['--homedir', gnupg, '--batch', '-d', '--pinentry-mode', 'loopback', '--yes', '--passphrase-fd', '0', join(local, 'test.tar.gz.gpg')],
    { input: '1234#$ecret\n', stdio: ['pipe', 'pipe', 'ignore'] },
  );
  writeFileSync(join(local, 'decrypted.tar.gz'), decrypted);
  assertDecryptedHoldsOffenDb(vol, dirs, 'gpg');
});
