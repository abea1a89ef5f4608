/**
 * AGE_PUBLIC_KEYS with SSH public keys (issue 13, as offen accepts them): offsite encrypts to
 * `ssh-ed25519` and `ssh-rsa` recipients, and the age CLI decrypts with the SSH private key
 * (`age -d -i ~/.ssh/id_ed25519`), cross-checked here with the Debian `age` and `ssh-keygen`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { sshRecipient } from '../../src/crypto/age-ssh.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function keys(dir: string) {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ed@test', '-f', join(dir, 'id_ed25519')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '3072', '-N', '', '-C', 'rsa@test', '-f', join(dir, 'id_rsa')]);
  return { ed: readFileSync(join(dir, 'id_ed25519.pub'), 'utf8').trim(), rsa: readFileSync(join(dir, 'id_rsa.pub'), 'utf8').trim() };
}

function ageDecrypt(identity: string, file: string): { status: number | null; out: Buffer; err: string } {
  const r = spawnSync('age', ['-d', '-i', identity, file], { timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr.toString() };
}

test('a backup for ssh-ed25519 and ssh-rsa recipients (with an age1 one) decrypts with each SSH key through the age CLI', async () => {
  const { dir, env: base } = isolatedEnv();
  dirs.push(dir);
  const k = keys(dir);
  const native = await identityToRecipient(await generateX25519Identity());
  const src = join(dir, 'backup', 'app');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'secret.txt'), 'for ssh keys\n');
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const env = { ...base, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_FILENAME: 'ssh.tar.gz', AGE_PUBLIC_KEYS: `${k.ed},${k.rsa},${native}` };
  const r = runCli(['backup'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(readdirSync(archiveDir).sort(), ['ssh.tar.gz.age', 'ssh.tar.gz.age.manifest.json']);
  for (const id of ['id_ed25519', 'id_rsa']) {
    const d = ageDecrypt(join(dir, id), join(archiveDir, 'ssh.tar.gz.age'));
    assert.equal(d.status, 0, `${id}: ${d.err}`);
    const list = execFileSync('tar', ['-tz'], { input: d.out, encoding: 'utf8' });
    assert.ok(list.includes(`${src.slice(1)}/secret.txt`), `${id}: ${list}`);
  }
  // another key of the same type does not open it
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
  assert.notEqual(ageDecrypt(join(dir, 'other'), join(archiveDir, 'ssh.tar.gz.age')).status, 0);
});

test('ssh recipients: stanzas carry the key tag; many file keys round-trip through the age CLI', async () => {
  const { dir } = isolatedEnv();
  dirs.push(dir);
  const k = keys(dir);
  for (const [line, id] of [
    [k.ed, 'id_ed25519'],
    [k.rsa, 'id_rsa'],
  ] as const) {
    for (let i = 0; i < 8; i++) {
      const e = new Encrypter();
      e.addRecipient(sshRecipient(line));
      const file = join(dir, `m-${id}-${i}.age`);
      writeFileSync(file, await e.encrypt(`message ${i}\n`));
      const header = readFileSync(file, 'latin1')
        .split('\n')
        .find((l) => l.startsWith('-> '))!;
      assert.match(header, id === 'id_rsa' ? /^-> ssh-rsa [A-Za-z0-9+/]{6}$/ : /^-> ssh-ed25519 [A-Za-z0-9+/]{6} [A-Za-z0-9+/]{43}$/);
      const d = ageDecrypt(join(dir, id), file);
      assert.equal(d.status, 0, d.err);
      assert.equal(d.out.toString(), `message ${i}\n`);
    }
  }
  execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', join(dir, 'short')]);
  assert.throws(() => sshRecipient(readFileSync(join(dir, 'short.pub'), 'utf8')), /shorter than 2048 bits/);
});
