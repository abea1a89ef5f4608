/**
 * age encryption (AGE_PASSPHRASE or AGE_PUBLIC_KEYS) with age-encryption,
 * which streams (STREAM, 64 KiB chunks). `age --decrypt` reads the output.
 */
import type * as Age from 'age-encryption';
import { lazy } from '../lazy.ts';

/** Loaded when age is configured or an age archive is read. */
const age = lazy<typeof Age>('age-encryption');
import type { Transform } from 'node:stream';
import { UserError, errorMessage } from '../errors.ts';
import { WebBridge } from './bridge.ts';
import { sshRecipient } from './age-ssh.ts';

const HINT_KEY = 'AGE_PASSPHRASE or AGE_SECRET_KEYS must match what the backup was encrypted for';
const HINT_DAMAGED = 'the archive was damaged or cut short in storage or transfer; try another copy of this backup';

/**
 * Why an AGE_PUBLIC_KEYS entry cannot be used, or null when it can: a native age recipient
 * (age1...), or an SSH public key `ssh-ed25519 ...` / `ssh-rsa ...` (age-ssh.ts).
 */
export function ageRecipientProblem(recipient: string): string | null {
  if (/^ssh-/.test(recipient)) {
    try {
      sshRecipient(recipient);
      return null;
    } catch (e) {
      return `"${recipient.slice(0, 24)}…" is not a usable SSH recipient (${errorMessage(e)}); expected ssh-ed25519 or ssh-rsa (2048 bits or more)`;
    }
  }
  try {
    new (age().Encrypter)().addRecipient(recipient);
    return null;
  } catch (e) {
    return `"${recipient.slice(0, 24)}${recipient.length > 24 ? '…' : ''}" is not an age recipient (${errorMessage(e)}); expected age1...`;
  }
}

/** Why an AGE_SECRET_KEYS entry cannot be used, or null when it can. */
export function ageIdentityProblem(identity: string): string | null {
  try {
    new (age().Decrypter)().addIdentity(identity);
    return null;
  } catch (e) {
    return `an entry is not an age identity (${errorMessage(e)}); expected AGE-SECRET-KEY-1...`;
  }
}

export interface AgeEncryptOptions {
  passphrase?: string;
  recipients?: string[];
  /** scrypt work factor for passphrases (tests lower it; default 18 as age). */
  scryptLogN?: number;
}

export function ageEncryptor(opts: AgeEncryptOptions): Transform {
  return new WebBridge(
    async (input) => {
      const e = new (age().Encrypter)();
      if (opts.passphrase !== undefined) {
        if (opts.scryptLogN) e.setScryptWorkFactor(opts.scryptLogN);
        e.setPassphrase(opts.passphrase);
      } else {
        for (const r of opts.recipients ?? []) e.addRecipient(/^ssh-/.test(r) ? sshRecipient(r) : r);
      }
      return await e.encrypt(input);
    },
    (e) => (e instanceof UserError ? e : new UserError(`age encryption failed: ${errorMessage(e)}`)),
  );
}

export interface AgeDecryptOptions {
  passphrase?: string;
  identities?: string[];
}

export function classifyAgeError(e: unknown): Error {
  if (e instanceof UserError) return e;
  const msg = errorMessage(e);
  if (/no identity matched|incorrect passphrase|invalid header hmac|scrypt/i.test(msg)) {
    return new UserError(`cannot decrypt the archive (age): wrong passphrase or key (${msg})`, HINT_KEY);
  }
  return new UserError(`the archive is corrupted or truncated (age): ${msg}`, HINT_DAMAGED);
}

export function ageDecryptor(opts: AgeDecryptOptions): Transform {
  return new WebBridge(async (input) => {
    const d = new (age().Decrypter)();
    if (opts.passphrase !== undefined) d.addPassphrase(opts.passphrase);
    for (const id of opts.identities ?? []) d.addIdentity(id);
    return await d.decrypt(input);
  }, classifyAgeError);
}
