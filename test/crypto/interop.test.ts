/**
 * offsite's encryption against the real tools: gpg and age decrypt what
 * offsite writes, and offsite decrypts and restores what they write.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { prepareEncryption, createDecryptor, detectFormat } from '../../src/crypto/index.ts';
import { parseEncryptionConfig } from '../../src/crypto/config.ts';
import { extractArchive } from '../../src/archive/extract.ts';
import { UserError } from '../../src/errors.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { makeTree, describeTree } from '../helpers/tree.ts';
import { gpgHome, runWithTty, through } from './tools.ts';

let dir: string;
let g: ReturnType<typeof gpgHome>;
let publicRing: string;
let secretKey: string;
let protectedSecretKey: string;
let protectedRing: string;
let ageId: string;
let ageRecipient: string;
const plain = randomBytes(300_000);

function config(env: Record<string, string>) {
  const issues: ConfigIssue[] = [];
  const cfg = parseEncryptionConfig(env, issues);
  assert.deepEqual(issues, []);
  return cfg!;
}

async function encryptWith(env: Record<string, string>, data = plain): Promise<Buffer> {
  const prepared = await prepareEncryption(config(env), { scryptLogN: 15 });
  return through(data, prepared.encrypt!());
}

async function decryptWith(env: Record<string, string>, data: Buffer): Promise<Buffer> {
  return through(data, createDecryptor(detectFormat(data.subarray(0, 512)), config(env).keys));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'offsite-interop-'));
  g = gpgHome();
  g.gpg(['--passphrase', '', '--quick-gen-key', 'Offsite Test <test@example.invalid>', 'default', 'default', 'never']);
  publicRing = g.gpg(['--armor', '--export', 'test@example.invalid']).toString();
  secretKey = g.gpg(['--passphrase', '', '--armor', '--export-secret-keys', 'test@example.invalid']).toString();
  g.gpg(['--passphrase', 'key-lock-pass', '--quick-gen-key', 'Locked Key <locked@example.invalid>', 'default', 'default', 'never']);
  protectedRing = g.gpg(['--armor', '--export', 'locked@example.invalid']).toString();
  protectedSecretKey = g.gpg(['--passphrase', 'key-lock-pass', '--armor', '--export-secret-keys', 'locked@example.invalid']).toString();
  ageId = await generateX25519Identity();
  ageRecipient = await identityToRecipient(ageId);
  writeFileSync(join(dir, 'age-key.txt'), `# created for a test\n${ageId}\n`);
  makeTree(join(dir, 'tree'));
});

after(() => {
  g?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('gpg decrypts offsite output (GPG_PASSPHRASE)', async () => {
  const sealed = await encryptWith({ GPG_PASSPHRASE: 'pass phrase with spaces' });
  assert.equal(detectFormat(sealed), 'gpg');
  const out = g.gpg(['--passphrase', 'pass phrase with spaces', '--decrypt'], sealed);
  assert.deepEqual(out, plain);
});

test('gpg decrypts offsite output (GPG_PUBLIC_KEY_RING, two keys)', async () => {
  const sealed = await encryptWith({ GPG_PUBLIC_KEY_RING: publicRing + protectedRing });
  assert.deepEqual(g.gpg(['--decrypt'], sealed), plain);
  assert.deepEqual(g.gpg(['--passphrase', 'key-lock-pass', '--decrypt'], sealed), plain);
  // and offsite reads it back with the private key
  assert.deepEqual(await decryptWith({ GPG_PRIVATE_KEY: secretKey }, sealed), plain);
  assert.deepEqual(await decryptWith({ GPG_PRIVATE_KEY: protectedSecretKey, GPG_PRIVATE_KEY_PASSPHRASE: 'key-lock-pass' }, sealed), plain);
});

test('a public key ring that is not a key is refused when preparing', async () => {
  const bad = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n';
  await assert.rejects(prepareEncryption(config({ GPG_PUBLIC_KEY_RING: bad })), (e: Error) => e instanceof UserError && /GPG_PUBLIC_KEY_RING/.test(e.message));
});

test('offsite restores `tar -cz | gpg -c` and gpg -e, binary and armored', async () => {
  const tgz = execFileSync('tar', ['-cz', '-C', join(dir, 'tree'), '.'], { maxBuffer: 1 << 28 });
  const cases: Array<[string, Buffer, Record<string, string>]> = [
    ['gpg -c', g.gpg(['--passphrase', 'tar-pass', '--symmetric'], tgz), { GPG_PASSPHRASE: 'tar-pass' }],
    ['gpg -c -a', g.gpg(['--passphrase', 'tar-pass', '--symmetric', '--armor'], tgz), { GPG_PASSPHRASE: 'tar-pass' }],
    ['gpg -e', g.gpg(['--trust-model', 'always', '--encrypt', '-r', 'test@example.invalid'], tgz), { GPG_PRIVATE_KEY: secretKey }],
  ];
  for (const [name, sealed, env] of cases) {
    const file = join(dir, `${name.replace(/\W+/g, '_')}.tar.gz.gpg`);
    writeFileSync(file, sealed);
    const target = join(dir, `restored-${name.replace(/\W+/g, '_')}`);
    const r = await extractArchive(createReadStream(file), { target, keys: config(env).keys });
    assert.equal(r.encryption, 'gpg', name);
    assert.equal(r.compression, 'gz', name);
    assert.deepEqual(describeTree(target, false), describeTree(join(dir, 'tree'), false), name);
  }
});

test('gpg: a wrong passphrase or key fails clearly', async () => {
  const sealed = await encryptWith({ GPG_PASSPHRASE: 'right-pass' });
  await assert.rejects(
    decryptWith({ GPG_PASSPHRASE: 'wrong-pass' }, sealed),
    (e: Error) => e instanceof UserError && /wrong passphrase or key/.test(e.message),
  );
  const toKey = await encryptWith({ GPG_PUBLIC_KEY_RING: publicRing });
  await assert.rejects(
    decryptWith({ GPG_PRIVATE_KEY: protectedSecretKey, GPG_PRIVATE_KEY_PASSPHRASE: 'key-lock-pass' }, toKey),
    (e: Error) => e instanceof UserError && /wrong passphrase or key/.test(e.message),
  );
  await assert.rejects(decryptWith({ GPG_PRIVATE_KEY: protectedSecretKey }, toKey), /GPG_PRIVATE_KEY_PASSPHRASE/);
  await assert.rejects(decryptWith({}, sealed), /neither GPG_PASSPHRASE nor GPG_PRIVATE_KEY is set/);
});

test('age decrypts offsite output (AGE_PUBLIC_KEYS)', async () => {
  const other = await identityToRecipient(await generateX25519Identity());
  const sealed = await encryptWith({ AGE_PUBLIC_KEYS: `${other},${ageRecipient}` });
  assert.equal(detectFormat(sealed), 'age');
  const out = execFileSync('age', ['--decrypt', '-i', join(dir, 'age-key.txt')], { input: sealed, maxBuffer: 1 << 28 });
  assert.deepEqual(out, plain);
  assert.deepEqual(await decryptWith({ AGE_SECRET_KEYS: readFileSync(join(dir, 'age-key.txt'), 'utf8') }, sealed), plain);
});

test('age decrypts offsite output (AGE_PASSPHRASE, through a terminal)', async () => {
  const sealed = await encryptWith({ AGE_PASSPHRASE: 'age-pass-123' });
  const file = join(dir, 'pass.age');
  writeFileSync(file, sealed);
  const r = await runWithTty(`age --decrypt -o ${join(dir, 'pass.out')} ${file}`, 'age-pass-123');
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(readFileSync(join(dir, 'pass.out')), plain);
});

test('offsite restores `tar -cz` encrypted by `age -p` and `age -r`', async () => {
  const tgz = join(dir, 'tree.tar.gz');
  execFileSync('tar', ['-czf', tgz, '-C', join(dir, 'tree'), '.']);
  const withPass = join(dir, 'tree.tar.gz.p.age');
  const r = await runWithTty(`age -p -o ${withPass} ${tgz}`, 'tar-age-pass');
  assert.equal(r.code, 0, r.output);
  const withKey = join(dir, 'tree.tar.gz.r.age');
  execFileSync('age', ['-r', ageRecipient, '-o', withKey, tgz]);
  for (const [file, env] of [
    [withPass, { AGE_PASSPHRASE: 'tar-age-pass' }],
    [withKey, { AGE_SECRET_KEYS: ageId }],
  ] as const) {
    const target = join(dir, `restored-${file.slice(-5)}`);
    const res = await extractArchive(createReadStream(file), { target, keys: config(env).keys });
    assert.equal(res.encryption, 'age');
    assert.deepEqual(describeTree(target, false), describeTree(join(dir, 'tree'), false));
  }
});

test('age: a wrong passphrase or key fails clearly', async () => {
  const sealed = await encryptWith({ AGE_PASSPHRASE: 'right-pass' });
  await assert.rejects(
    decryptWith({ AGE_PASSPHRASE: 'wrong-pass' }, sealed),
    (e: Error) => e instanceof UserError && /wrong passphrase or key/.test(e.message),
  );
  const toKey = await encryptWith({ AGE_PUBLIC_KEYS: ageRecipient });
  await assert.rejects(decryptWith({ AGE_SECRET_KEYS: await generateX25519Identity() }, toKey), /wrong passphrase or key/);
  await assert.rejects(decryptWith({}, toKey), /neither AGE_PASSPHRASE nor AGE_SECRET_KEYS is set/);
});

test('an armored age file is refused with a hint', async () => {
  const armored = execFileSync('age', ['-a', '-r', ageRecipient], { input: 'x' });
  assert.equal(detectFormat(armored), 'age-armor');
  assert.throws(() => createDecryptor('age-armor', {}), /ASCII-armored age/);
});
