/**
 * OpenPGP encryption (GPG_PASSPHRASE or GPG_PUBLIC_KEY_RING) with openpgp.js,
 * streamed: binary OpenPGP messages (SKESK/PKESK + SEIPD v1 with MDC), which
 * `gpg --decrypt` reads, as offen's output does.
 */
import type * as OpenPGP from 'openpgp';
import { lazy } from '../lazy.ts';

/** Loaded when gpg encryption is configured or an OpenPGP archive is read. */
const pgp = lazy<typeof OpenPGP>('openpgp');
import type { Transform } from 'node:stream';
import { UserError, errorMessage } from '../errors.ts';
import { WebBridge } from './bridge.ts';

/** SEIPD v1 + MDC (what gpg 2.2 reads), AES-256, no compression: the archive is compressed already. */
const encryptConfig = (): Partial<OpenPGP.Config> => ({
  aeadProtect: false,
  preferredSymmetricAlgorithm: pgp().enums.symmetric.aes256,
  preferredCompressionAlgorithm: pgp().enums.compression.uncompressed,
});

/**
 * Decryption streams: the MDC is checked at the end of the message and a
 * failure errors the stream there, so a restore still fails as a whole
 * (restore extracts into a staging directory and only moves it in on success).
 */
const DECRYPT_CONFIG: Partial<OpenPGP.Config> = { allowUnauthenticatedStream: true };

const HINT_KEY = 'GPG_PASSPHRASE, or GPG_PRIVATE_KEY (and GPG_PRIVATE_KEY_PASSPHRASE), must be what the backup was encrypted for';
const HINT_DAMAGED = 'the archive was damaged or cut short in storage or transfer; try another copy of this backup';

/** Parse an armored public key ring; throws a UserError naming the variable. */
export async function readPublicKeyRing(armored: string, variable = 'GPG_PUBLIC_KEY_RING'): Promise<OpenPGP.Key[]> {
  // one armored block may hold several keys (gpg --armor --export A B); several blocks may be concatenated
  const blocks = armored.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g) ?? [armored];
  const keys: OpenPGP.Key[] = [];
  try {
    for (const block of blocks) keys.push(...(await pgp().readKeys({ armoredKeys: block })));
  } catch (e) {
    throw new UserError(`${variable} is not an armored OpenPGP public key ring: ${errorMessage(e)}`, 'export it with `gpg --armor --export KEYID`');
  }
  if (keys.length === 0) throw new UserError(`${variable} holds no public key`, 'export it with `gpg --armor --export KEYID`');
  for (const k of keys) {
    try {
      await k.getEncryptionKey();
    } catch (e) {
      throw new UserError(`${variable}: key ${k.getKeyID().toHex()} cannot encrypt: ${errorMessage(e)}`, 'use a key with a valid, unexpired encryption subkey');
    }
  }
  return keys;
}

export interface GpgEncryptOptions {
  passphrase?: string;
  publicKeys?: OpenPGP.Key[];
}

export function gpgEncryptor(opts: GpgEncryptOptions): Transform {
  return new WebBridge(
    async (input) => {
      const message = await pgp().createMessage({ binary: input, format: 'binary' });
      const out = await pgp().encrypt({
        message,
        format: 'binary',
        config: encryptConfig(),
        ...(opts.passphrase !== undefined ? { passwords: [opts.passphrase] } : { encryptionKeys: opts.publicKeys! }),
      });
      return out as ReadableStream<Uint8Array>;
    },
    (e) => (e instanceof UserError ? e : new UserError(`OpenPGP encryption failed: ${errorMessage(e)}`)),
  );
}

export interface GpgDecryptOptions {
  passphrase?: string;
  privateKey?: string;
  privateKeyPassphrase?: string;
}

async function loadPrivateKeys(armored: string, passphrase: string | undefined): Promise<OpenPGP.PrivateKey[]> {
  const blocks = armored.match(/-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----/g) ?? [armored];
  const keys: OpenPGP.PrivateKey[] = [];
  try {
    for (const block of blocks) keys.push(...(await pgp().readPrivateKeys({ armoredKeys: block })));
  } catch (e) {
    throw new UserError(`GPG_PRIVATE_KEY is not an armored OpenPGP private key: ${errorMessage(e)}`, 'export it with `gpg --armor --export-secret-keys KEYID`');
  }
  const out: OpenPGP.PrivateKey[] = [];
  for (const k of keys) {
    if (k.isDecrypted()) {
      out.push(k);
      continue;
    }
    if (passphrase === undefined) {
      throw new UserError(
        'GPG_PRIVATE_KEY is protected by a passphrase, but GPG_PRIVATE_KEY_PASSPHRASE is not set',
        'set GPG_PRIVATE_KEY_PASSPHRASE to the passphrase of the key',
      );
    }
    try {
      out.push(await pgp().decryptKey({ privateKey: k, passphrase }));
    } catch (e) {
      throw new UserError(`GPG_PRIVATE_KEY could not be unlocked: ${errorMessage(e)}`, 'check GPG_PRIVATE_KEY_PASSPHRASE');
    }
  }
  return out;
}

export function classifyGpgError(e: unknown, symmetric = false): Error {
  if (e instanceof UserError) return e;
  const msg = errorMessage(e);
  if (/session key decryption failed|no decryption key packets|could not find valid|decryption key|password|passphrase/i.test(msg)) {
    return new UserError(`cannot decrypt the archive (OpenPGP): wrong passphrase or key (${msg})`, HINT_KEY);
  }
  // A passphrase-only message has no key check: a wrong passphrase decrypts to noise, which
  // fails as a parse or integrity error, exactly like a damaged archive. Say both.
  if (symmetric && /error during parsing|modification detected|mdc|integrity|unknown packet|unsupported/i.test(msg)) {
    return new UserError(`cannot decrypt the archive (OpenPGP): wrong passphrase or key, or the archive is corrupted (${msg})`, HINT_KEY);
  }
  return new UserError(`the archive is corrupted or truncated (OpenPGP): ${msg}`, HINT_DAMAGED);
}

/** Decrypting Transform for a binary or armored OpenPGP message. */
export function gpgDecryptor(opts: GpgDecryptOptions, armored = false): Transform {
  return new WebBridge(
    async (input) => {
      const decryptionKeys = opts.privateKey ? await loadPrivateKeys(opts.privateKey, opts.privateKeyPassphrase) : undefined;
      const message = armored
        ? await pgp().readMessage({ armoredMessage: input.pipeThrough(new TextDecoderStream()), config: DECRYPT_CONFIG })
        : await pgp().readMessage({ binaryMessage: input, config: DECRYPT_CONFIG });
      const result = await pgp().decrypt({
        message,
        format: 'binary',
        config: DECRYPT_CONFIG,
        ...(opts.passphrase !== undefined ? { passwords: [opts.passphrase] } : {}),
        ...(decryptionKeys ? { decryptionKeys } : {}),
      });
      return result.data as ReadableStream<Uint8Array>;
    },
    (e) => classifyGpgError(e, opts.passphrase !== undefined && !opts.privateKey),
  );
}
