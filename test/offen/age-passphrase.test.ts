// Translated from offen/docker-volume-backup test/age-passphrase (run.sh, docker-compose.yml): the
// literal BACKUP_FILENAME test.tar.gz gets `.age` appended (test.tar.gz.age), AGE_PASSPHRASE
// "Dance.0Tonight.Go.Typical", decrypted with the age CLI and extracted with tar; the latest
// symlink test-latest.tar.gz.age. age reads a passphrase only from a terminal: offen's run.sh
// drives it with expect(1), this test with script(1) (util-linux) as the terminal, typing the
// passphrase once age prompts for it. offsite runs as a process (`offsite backup`); the `offen`
// container stopped during the backup (expect_running_containers) needs Docker and is left out,
// its volume is a directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { assertDecryptedHoldsOffenDb, backupOk, encryptedBackupOk, offenVolume, removedAfter } from './scenario.ts';

const dirs = removedAfter();

/** `age --decrypt -o out in` on a pseudo-terminal (script(1)), answering its passphrase prompt. */
function ageDecryptWithPassphrase(input: string, output: string, passphrase: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cmd = `age --decrypt -o '${output}' '${input}'`;
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const onData = (d: Buffer) => {
      out += d;
      if (!sent && out.includes('Enter passphrase')) {
        sent = true;
        child.stdin.write(`${passphrase}\r`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      if (code === 0) resolve();
      else reject(new Error(`age --decrypt exited ${code ?? signal}: ${out}`));
    });
  });
}

test('offen test/age-passphrase: test.tar.gz.age decrypts with the age CLI and the passphrase; latest symlink', async () => {
  const vol = offenVolume(dirs); // app_data:/backup/app_data:ro, ${LOCAL_DIR}:/archive
  encryptedBackupOk(vol, 'age', { AGE_PASSPHRASE: 'Dance.0Tonight.Go.Typical' });
  await ageDecryptWithPassphrase(join(vol.local, 'test.tar.gz.age'), join(vol.local, 'decrypted.tar.gz'), 'Dance.0Tonight.Go.Typical');
  assertDecryptedHoldsOffenDb(vol, dirs, 'age');
});

test('offen test/age-passphrase: a wrong passphrase does not decrypt (the check above can fail)', async () => {
  const { dir, env, local } = offenVolume(dirs);
  backupOk({
    ...env,
    BACKUP_FILENAME: 'test.tar.gz',
    AGE_PASSPHRASE: 'Dance.0Tonight.Go.Typical',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  await assert.rejects(
    ageDecryptWithPassphrase(join(local, 'test.tar.gz.age'), join(local, 'decrypted.tar.gz'), 'wrong'),
    /incorrect passphrase|failed to decrypt|no identity matched/i,
  );
});
