import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { parseEncryptionConfig } from '../../src/crypto/config.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { redact, clearSecrets } from '../../src/redact.ts';

const HEX = 'a1'.repeat(32);
const RING = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxxx\n-----END PGP PUBLIC KEY BLOCK-----\n';

function parse(env: Record<string, string>) {
  const issues: ConfigIssue[] = [];
  const cfg = parseEncryptionConfig(env, issues);
  return { cfg, issues };
}

test('no variable: no encryption', () => {
  const { cfg, issues } = parse({});
  assert.deepEqual(issues, []);
  assert.equal(cfg?.method, 'none');
  assert.equal(cfg?.variable, null);
});

test('each method variable chooses its method', async () => {
  const recipient = await identityToRecipient(await generateX25519Identity());
  const cases: Array<[Record<string, string>, string]> = [
    [{ GPG_PASSPHRASE: 'correct horse' }, 'gpg'],
    [{ GPG_PUBLIC_KEY_RING: RING }, 'gpg'],
    [{ AGE_PASSPHRASE: 'correct horse' }, 'age'],
    [{ AGE_PUBLIC_KEYS: `${recipient}, ${recipient}` }, 'age'],
    [{ BACKUP_ENCRYPTION_KEY: HEX.toUpperCase() }, 'aes'],
  ];
  for (const [env, method] of cases) {
    const { cfg, issues } = parse(env);
    assert.deepEqual(issues, [], JSON.stringify(env));
    assert.equal(cfg?.method, method);
    assert.equal(cfg?.variable, Object.keys(env)[0]);
  }
  assert.deepEqual(parse({ AGE_PUBLIC_KEYS: `${recipient},${recipient}` }).cfg?.age?.recipients, [recipient, recipient]);
  assert.equal(parse({ BACKUP_ENCRYPTION_KEY: HEX.toUpperCase() }).cfg?.aes?.keyHex, HEX);
});

test('empty values count as unset', () => {
  const { cfg, issues } = parse({ GPG_PASSPHRASE: '', BACKUP_ENCRYPTION_KEY: HEX });
  assert.deepEqual(issues, []);
  assert.equal(cfg?.method, 'aes');
});

test('more than one method is an error naming every variable', () => {
  const { cfg, issues } = parse({ GPG_PASSPHRASE: 'one-pass', AGE_PASSPHRASE: 'two-pass', BACKUP_ENCRYPTION_KEY: HEX });
  assert.equal(cfg, null);
  assert.equal(issues.length, 1);
  assert.match(issues[0]!.variable, /GPG_PASSPHRASE, AGE_PASSPHRASE, BACKUP_ENCRYPTION_KEY/);
  assert.match(issues[0]!.message, /only one encryption method/);
  const both = parse({ GPG_PASSPHRASE: 'one-pass', GPG_PUBLIC_KEY_RING: RING });
  assert.match(both.issues[0]!.variable, /GPG_PASSPHRASE, GPG_PUBLIC_KEY_RING/);
});

test('bad values are reported without the value', () => {
  const bad = 'not-a-hex-key-but-a-secret';
  const { issues } = parse({ BACKUP_ENCRYPTION_KEY: bad });
  assert.equal(issues[0]!.variable, 'BACKUP_ENCRYPTION_KEY');
  assert.match(issues[0]!.message, /64 hex characters/);
  assert.ok(!issues[0]!.message.includes(bad));
  assert.match(parse({ GPG_PUBLIC_KEY_RING: 'abc' }).issues[0]!.message, /armored OpenPGP public key/);
  assert.match(parse({ GPG_PRIVATE_KEY: 'abc' }).issues[0]!.message, /armored OpenPGP private key/);
  assert.match(parse({ AGE_PUBLIC_KEYS: 'age1notakey' }).issues[0]!.message, /not an age recipient/);
  assert.match(parse({ AGE_SECRET_KEYS: 'AGE-SECRET-KEY-1NOPE' }).issues[0]!.message, /not an age identity/);
});

test('a broken or unsupported ssh recipient is a clear configuration error (good ones: test/crypto/age-ssh.test.ts)', () => {
  for (const [key, re] of [
    ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkq user@host', /not a usable SSH recipient \(truncated SSH public key\)/],
    ['ssh-dss AAAAB3NzaC1kc3MAAAA= user@host', /not a usable SSH recipient/],
  ] as const) {
    const { cfg, issues } = parse({ AGE_PUBLIC_KEYS: key });
    assert.equal(cfg, null);
    assert.equal(issues[0]!.variable, 'AGE_PUBLIC_KEYS');
    assert.match(issues[0]!.message, re);
  }
});

test('decryption-only variables sit beside a method', async () => {
  const id = await generateX25519Identity();
  const { cfg, issues } = parse({ AGE_PUBLIC_KEYS: await identityToRecipient(id), AGE_SECRET_KEYS: `# created by age-keygen\n${id}\n` });
  assert.deepEqual(issues, []);
  assert.deepEqual(cfg?.keys.ageIdentities, [id]);
  const only = parse({ AGE_SECRET_KEYS: id });
  assert.equal(only.cfg?.method, 'none');
});

test('every secret is registered for redaction', () => {
  clearSecrets();
  parse({ GPG_PASSPHRASE: 'hunter2-passphrase', GPG_PRIVATE_KEY_PASSPHRASE: 'unlock-me-please' });
  parse({ BACKUP_ENCRYPTION_KEY: HEX });
  assert.equal(redact('x hunter2-passphrase y unlock-me-please'), 'x *** y ***');
  assert.equal(redact(`key=${HEX}`), 'key=***');
  clearSecrets();
});

test('a GPG_PUBLIC_KEY_RING that does not parse is a configuration error at start, naming it', async () => {
  const { checkEncryptionKeys } = await import('../../src/crypto/config.ts');
  const garbage = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n';
  const r = parse({ GPG_PUBLIC_KEY_RING: garbage });
  assert.deepEqual(r.issues, [], 'the armor header alone passes the synchronous check');
  const issues = await checkEncryptionKeys([{ source: 'environment', encryption: r.cfg! }]);
  assert.deepEqual(
    issues.map((i) => i.variable),
    ['GPG_PUBLIC_KEY_RING'],
  );
  assert.match(issues[0]!.message, /^is not an armored OpenPGP public key ring/);
  assert.deepEqual(await checkEncryptionKeys([{ source: 'environment', encryption: parse({}).cfg! }]), []);
});
