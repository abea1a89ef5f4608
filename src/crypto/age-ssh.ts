/**
 * age's SSH recipient types (`ssh-ed25519`, `ssh-rsa`; the agessh package of the age
 * reference implementation, the C2SP age specification), which age-encryption does not
 * have: a Recipient for age-encryption's Encrypter built on node:crypto, so archives for an
 * SSH key are read by `age -d -i ~/.ssh/id_ed25519` (test/crypto/age-ssh.test.ts checks that
 * with the age CLI). Encryption only: offsite restores with AGE_SECRET_KEYS (or the age CLI).
 *
 * - ssh-rsa: the file key is encrypted with RSA-OAEP (SHA-256, label
 *   "age-encryption.org/v1/ssh-rsa"); stanza `ssh-rsa <tag>`.
 * - ssh-ed25519: the Ed25519 key is mapped to its X25519 form; an ephemeral X25519 share,
 *   the shared secret tweaked by X25519 with HKDF(salt = ssh key, "age-encryption.org/v1/ssh-ed25519"),
 *   then HKDF(shared, salt = share || recipient) gives the ChaCha20-Poly1305 key that wraps
 *   the file key; stanza `ssh-ed25519 <tag> <share>`.
 * The tag is the first 4 bytes of SHA-256 of the key's SSH wire encoding, base64 without padding.
 */
import {
  createCipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  publicEncrypt,
  constants,
  type KeyObject,
} from 'node:crypto';
import type * as Age from 'age-encryption';
import type { Recipient } from 'age-encryption';
import { lazy } from '../lazy.ts';

/** Loaded when an SSH recipient is used (offsite version/config without age never load it). */
const age = lazy<typeof Age>('age-encryption');

const ED25519_LABEL = 'age-encryption.org/v1/ssh-ed25519';
const RSA_LABEL = 'age-encryption.org/v1/ssh-rsa';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '');
const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** The SSH wire encoding's length-prefixed fields. */
function fields(wire: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < wire.length) {
    if (i + 4 > wire.length) throw new Error('truncated SSH public key');
    const n = wire.readUInt32BE(i);
    if (i + 4 + n > wire.length) throw new Error('truncated SSH public key');
    out.push(wire.subarray(i + 4, i + 4 + n));
    i += 4 + n;
  }
  return out;
}

/** `ssh-ed25519 AAAA... comment` / `ssh-rsa AAAA... comment` -> an age Recipient; throws for anything else. */
export function sshRecipient(line: string): Recipient {
  const [type, data] = line.trim().split(/\s+/);
  if (!data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new Error('not an SSH public key line (type, base64 key, comment)');
  const wire = Buffer.from(data, 'base64');
  const f = fields(wire);
  if (f[0]?.toString() !== type) throw new Error(`the key's encoded type is ${JSON.stringify(f[0]?.toString())}, not ${type}`);
  const tag = b64(createHash('sha256').update(wire).digest().subarray(0, 4));
  if (type === 'ssh-rsa') {
    const [, e, n] = f;
    if (!e || !n) throw new Error('truncated ssh-rsa key');
    const key = createPublicKey({ key: { kty: 'RSA', e: b64url(stripZero(e)), n: b64url(stripZero(n)) }, format: 'jwk' });
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('RSA keys shorter than 2048 bits are refused (as age does)');
    return {
      wrapFileKey(fileKey) {
        const body = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from(RSA_LABEL) }, fileKey);
        return [new (age().Stanza)(['ssh-rsa', tag], body)];
      },
    };
  }
  if (type === 'ssh-ed25519') {
    const pk = f[1];
    if (!pk || pk.length !== 32) throw new Error('an ssh-ed25519 key holds 32 bytes');
    const theirs = ed25519ToX25519(pk);
    const theirKey = x25519Public(theirs);
    const tweak = Buffer.from(hkdfSync('sha256', Buffer.alloc(0), wire, ED25519_LABEL, 32)); // no secret, the key as salt
    const tweakKey = x25519Private(tweak);
    return {
      wrapFileKey(fileKey) {
        const { privateKey: ephemeral, publicKey } = generateKeyPairSync('x25519');
        const share = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
        let shared = diffieHellman({ privateKey: ephemeral, publicKey: theirKey });
        shared = diffieHellman({ privateKey: tweakKey, publicKey: x25519Public(shared) });
        const wrapKey = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([share, theirs]), ED25519_LABEL, 32));
        const c = createCipheriv('chacha20-poly1305', wrapKey, Buffer.alloc(12), { authTagLength: 16 });
        const body = Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
        return [new (age().Stanza)(['ssh-ed25519', tag, b64(share)], body)];
      },
    };
  }
  throw new Error(`${type} keys are not age recipients; use ssh-ed25519 or ssh-rsa`);
}

function stripZero(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

const P = (1n << 255n) - 19n;

function modPow(b: bigint, e: bigint): bigint {
  let r = 1n;
  b %= P;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
}

/** The Montgomery u of an Ed25519 public key: u = (1 + y) / (1 - y) mod p (RFC 7748, 4.1). */
function ed25519ToX25519(pk: Buffer): Buffer {
  const le = Buffer.from(pk);
  le[31]! &= 0x7f; // the sign of x
  const y = BigInt(`0x${Buffer.from(le).reverse().toString('hex')}`);
  if (y >= P) throw new Error('invalid ssh-ed25519 key');
  const den = (1n - y + P) % P;
  if (den === 0n) throw new Error('invalid ssh-ed25519 key');
  const u = ((1n + y) * modPow(den, P - 2n)) % P;
  return Buffer.from(u.toString(16).padStart(64, '0'), 'hex').reverse();
}

/** An X25519 private key from its 32 raw bytes (PKCS #8 DER around them, RFC 8410). */
function x25519Private(d: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), d]), format: 'der', type: 'pkcs8' });
}

function x25519Public(u: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(u) }, format: 'jwk' });
}
