import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes, createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { aesEncryptor, aesDecryptor, parseAesKey, AES_HEADER_LENGTH, AES_TAG_LENGTH } from '../../src/crypto/aes.ts';
import { UserError } from '../../src/errors.ts';

const KEY = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const CHUNK_LOG = 10; // 1 KiB chunks keep boundary cases small
const CHUNK = 1 << CHUNK_LOG;

async function collect(src: Readable | Buffer[], t: import('node:stream').Transform): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Array.isArray(src) ? Readable.from(src) : src, t, async function* (s) {
    for await (const c of s) parts.push(c as Buffer);
  });
  return Buffer.concat(parts);
}

/** Split a buffer into uneven pieces to exercise buffering. */
function pieces(b: Buffer, size = 333): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out.length ? out : [];
}

const encrypt = (plain: Buffer, key = KEY) => collect(pieces(plain), aesEncryptor(key, CHUNK_LOG));
const decrypt = (sealed: Buffer, key = KEY) => collect(pieces(sealed, 777), aesDecryptor(key));

test('parseAesKey accepts 64 hex characters only', () => {
  assert.equal(parseAesKey('00'.repeat(32))?.length, 32);
  assert.equal(parseAesKey(` ${'Ab'.repeat(32)}\n`)?.length, 32);
  assert.equal(parseAesKey('00'.repeat(31)), null);
  assert.equal(parseAesKey('zz'.repeat(32)), null);
  assert.equal(parseAesKey('00'.repeat(33)), null);
});

test('round trip at every chunk boundary size', async () => {
  for (const n of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5]) {
    const plain = randomBytes(n);
    const sealed = await encrypt(plain);
    const chunks = Math.max(1, Math.ceil(n / CHUNK));
    assert.equal(sealed.length, AES_HEADER_LENGTH + n + chunks * AES_TAG_LENGTH, `size for ${n}`);
    assert.deepEqual(await decrypt(sealed), plain, `round trip ${n}`);
  }
});

test('the same plaintext encrypts differently each time (random salt)', async () => {
  const plain = Buffer.from('same');
  assert.notDeepEqual(await encrypt(plain), await encrypt(plain));
});

test('a wrong key is reported as a wrong key', async () => {
  const sealed = await encrypt(randomBytes(5000));
  await assert.rejects(decrypt(sealed, Buffer.alloc(32, 9)), (e: Error) => e instanceof UserError && /BACKUP_ENCRYPTION_KEY is not the key/.test(e.message));
});

test('truncation anywhere is detected', async () => {
  const plain = randomBytes(3 * CHUNK + 100);
  const sealed = await encrypt(plain);
  const sealedChunk = CHUNK + AES_TAG_LENGTH;
  const cuts = [
    0,
    5,
    AES_HEADER_LENGTH - 1,
    AES_HEADER_LENGTH,
    AES_HEADER_LENGTH + 10,
    AES_HEADER_LENGTH + sealedChunk,
    AES_HEADER_LENGTH + 2 * sealedChunk,
    AES_HEADER_LENGTH + 3 * sealedChunk,
    sealed.length - 1,
  ];
  for (const cut of cuts) {
    await assert.rejects(decrypt(sealed.subarray(0, cut)), (e: Error) => e instanceof UserError && /truncated|empty/.test(e.message), `cut at ${cut}`);
  }
  // a cut exactly after a full chunk is named precisely
  await assert.rejects(decrypt(sealed.subarray(0, AES_HEADER_LENGTH + 2 * sealedChunk)), /ends after encrypted chunk 1 without the final chunk/);
});

test('flipped bits, reordered, duplicated and appended chunks are detected', async () => {
  const plain = randomBytes(3 * CHUNK + 100);
  const sealed = await encrypt(plain);
  const sc = CHUNK + AES_TAG_LENGTH;
  const H = AES_HEADER_LENGTH;
  const chunk = (i: number) => sealed.subarray(H + i * sc, Math.min(sealed.length, H + (i + 1) * sc));
  const header = sealed.subarray(0, H);
  for (const pos of [H + 3, H + sc + 100, sealed.length - 1, 7 /* chunk size byte */, 10 /* salt */, 30 /* key check */]) {
    const bad = Buffer.from(sealed);
    bad[pos]! ^= 0x01;
    await assert.rejects(decrypt(bad), UserError, `flip at ${pos}`);
  }
  const variants: Record<string, Buffer> = {
    swapped: Buffer.concat([header, chunk(1), chunk(0), chunk(2), chunk(3)]),
    duplicated: Buffer.concat([header, chunk(0), chunk(0), chunk(1), chunk(2), chunk(3)]),
    dropped: Buffer.concat([header, chunk(0), chunk(2), chunk(3)]),
    appended: Buffer.concat([sealed, chunk(0)]),
    trailingByte: Buffer.concat([sealed, Buffer.from([0])]),
  };
  for (const [name, bad] of Object.entries(variants)) {
    await assert.rejects(decrypt(bad), UserError, name);
  }
});

test('a newer format version is refused with a clear message', async () => {
  const sealed = await encrypt(Buffer.from('x'));
  const newer = Buffer.from(sealed);
  newer[6] = 2;
  await assert.rejects(decrypt(newer), /version 2 of offsite's AES format.*reads version 1/);
  await assert.rejects(decrypt(newer.subarray(0, 8)), /version 2/);
});

/**
 * An independent decryptor written from docs/encryption.md alone (whole
 * buffer, no streaming): proves the document is precise enough.
 */
function decryptFromSpec(file: Buffer, key: Buffer): Buffer {
  assert.equal(file.subarray(0, 6).toString('latin1'), 'OFSAES');
  assert.equal(file[6], 1);
  const chunkSize = 2 ** file[7]!;
  const salt = file.subarray(8, 24);
  const okm = Buffer.from(hkdfSync('sha256', key, salt, Buffer.from('offsite-aes-256-gcm-v1'), 48));
  assert.deepEqual(okm.subarray(32, 48), file.subarray(24, 40));
  const aad = file.subarray(0, 40);
  const out: Buffer[] = [];
  let off = 40;
  for (let i = 0; ; i++) {
    const rest = file.length - off;
    const last = rest <= chunkSize + 16;
    const len = last ? rest : chunkSize + 16;
    const nonce = Buffer.alloc(12);
    nonce.writeUIntBE(i, 5, 6); // counter, big-endian, ending at byte 10
    nonce[11] = last ? 1 : 0;
    const d = createDecipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
    d.setAAD(aad);
    d.setAuthTag(file.subarray(off + len - 16, off + len));
    out.push(d.update(file.subarray(off, off + len - 16)), d.final());
    off += len;
    if (last) break;
  }
  return Buffer.concat(out);
}

test('docs/encryption.md describes the format exactly (independent decryptor)', async () => {
  for (const n of [0, CHUNK, 2 * CHUNK + 7]) {
    const plain = randomBytes(n);
    assert.deepEqual(decryptFromSpec(await encrypt(plain), KEY), plain);
  }
  // and the other way: a file built from the spec decrypts with offsite
  const salt = randomBytes(16);
  const okm = Buffer.from(hkdfSync('sha256', KEY, salt, Buffer.from('offsite-aes-256-gcm-v1'), 48));
  const header = Buffer.concat([Buffer.from('OFSAES'), Buffer.from([1, 12]), salt, okm.subarray(32, 48)]);
  const nonce = Buffer.alloc(12);
  nonce[11] = 1;
  const c = createCipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
  c.setAAD(header);
  const body = Buffer.concat([c.update('built from the spec'), c.final(), c.getAuthTag()]);
  assert.equal((await decrypt(Buffer.concat([header, body]))).toString(), 'built from the spec');
});
