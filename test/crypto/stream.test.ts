/**
 * Memory stays bounded: 200 MiB go through encryption and decryption of each
 * method in one pipeline, and the process never holds more than a fraction of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gpgEncryptor, gpgDecryptor } from '../../src/crypto/gpg.ts';
import { ageEncryptor, ageDecryptor } from '../../src/crypto/age.ts';
import { aesEncryptor, aesDecryptor } from '../../src/crypto/aes.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOTAL = 200 * 1024 * 1024;
const LIMIT = 128 * 1024 * 1024;

/** 200 MiB of pseudo-random (incompressible, position-dependent) data, made on demand. */
function source(onBlock: () => void): Readable {
  let sent = 0;
  let block = 0;
  return new Readable({
    highWaterMark: 1 << 16,
    read() {
      if (sent >= TOTAL) {
        this.push(null);
        return;
      }
      onBlock();
      const b = Buffer.alloc(1 << 16);
      b.writeUInt32BE(block++, 0);
      createHash('sha512').update(b.subarray(0, 4)).digest().copy(b, 4);
      sent += b.length;
      this.push(b);
    },
  });
}

const methods = {
  gpg: [() => gpgEncryptor({ passphrase: 'stream-pass' }), () => gpgDecryptor({ passphrase: 'stream-pass' })],
  age: [() => ageEncryptor({ passphrase: 'stream-pass', scryptLogN: 12 }), () => ageDecryptor({ passphrase: 'stream-pass' })],
  aes: [() => aesEncryptor(Buffer.alloc(32, 3)), () => aesDecryptor(Buffer.alloc(32, 3))],
} as const;

for (const [name, [enc, dec]] of Object.entries(methods)) {
  test(`${name}: 200 MiB encrypt+decrypt in bounded memory`, async (t) => {
    gc();
    const base = process.memoryUsage();
    let peakExternal = 0;
    let peakRss = 0;
    // sampled as the source is read (a pipeline without I/O may never let a timer run)
    let blocks = 0;
    const sample = () => {
      if (blocks++ % 64 !== 0) return;
      gc(); // count what is held, not garbage waiting for collection
      const m = process.memoryUsage();
      peakExternal = Math.max(peakExternal, m.arrayBuffers - base.arrayBuffers);
      peakRss = Math.max(peakRss, m.rss - base.rss);
    };
    const hIn = createHash('sha256');
    const hOut = createHash('sha256');
    let n = 0;
    try {
      await pipeline(
        source(sample),
        async function* (s) {
          for await (const c of s) {
            hIn.update(c as Buffer);
            yield c;
          }
        },
        enc(),
        dec(),
        async function (s) {
          for await (const c of s) {
            hOut.update(c as Buffer);
            n += (c as Buffer).length;
          }
        },
      );
    } finally {
      sample();
    }
    assert.equal(n, TOTAL);
    assert.equal(hOut.digest('hex'), hIn.digest('hex'));
    // holding the stream would take >= 200 MiB; a bounded pipeline holds a few MiB plus garbage not yet collected
    assert.ok(peakExternal < LIMIT, `${name}: Buffer memory grew by ${(peakExternal / 1048576).toFixed(0)} MiB`);
    t.diagnostic(`${name}: peak growth rss ${(peakRss / 1048576).toFixed(0)} MiB, buffers ${(peakExternal / 1048576).toFixed(0)} MiB`);
  });
}
