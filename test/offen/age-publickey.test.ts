// Translated from offen/docker-volume-backup test/age-publickey (run.sh, docker-compose.yml):
// AGE_PUBLIC_KEYS with two age-keygen recipients and one ssh-ed25519 key made by ssh-keygen
// (age's ssh recipient type), the literal BACKUP_FILENAME test.tar.gz gets `.age` appended
// (test.tar.gz.age); each of the three identities decrypts it with the age CLI
// (`age --decrypt -i <identity>`) and tar extracts it; the latest symlink test-latest.tar.gz.age.
// offsite runs as a process (`offsite backup`); the `offen` container stopped during the backup
// (expect_running_containers) needs Docker and is left out, its volume is a directory under
// <tmp>/backup/app_data, so archive paths carry the <tmp> prefix. Added: a fourth recipient, an
// ssh-rsa key (age's other ssh recipient type), which decrypts it as well.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { assertDecryptedHoldsOffenDb, encryptedBackupOk, offenVolume, removedAfter } from './scenario.ts';

const dirs = removedAfter();

test('offen test/age-publickey: two age keys and an ssh-ed25519 key each decrypt test.tar.gz.age with the age CLI', () => {
  const vol = offenVolume(dirs); // app_data:/backup/app_data:ro, ${LOCAL_DIR}:/archive
  const { local } = vol;
  const keys = mkdtempSync(join(tmpdir(), 'offen-age-keys-'));
  dirs.push(keys);

  const publicKey = (file: string) => {
    execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => /public key/.test(l));
    return line!.split(':')[1]!.trim();
  };
  const pkA = publicKey(join(keys, 'pk-a.txt'));
  const pkB = publicKey(join(keys, 'pk-b.txt'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-m', 'pem', '-N', '', '-f', join(keys, 'id_ed25519'), '-C', 'docker-volume-backup@local']);
  const pkC = readFileSync(join(keys, 'id_ed25519.pub'), 'utf8').trim();
  // added: an ssh-rsa key, age's other ssh recipient type (offen accepts it too)
  execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', join(keys, 'id_rsa'), '-C', 'docker-volume-backup@local']);
  const pkD = readFileSync(join(keys, 'id_rsa.pub'), 'utf8').trim();

  encryptedBackupOk(vol, 'age', { AGE_PUBLIC_KEYS: `${pkA},${pkB},${pkC},${pkD}` });

  const doDecrypt = (identity: string) => {
    execFileSync('age', ['--decrypt', '-i', identity, '-o', join(local, 'decrypted.tar.gz'), join(local, 'test.tar.gz.age')]);
    assertDecryptedHoldsOffenDb(vol, dirs, 'age', ` (${identity})`);
  };
  doDecrypt(join(keys, 'pk-a.txt'));
  doDecrypt(join(keys, 'pk-b.txt'));
  doDecrypt(join(keys, 'id_ed25519'));
  doDecrypt(join(keys, 'id_rsa'));

  // a key that is not a recipient does not decrypt (the checks above can fail)
  execFileSync('age-keygen', ['-o', join(keys, 'other.txt')], { stdio: 'ignore' });
  assert.throws(
    () => execFileSync('age', ['--decrypt', '-i', join(keys, 'other.txt'), '-o', join(local, 'x'), join(local, 'test.tar.gz.age')], { stdio: 'pipe' }),
    /no identity matched/,
  );
});
