/** Encryption applied to an archive after compression. */
export type EncryptionMethod = 'none' | 'gpg' | 'age' | 'aes';

/**
 * What can decrypt an archive. Everything here is secret and registered with
 * registerSecret. Passphrase methods decrypt with the same variable that
 * encrypts; public-key methods need the private half, which only restore and
 * verify read (GPG_PRIVATE_KEY, AGE_SECRET_KEYS).
 */
export interface DecryptionKeys {
  gpgPassphrase?: string;
  /** Armored private key(s) (GPG_PRIVATE_KEY). */
  gpgPrivateKey?: string;
  /** Passphrase of the private key, when it is protected (GPG_PRIVATE_KEY_PASSPHRASE). */
  gpgPrivateKeyPassphrase?: string;
  agePassphrase?: string;
  /** `AGE-SECRET-KEY-1...` identities (AGE_SECRET_KEYS). */
  ageIdentities?: string[];
  /** 64 hex characters (BACKUP_ENCRYPTION_KEY). */
  aesKeyHex?: string;
}

/** The encryption part of a job's configuration. */
export interface EncryptionConfig {
  method: EncryptionMethod;
  /** The variable that chose the method (for messages), or null for none. */
  variable: string | null;
  gpg: { passphrase?: string; publicKeyRing?: string } | null;
  age: { passphrase?: string; recipients?: string[] } | null;
  /** 64 lowercase hex characters. Kept as text so the frozen config holds no Buffer. */
  aes: { keyHex: string } | null;
  /** Material for restore and verify. */
  keys: DecryptionKeys;
}
