/**
 * Encryption section of a job's configuration.
 *
 * At most one method: GPG_PASSPHRASE, GPG_PUBLIC_KEY_RING, AGE_PASSPHRASE,
 * AGE_PUBLIC_KEYS or BACKUP_ENCRYPTION_KEY. Restore and verify also read the
 * private halves of the public-key methods: GPG_PRIVATE_KEY (+
 * GPG_PRIVATE_KEY_PASSPHRASE) and AGE_SECRET_KEYS.
 */
import { str } from 'envalid';
import { errorMessage, type ConfigIssue } from '../errors.ts';
import { registerSecret } from '../redact.ts';
import { validateSection, type Env } from '../config/validate.ts';
import { parseAesKey } from './aes.ts';
import { ageIdentityProblem, ageRecipientProblem } from './age.ts';
import type { DecryptionKeys, EncryptionConfig, EncryptionMethod } from './types.ts';

export const ENCRYPTION_SPEC = {
  GPG_PASSPHRASE: str({ default: undefined, desc: 'symmetric OpenPGP passphrase' }),
  GPG_PUBLIC_KEY_RING: str({ default: undefined, desc: 'armored OpenPGP public key(s) to encrypt for' }),
  AGE_PASSPHRASE: str({ default: undefined, desc: 'age passphrase' }),
  AGE_PUBLIC_KEYS: str({ default: undefined, desc: 'comma list of age1... recipients or ssh-ed25519 / ssh-rsa public keys' }),
  BACKUP_ENCRYPTION_KEY: str({ default: undefined, desc: '256-bit AES key as 64 hex characters' }),
  GPG_PRIVATE_KEY: str({ default: undefined, desc: 'armored OpenPGP private key (restore and verify only)' }),
  GPG_PRIVATE_KEY_PASSPHRASE: str({ default: undefined, desc: 'passphrase of GPG_PRIVATE_KEY' }),
  AGE_SECRET_KEYS: str({ default: undefined, desc: 'AGE-SECRET-KEY-1... identities, comma or newline separated (restore and verify only)' }),
};

export const ENCRYPTION_VARIABLES: readonly string[] = Object.keys(ENCRYPTION_SPEC);
/** Every encryption variable is a secret (public keys too: they say who can read the backups). */
export const ENCRYPTION_SECRETS: readonly string[] = ENCRYPTION_VARIABLES;

/** The variables that each choose an encryption method, and the method they choose. */
const METHOD_VARIABLES: ReadonlyArray<readonly [string, EncryptionMethod]> = [
  ['GPG_PASSPHRASE', 'gpg'],
  ['GPG_PUBLIC_KEY_RING', 'gpg'],
  ['AGE_PASSPHRASE', 'age'],
  ['AGE_PUBLIC_KEYS', 'age'],
  ['BACKUP_ENCRYPTION_KEY', 'aes'],
];

function splitList(text: string, separators: RegExp): string[] {
  return text
    .split(separators)
    .map((s) => s.trim())
    .filter((s) => s && !s.startsWith('#'));
}

/** Parse the encryption variables of one job's environment. Returns null when any is invalid (issues say why). */
export function parseEncryptionConfig(env: Env, issues: ConfigIssue[]): EncryptionConfig | null {
  const before = issues.length;
  const v = validateSection(env, ENCRYPTION_SPEC, issues) as Record<keyof typeof ENCRYPTION_SPEC, string | undefined>;
  for (const k of ENCRYPTION_VARIABLES) registerSecret(v[k as keyof typeof v]);

  const set = METHOD_VARIABLES.filter(([name]) => v[name as keyof typeof v] !== undefined);
  if (set.length > 1) {
    const names = set.map(([n]) => n);
    issues.push({
      variable: names.join(', '),
      message: `only one encryption method can be used, but ${names.join(' and ')} are all set; unset all but one`,
    });
  }

  let aesKeyHex: string | undefined;
  if (v.BACKUP_ENCRYPTION_KEY !== undefined) {
    const key = parseAesKey(v.BACKUP_ENCRYPTION_KEY);
    if (!key) {
      issues.push({
        variable: 'BACKUP_ENCRYPTION_KEY',
        message: 'must be a 256-bit key written as 64 hex characters (generate one with `openssl rand -hex 32`)',
      });
    } else {
      aesKeyHex = key.toString('hex');
      registerSecret(aesKeyHex);
    }
  }

  let recipients: string[] | undefined;
  if (v.AGE_PUBLIC_KEYS !== undefined) {
    recipients = splitList(v.AGE_PUBLIC_KEYS, /[,\n]/);
    if (recipients.length === 0)
      issues.push({ variable: 'AGE_PUBLIC_KEYS', message: 'holds no recipient; expected a comma list of age1... keys or ssh-ed25519 / ssh-rsa public keys' });
    for (const r of recipients) {
      const p = ageRecipientProblem(r);
      if (p) issues.push({ variable: 'AGE_PUBLIC_KEYS', message: p });
    }
  }

  let identities: string[] | undefined;
  if (v.AGE_SECRET_KEYS !== undefined) {
    identities = splitList(v.AGE_SECRET_KEYS, /[,\n]/)
      .flatMap((l) => l.split(/\s+/))
      .filter(Boolean);
    for (const id of identities) registerSecret(id);
    if (identities.length === 0) issues.push({ variable: 'AGE_SECRET_KEYS', message: 'holds no identity; expected AGE-SECRET-KEY-1... keys' });
    for (const id of identities) {
      const p = ageIdentityProblem(id);
      if (p) issues.push({ variable: 'AGE_SECRET_KEYS', message: p });
    }
  }

  if (v.GPG_PUBLIC_KEY_RING !== undefined && !/-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(v.GPG_PUBLIC_KEY_RING)) {
    issues.push({
      variable: 'GPG_PUBLIC_KEY_RING',
      message: 'is not an armored OpenPGP public key block (-----BEGIN PGP PUBLIC KEY BLOCK-----); export one with `gpg --armor --export KEYID`',
    });
  }
  if (v.GPG_PRIVATE_KEY !== undefined && !/-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(v.GPG_PRIVATE_KEY)) {
    issues.push({
      variable: 'GPG_PRIVATE_KEY',
      message: 'is not an armored OpenPGP private key block (-----BEGIN PGP PRIVATE KEY BLOCK-----); export one with `gpg --armor --export-secret-keys KEYID`',
    });
  }

  if (issues.length > before) return null;

  const keys: DecryptionKeys = {};
  if (v.GPG_PASSPHRASE !== undefined) keys.gpgPassphrase = v.GPG_PASSPHRASE;
  if (v.GPG_PRIVATE_KEY !== undefined) keys.gpgPrivateKey = v.GPG_PRIVATE_KEY;
  if (v.GPG_PRIVATE_KEY_PASSPHRASE !== undefined) keys.gpgPrivateKeyPassphrase = v.GPG_PRIVATE_KEY_PASSPHRASE;
  if (v.AGE_PASSPHRASE !== undefined) keys.agePassphrase = v.AGE_PASSPHRASE;
  if (identities) keys.ageIdentities = identities;
  if (aesKeyHex) keys.aesKeyHex = aesKeyHex;

  const chosen = set[0];
  const method: EncryptionMethod = chosen ? chosen[1] : 'none';
  return {
    method,
    variable: chosen ? chosen[0] : null,
    gpg: method === 'gpg' ? (v.GPG_PASSPHRASE !== undefined ? { passphrase: v.GPG_PASSPHRASE } : { publicKeyRing: v.GPG_PUBLIC_KEY_RING! }) : null,
    age: method === 'age' ? (v.AGE_PASSPHRASE !== undefined ? { passphrase: v.AGE_PASSPHRASE } : { recipients: recipients! }) : null,
    aes: method === 'aes' ? { keyHex: aesKeyHex! } : null,
    keys,
  };
}

/**
 * Checks that need the OpenPGP library, run once at start (not after an archive was built):
 * GPG_PUBLIC_KEY_RING must parse and each key must be able to encrypt. openpgp is imported
 * only when a job uses a public key ring.
 */
export async function checkEncryptionKeys(jobs: ReadonlyArray<{ source: string; encryption: EncryptionConfig }>): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  const checked = new Map<string, string | null>();
  for (const job of jobs) {
    const ring = job.encryption.gpg?.publicKeyRing;
    if (ring === undefined) continue;
    if (!checked.has(ring)) {
      const { readPublicKeyRing } = await import('./gpg.ts');
      try {
        await readPublicKeyRing(ring);
        checked.set(ring, null);
      } catch (e) {
        const hint = (e as { hint?: string }).hint;
        checked.set(ring, `${errorMessage(e).replace(/^GPG_PUBLIC_KEY_RING:? /, '')}${hint ? `; ${hint}` : ''}`);
      }
    }
    const problem = checked.get(ring);
    if (problem) issues.push({ variable: 'GPG_PUBLIC_KEY_RING', message: `${problem}${job.source === 'environment' ? '' : ` (in ${job.source})`}` });
  }
  return issues;
}
