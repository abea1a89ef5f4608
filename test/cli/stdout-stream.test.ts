// `offsite backup --stdout [--key HEX]` and `offsite restore - --to DIR [--key HEX]`: the CLI's
// form of SysReptor's streamed backup. tar reads the plain archive; the AES one needs its key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isolatedEnv, CLI } from '../helpers/cli.ts';

function setup() {
  const { dir, env } = isolatedEnv();
  mkdirSync(join(dir, 'data', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'data', 'sub', 'a.txt'), 'alpha\n');
  writeFileSync(join(dir, 'data', 'b.bin'), randomBytes(300_000));
  mkdirSync(join(dir, 'archive'));
  return { dir, env: { ...env, BACKUP_SOURCES: join(dir, 'data'), BACKUP_ARCHIVE: join(dir, 'archive') } };
}

function cli(args: string[], env: Record<string, string>, input?: Buffer) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, input, timeout: 120_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

test('backup --stdout writes a .tar.gz that tar -xz reads; nothing is stored; logs go to stderr', () => {
  const { dir, env } = setup();
  const r = cli(['backup', '--stdout'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout[0], 0x1f, 'gzip');
  assert.match(r.stderr, /archive written to stdout/);
  assert.deepEqual(readdirSync(join(dir, 'archive')), [], 'a backup was stored');
  const out = join(dir, 'tar-out');
  mkdirSync(out);
  const t = spawnSync('tar', ['-xz', '-C', out], { input: r.stdout });
  assert.equal(t.status, 0, String(t.stderr));
  assert.equal(readFileSync(join(out, dir.slice(1), 'data', 'sub', 'a.txt'), 'utf8'), 'alpha\n');
  assert.ok(readFileSync(join(out, dir.slice(1), 'data', 'b.bin')).equals(readFileSync(join(dir, 'data', 'b.bin'))));

  const back = cli(['restore', '-', '--to', join(dir, 'restored')], env, r.stdout);
  assert.equal(back.code, 0, back.stderr);
  assert.equal(readFileSync(join(dir, 'restored', dir.slice(1), 'data', 'sub', 'a.txt'), 'utf8'), 'alpha\n');
});

test("backup --stdout --key encrypts in offsite's AES format; restore - needs the same key", () => {
  const { dir, env } = setup();
  const key = randomBytes(32).toString('hex');
  const r = cli(['backup', '--stdout', '--key', key], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.subarray(0, 6).toString('latin1'), 'OFSAES');
  assert.ok(!r.stderr.includes(key));
  const wrong = cli(['restore', '-', '--to', join(dir, 'wrong'), '--key', randomBytes(32).toString('hex')], env, r.stdout);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /cannot decrypt/);
  assert.equal(existsSync(join(dir, 'wrong', dir.slice(1))), false, 'a wrong key left files');
  const ok = cli(['restore', '-', '--to', join(dir, 'right'), '--key', key], env, r.stdout);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(readFileSync(join(dir, 'right', dir.slice(1), 'data', 'b.bin')).equals(readFileSync(join(dir, 'data', 'b.bin'))));
  assert.equal(cli(['backup', '--stdout', '--key', 'abc'], env).code, 5);
  assert.equal(cli(['backup', '--key', key], env).code, 5);
});
