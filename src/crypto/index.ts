/**
 * Archive encryption: one of OpenPGP (gpg), age or offsite's AES-256-GCM
 * format (aes), applied after compression (archive -> compress -> encrypt -> hash).
 * Decryption detects the method from the archive's first bytes.
 */
import type { Transform } from 'node:stream';
import { UserError } from '../errors.ts';
import { AES_MAGIC, aesDecryptor, aesEncryptor, parseAesKey } from './aes.ts';
import { ageDecryptor, ageEncryptor } from './age.ts';
import { gpgDecryptor, gpgEncryptor, readPublicKeyRing } from './gpg.ts';
import type { DecryptionKeys, EncryptionConfig, EncryptionMethod } from './types.ts';

export type { DecryptionKeys, EncryptionConfig, EncryptionMethod } from './types.ts';
export { parseEncryptionConfig, ENCRYPTION_SPEC, ENCRYPTION_VARIABLES } from './config.ts';

export interface PreparedEncryption {
  method: EncryptionMethod;
  /** A fresh encrypting Transform per archive, for createArchive's `encrypt` hook; undefined for none. */
  encrypt: (() => Transform) | undefined;
}

/** Check keys once (parsing a GPG key ring is async) and return the archive hook. */
export async function prepareEncryption(cfg: EncryptionConfig | null | undefined, testOptions: { scryptLogN?: number } = {}): Promise<PreparedEncryption> {
  if (!cfg || cfg.method === 'none') return { method: 'none', encrypt: undefined };
  switch (cfg.method) {
    case 'gpg': {
      const g = cfg.gpg!;
      if (g.passphrase !== undefined) {
        const passphrase = g.passphrase;
        return { method: 'gpg', encrypt: () => gpgEncryptor({ passphrase }) };
      }
      const publicKeys = await readPublicKeyRing(g.publicKeyRing!);
      return { method: 'gpg', encrypt: () => gpgEncryptor({ publicKeys }) };
    }
    case 'age': {
      const a = cfg.age!;
      const opts = a.passphrase !== undefined ? { passphrase: a.passphrase, ...testOptions } : { recipients: a.recipients! };
      return { method: 'age', encrypt: () => ageEncryptor(opts) };
    }
    case 'aes': {
      const key = parseAesKey(cfg.aes!.keyHex)!;
      return { method: 'aes', encrypt: () => aesEncryptor(key) };
    }
  }
}

/** How the bytes of an archive start. */
export type Detected = 'aes' | 'age' | 'age-armor' | 'gpg' | 'gpg-armor' | 'gzip' | 'zstd' | 'tar' | 'unknown';

const AGE_PREFIX = Buffer.from('age-encryption.org/', 'latin1');
const AGE_ARMOR = Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----', 'latin1');
const PGP_ARMOR = Buffer.from('-----BEGIN PGP MESSAGE-----', 'latin1');

/** True when `head` starts with a valid ustar/GNU tar header (checksum verified). */
export function looksLikeTar(head: Buffer): boolean {
  if (head.length < 512) return false;
  const magic = head.subarray(257, 262).toString('latin1');
  if (magic !== 'ustar') return false;
  const stored = parseInt(head.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : head[i]!;
  return sum === stored;
}

/** An OpenPGP message starts with a PKESK (1) or SKESK (3) packet, in old or new packet format. */
function looksLikePgp(head: Buffer): boolean {
  if (head.length < 2) return false;
  const b = head[0]!;
  if ((b & 0x80) === 0) return false;
  const tag = b & 0x40 ? b & 0x3f : (b >> 2) & 0x0f;
  return tag === 1 || tag === 3;
}

/** Detect the outermost layer of an archive from its first bytes (up to 512 are looked at). */
export function detectFormat(head: Buffer): Detected {
  const starts = (p: Buffer) => head.length >= p.length && head.subarray(0, p.length).equals(p);
  // leading whitespace is allowed before armor
  const first = head.findIndex((c) => c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09);
  const trimmed = first < 0 ? Buffer.alloc(0) : head.subarray(first);
  const tstarts = (p: Buffer) => trimmed.length >= p.length && trimmed.subarray(0, p.length).equals(p);
  if (starts(AES_MAGIC)) return 'aes';
  if (starts(AGE_PREFIX)) return 'age';
  if (tstarts(AGE_ARMOR)) return 'age-armor';
  if (tstarts(PGP_ARMOR)) return 'gpg-armor';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (looksLikeTar(head)) return 'tar';
  if (looksLikePgp(head)) return 'gpg';
  return 'unknown';
}

export function methodOf(d: Detected): EncryptionMethod {
  switch (d) {
    case 'aes':
      return 'aes';
    case 'age':
    case 'age-armor':
      return 'age';
    case 'gpg':
    case 'gpg-armor':
      return 'gpg';
    default:
      return 'none';
  }
}

/** A decrypting Transform for an archive whose first bytes were detected as `d`. Throws a UserError when no key for it is configured. */
export function createDecryptor(d: Detected, keys: DecryptionKeys): Transform {
  switch (d) {
    case 'aes': {
      if (!keys.aesKeyHex)
        throw new UserError(
          "the archive is encrypted with offsite's AES format, but BACKUP_ENCRYPTION_KEY is not set",
          'set BACKUP_ENCRYPTION_KEY to the key the backup was made with',
        );
      return aesDecryptor(parseAesKey(keys.aesKeyHex)!);
    }
    case 'age': {
      if (keys.agePassphrase === undefined && !keys.ageIdentities?.length) {
        throw new UserError(
          'the archive is encrypted with age, but neither AGE_PASSPHRASE nor AGE_SECRET_KEYS is set',
          'set AGE_PASSPHRASE, or AGE_SECRET_KEYS to the AGE-SECRET-KEY-1... of a recipient it was encrypted for',
        );
      }
      return ageDecryptor({ passphrase: keys.agePassphrase, identities: keys.ageIdentities });
    }
    case 'age-armor':
      throw new UserError('the archive is an ASCII-armored age file, which offsite does not read', 'decrypt it with `age --decrypt` first');
    case 'gpg':
    case 'gpg-armor': {
      if (keys.gpgPassphrase === undefined && keys.gpgPrivateKey === undefined) {
        throw new UserError(
          'the archive is encrypted with OpenPGP, but neither GPG_PASSPHRASE nor GPG_PRIVATE_KEY is set',
          'set GPG_PASSPHRASE, or GPG_PRIVATE_KEY (and GPG_PRIVATE_KEY_PASSPHRASE) for a key it was encrypted for',
        );
      }
      return gpgDecryptor(
        { passphrase: keys.gpgPassphrase, privateKey: keys.gpgPrivateKey, privateKeyPassphrase: keys.gpgPrivateKeyPassphrase },
        d === 'gpg-armor',
      );
    }
    default:
      throw new Error(`not an encrypted format: ${d}`);
  }
}
