// Translated from offen/docker-volume-backup test/age-passphrase (run.sh, docker-compose.yml): the
// literal BACKUP_FILENAME test.tar.gz gets `.age` appended (test.tar.gz.age), AGE_PASSPHRASE
// "Dance.0Tonight.Go.Typical", decrypted with the age CLI and extracted with tar; the latest
// symlink test-latest.tar.gz.age. age reads a passphrase only from a terminal: offen's run.sh
// drives it with expect(1), this test with script(1) (util-linux) as the terminal, typing the
// passphrase once age prompts for it. offsite runs as a process (`offsite backup`); the `offen`
// container stopped during the backup (expect_running_containers) needs Docker and is left out,
// its volume is a directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

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
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data'); // app_data:/backup/app_data:ro
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  const local = join(dir, 'local'); // ${LOCAL_DIR}:/archive
  mkdirSync(local);
  const r = runCli(['backup'], {
    ...env,
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_LATEST_SYMLINK: 'test-latest.tar.gz.age',
    BACKUP_RETENTION_DAYS: '7',
    AGE_PASSPHRASE: 'Dance.0Tonight.Go.Typical',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const tmp = mkdtempSync(join(tmpdir(), 'offen-age-pass-out-'));
  dirs.push(tmp);
  await ageDecryptWithPassphrase(join(local, 'test.tar.gz.age'), join(local, 'decrypted.tar.gz'), 'Dance.0Tonight.Go.Typical');
  execFileSync('tar', ['-xf', join(local, 'decrypted.tar.gz'), '-C', tmp]);
  assert.ok(existsSync(join(tmp, dir.slice(1), 'backup', 'app_data', 'offen.db')), 'Could not find expected file in untared archive.');
  rmSync(join(local, 'decrypted.tar.gz'));
  assert.ok(lstatSync(join(local, 'test-latest.tar.gz.age')).isSymbolicLink(), 'Could not find local symlink to latest encrypted backup.');
});

test('offen test/age-passphrase: a wrong passphrase does not decrypt (the check above can fail)', async () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  mkdirSync(join(dir, 'backup', 'app_data'), { recursive: true });
  writeFileSync(join(dir, 'backup', 'app_data', 'offen.db'), 'db');
  const local = join(dir, 'local');
  mkdirSync(local);
  const r = runCli(['backup'], {
    ...env,
    BACKUP_FILENAME: 'test.tar.gz',
    AGE_PASSPHRASE: 'Dance.0Tonight.Go.Typical',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  await assert.rejects(
    ageDecryptWithPassphrase(join(local, 'test.tar.gz.age'), join(local, 'decrypted.tar.gz'), 'wrong'),
    /incorrect passphrase|failed to decrypt|no identity matched/i,
  );
});
