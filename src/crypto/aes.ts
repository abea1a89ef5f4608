/**
 * offsite's AES-256-GCM streaming format (BACKUP_ENCRYPTION_KEY), version 1.
 * docs/encryption.md describes it byte by byte.
 *
 *   header  = "OFSAES" | version (1) | log2(chunk size) | salt (16) | key check (16)   (40 bytes)
 *   okm     = HKDF-SHA256(ikm = key, salt = salt, info = "offsite-aes-256-gcm-v1", 48 bytes)
 *   chunk i = AES-256-GCM(key = okm[0..32], nonce = i as 11-byte big-endian || last flag,
 *                         aad = header, plaintext = up to chunk size bytes) || tag (16)
 *
 * Every chunk but the last holds exactly `chunk size` plaintext bytes; the last
 * holds 0..chunk size bytes and has the last flag set, so truncation at a chunk
 * boundary, reordering, dropping, duplicating or appending chunks all fail
 * authentication. The key check (okm[32..48]) tells a wrong key from damage.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { UserError } from '../errors.ts';

export const AES_MAGIC = Buffer.from('OFSAES', 'latin1');
export const AES_VERSION = 1;
export const AES_HEADER_LENGTH = 40;
export const AES_TAG_LENGTH = 16;
export const AES_DEFAULT_CHUNK_LOG = 16;
const MIN_CHUNK_LOG = 10;
const MAX_CHUNK_LOG = 24;
const INFO = 'offsite-aes-256-gcm-v1';

/** Parse BACKUP_ENCRYPTION_KEY: exactly 64 hex characters (256 bits). Returns null when malformed. */
export function parseAesKey(text: string): Buffer | null {
  const t = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(t)) return null;
  return Buffer.from(t, 'hex');
}

function derive(key: Buffer, salt: Buffer): { encKey: Buffer; check: Buffer } {
  const okm = Buffer.from(hkdfSync('sha256', key, salt, INFO, 48));
  return { encKey: okm.subarray(0, 32), check: okm.subarray(32, 48) };
}

function nonceFor(counter: bigint, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(counter, 3); // bytes 0..2 stay zero: an 11-byte big-endian counter
  n[11] = last ? 1 : 0;
  return n;
}

function sealChunk(encKey: Buffer, header: Buffer, counter: bigint, last: boolean, plain: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', encKey, nonceFor(counter, last), { authTagLength: AES_TAG_LENGTH });
  c.setAAD(header);
  const a = c.update(plain);
  const b = c.final();
  return Buffer.concat([a, b, c.getAuthTag()]);
}

function openChunk(encKey: Buffer, header: Buffer, counter: bigint, last: boolean, sealed: Buffer): Buffer | null {
  const ct = sealed.subarray(0, sealed.length - AES_TAG_LENGTH);
  const tag = sealed.subarray(sealed.length - AES_TAG_LENGTH);
  const d = createDecipheriv('aes-256-gcm', encKey, nonceFor(counter, last), { authTagLength: AES_TAG_LENGTH });
  d.setAAD(header);
  d.setAuthTag(tag);
  try {
    const a = d.update(ct);
    const b = d.final();
    return b.length ? Buffer.concat([a, b]) : a;
  } catch {
    return null;
  }
}

/** Build the 40-byte header (exported for tests and fixtures). */
export function aesHeader(key: Buffer, salt: Buffer = randomBytes(16), chunkLog = AES_DEFAULT_CHUNK_LOG): { header: Buffer; encKey: Buffer } {
  const { encKey, check } = derive(key, salt);
  const header = Buffer.concat([AES_MAGIC, Buffer.from([AES_VERSION, chunkLog]), salt, check]);
  return { header, encKey };
}

/** Encrypting Transform: plaintext in, offsite AES format out. */
export function aesEncryptor(key: Buffer, chunkLog = AES_DEFAULT_CHUNK_LOG): Transform {
  if (key.length !== 32) throw new Error('AES key must be 32 bytes');
  const { header, encKey } = aesHeader(key, randomBytes(16), chunkLog);
  const size = 2 ** chunkLog;
  let buf = Buffer.allocUnsafe(size);
  let fill = 0;
  let counter = 0n;
  let headerSent = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (!headerSent) {
        this.push(header);
        headerSent = true;
      }
      let off = 0;
      while (off < chunk.length) {
        if (fill === size) {
          // more data follows a full chunk, so that chunk is not the last
          this.push(sealChunk(encKey, header, counter++, false, buf));
          buf = Buffer.allocUnsafe(size);
          fill = 0;
        }
        const n = Math.min(size - fill, chunk.length - off);
        chunk.copy(buf, fill, off, off + n);
        fill += n;
        off += n;
      }
      cb();
    },
    flush(cb: TransformCallback) {
      if (!headerSent) {
        this.push(header);
        headerSent = true;
      }
      this.push(sealChunk(encKey, header, counter++, true, buf.subarray(0, fill)));
      cb();
    },
  });
}

const WRONG_KEY_HINT = 'set BACKUP_ENCRYPTION_KEY to the 64 hex characters the backup was made with';
const DAMAGED_HINT = 'the archive was damaged or cut short in storage or transfer; try another copy of this backup';

/** Decrypting Transform: offsite AES format in, plaintext out. Fails on any damage, truncation or a wrong key. */
export function aesDecryptor(key: Buffer): Transform {
  if (key.length !== 32) throw new Error('AES key must be 32 bytes');
  const pending: Buffer[] = [];
  let pendingLen = 0;
  let header: Buffer | null = null;
  let encKey: Buffer | null = null;
  let sealedSize = 0;
  let counter = 0n;

  function take(n: number): Buffer {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending.length = 0;
    const out = all.subarray(0, n);
    if (all.length > n) pending.push(all.subarray(n));
    pendingLen -= n;
    return out;
  }

  function readHeader(): void {
    const h = Buffer.from(take(AES_HEADER_LENGTH));
    if (!h.subarray(0, 6).equals(AES_MAGIC)) {
      throw new UserError("the archive is not in offsite's AES format (BACKUP_ENCRYPTION_KEY)", 'it may be encrypted another way or not at all');
    }
    const version = h[6]!;
    if (version !== AES_VERSION) {
      throw new UserError(
        `the archive uses version ${version} of offsite's AES format; this offsite reads version ${AES_VERSION}`,
        'restore it with a newer offsite release',
      );
    }
    const log = h[7]!;
    if (log < MIN_CHUNK_LOG || log > MAX_CHUNK_LOG) throw new UserError(`the archive's AES header is invalid (chunk size 2^${log})`, DAMAGED_HINT);
    const d = derive(key, h.subarray(8, 24));
    if (!timingSafeEqual(d.check, h.subarray(24, 40))) {
      throw new UserError('cannot decrypt the archive: BACKUP_ENCRYPTION_KEY is not the key it was encrypted with', WRONG_KEY_HINT);
    }
    header = h;
    encKey = d.encKey;
    sealedSize = 2 ** log + AES_TAG_LENGTH;
  }

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        pending.push(chunk);
        pendingLen += chunk.length;
        if (!header) {
          if (pendingLen >= 8 && !header) {
            const peek = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
            if (peek.subarray(0, 6).equals(AES_MAGIC) && peek[6] !== AES_VERSION) {
              throw new UserError(
                `the archive uses version ${peek[6]} of offsite's AES format; this offsite reads version ${AES_VERSION}`,
                'restore it with a newer offsite release',
              );
            }
          }
          if (pendingLen < AES_HEADER_LENGTH) return cb();
          readHeader();
        }
        // a full sealed chunk is known not to be the last only when more bytes follow it
        while (pendingLen > sealedSize) {
          const sealed = take(sealedSize);
          const plain = openChunk(encKey!, header!, counter, false, sealed);
          if (!plain) throw new UserError(`the archive is corrupted: encrypted chunk ${counter} failed authentication`, DAMAGED_HINT);
          counter++;
          this.push(plain);
        }
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        if (!header) {
          if (pendingLen < AES_HEADER_LENGTH) throw new UserError('the archive is truncated: the AES header is incomplete', DAMAGED_HINT);
          readHeader();
        }
        if (pendingLen < AES_TAG_LENGTH) {
          throw new UserError(`the archive is truncated: it ends inside encrypted chunk ${counter}`, DAMAGED_HINT);
        }
        const sealed = take(pendingLen);
        const plain = openChunk(encKey!, header!, counter, true, sealed);
        if (!plain) {
          if (sealed.length === sealedSize && openChunk(encKey!, header!, counter, false, sealed)) {
            throw new UserError(`the archive is truncated: it ends after encrypted chunk ${counter} without the final chunk`, DAMAGED_HINT);
          }
          throw new UserError(`the archive is truncated or corrupted: the final encrypted chunk (${counter}) failed authentication`, DAMAGED_HINT);
        }
        if (plain.length === 0 && counter > 0n) {
          throw new UserError(`the archive is corrupted: its final encrypted chunk (${counter}) is empty`, DAMAGED_HINT);
        }
        this.push(plain);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}
