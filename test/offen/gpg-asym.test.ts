// Translated from offen/docker-volume-backup test/gpg-asym (run.sh, docker-compose.yml): a
// 4096-bit RSA key made with `gpg --batch --gen-key` (passphrase "test"), its armored public key
// exported to a file given as GPG_PUBLIC_KEY_RING_FILE; the literal BACKUP_FILENAME test.tar.gz
// gets `.gpg` appended (test.tar.gz.gpg), `gpg -d` with the private key decrypts it and tar
// extracts it; the latest symlink test-latest.tar.gz.gpg. Differences: the keyring is a private
// --homedir (not the user's ~/.gnupg) and the key is 2048 bits (4096-bit generation takes long
// on a shared CI machine; the size does not change what is tested). offsite runs as a process
// (`offsite backup`); the `offen` container stopped during the backup (expect_running_containers)
// needs Docker and is left out, its volume is a directory under <tmp>/backup/app_data, so archive
// paths carry the <tmp> prefix.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { assertDecryptedHoldsOffenDb, encryptedBackupOk, offenVolume } from './scenario.ts';
import { gpgHome } from '../crypto/tools.ts';

const dirs: string[] = [];
const homes: Array<() => void> = [];
after(() => {
  // gpg started an agent for each private home: cleanup ends it before its directory goes
  for (const cleanup of homes) cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/gpg-asym: GPG_PUBLIC_KEY_RING_FILE encrypts test.tar.gz.gpg for the key; gpg -d decrypts it', () => {
  const vol = offenVolume(dirs); // app_data:/backup/app_data:ro, ${LOCAL_DIR}:/archive
  const { local } = vol;
  const keyDir = mkdtempSync(join(tmpdir(), 'offen-gpg-asym-keys-')); // ${KEY_DIR}
  dirs.push(keyDir);
  // a private home in loopback pinentry mode: without it, generating a protected key asks the
  // agent's pinentry, which fails now and then without a terminal ("Inappropriate ioctl for device")
  const home = gpgHome();
  homes.push(home.cleanup);
  const gpg = home.gpg;
  const passphrase = 'test';
  gpg(
    ['--gen-key'],
    `Key-Type: RSA
Key-Length: 2048
Name-Real: offen
Name-Email: docker-volume-backup@local
Expire-Date: 0
Passphrase: ${passphrase}
%commit
`,
  );
  gpg(['--export', '--armor', '--yes', '--pinentry-mode', 'loopback', '--passphrase', passphrase, '--output', join(keyDir, 'public_key.asc')]);

  encryptedBackupOk(vol, 'gpg', { GPG_PUBLIC_KEY_RING_FILE: join(keyDir, 'public_key.asc') });

  const decrypted = gpg(['-d', '--pinentry-mode', 'loopback', '--yes', '--passphrase', passphrase, join(local, 'test.tar.gz.gpg')]);
  writeFileSync(join(local, 'decrypted.tar.gz'), decrypted);
  assertDecryptedHoldsOffenDb(vol, dirs, 'gpg');

  // the archive is encrypted to the key, not with a passphrase: without the secret key gpg fails
  const empty = mkdtempSync(join(tmpdir(), 'offen-gpg-asym-empty-'));
  dirs.push(empty);
  assert.throws(() =>
    execFileSync('gpg', ['--homedir', empty, '--batch', '-d', '--pinentry-mode', 'loopback', '--passphrase', passphrase, join(local, 'test.tar.gz.gpg')], {
      stdio: 'pipe',
    }),
  );
});
