import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { ParallelGzipCodec } from '../../src/archive/gzip-parallel.ts';
import { run, tempDir } from './helpers.ts';
import * as fs from 'node:fs';
import { join } from 'node:path';

/** Feeds `blocks` through the codec as the archive source does; returns the output and the release order. */
function compress(blocks: Buffer[], threads: number): Promise<{ out: Buffer; released: number[]; members: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const released: number[] = [];
    let next = 0;
    const codec: ParallelGzipCodec = new ParallelGzipCodec(threads, {
      data: (c) => chunks.push(c),
      error: reject,
      ready: () => pump(),
    });
    const pump = () => {
      while (next < blocks.length && codec.canWrite()) {
        const i = next++;
        codec.write(blocks[i]!, () => released.push(i));
      }
      if (next === blocks.length) codec.end(() => resolve({ out: Buffer.concat(chunks), released, members: blocks.length }));
    };
    pump();
  });
}

test('parallel gzip: members in block order, released in order, one gzip stream for gunzip', async () => {
  // mixed compressibility, so members finish out of order
  const blocks = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? randomBytes(256 * 1024 + i) : Buffer.alloc(300 * 1024 - i, String(i))));
  for (const threads of [2, 4]) {
    const { out, released } = await compress(blocks, threads);
    assert.deepEqual(released, blocks.map((_, i) => i));
    assert.ok(gunzipSync(out).equals(Buffer.concat(blocks)));
    const dir = tempDir();
    try {
      fs.writeFileSync(join(dir, 'x.gz'), out);
      const { stdout } = await run('sh', ['-c', `gzip -dc '${join(dir, 'x.gz')}' | sha256sum && gzip -t '${join(dir, 'x.gz')}'`]);
      const { createHash } = await import('node:crypto');
      assert.equal(stdout.split(' ')[0], createHash('sha256').update(Buffer.concat(blocks)).digest('hex'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('parallel gzip: never more blocks in flight than engines', async () => {
  const codec = new ParallelGzipCodec(3, { data: () => {}, error: () => {}, ready: () => {} });
  let accepted = 0;
  while (codec.canWrite()) { codec.write(Buffer.alloc(1024), () => {}); accepted++; }
  assert.equal(accepted, 3);
  assert.throws(() => codec.write(Buffer.alloc(1), () => {}), /busy/);
  codec.destroy();
});

