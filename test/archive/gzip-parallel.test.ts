import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ParallelCodec, incompressible, zstdCompressBound } from '../../src/archive/gzip-parallel.ts';
import { OutputPool } from '../../src/archive/output-pool.ts';
import { ZstdFramesDecompress } from '../../src/archive/zstd.ts';
import { run, tempDir } from './helpers.ts';
import * as fs from 'node:fs';
import { join } from 'node:path';

/** Feeds `blocks` through the codec as the archive source does; returns the output and the release order. */
function compress(blocks: Buffer[], threads: number): Promise<{ out: Buffer; released: number[]; members: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const released: number[] = [];
    let next = 0;
    const codec = new ParallelCodec('gz', threads, {
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
  for (const threads of [1, 2, 4]) {
    const { out, released } = await compress(blocks, threads);
    assert.deepEqual(
      released,
      blocks.map((_, i) => i),
    );
    assert.ok(gunzipSync(out).equals(Buffer.concat(blocks)));
    const dir = tempDir();
    try {
      fs.writeFileSync(join(dir, 'x.gz'), out);
      const { stdout } = await run('sh', ['-c', `gzip -dc '${join(dir, 'x.gz')}' | sha256sum && gzip -t '${join(dir, 'x.gz')}'`]);
      assert.equal(stdout.split(' ')[0], createHash('sha256').update(Buffer.concat(blocks)).digest('hex'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('gzip: incompressible blocks are stored members, the rest deflated; every gunzip reads them', async () => {
  const text = (n: number) => Buffer.from('a line of a log file, compressible\n'.repeat(Math.ceil(n / 35))).subarray(0, n);
  const random = randomBytes(1 << 20);
  assert.equal(incompressible(random), true);
  assert.equal(incompressible(randomBytes(300 * 1024 + 3)), true);
  // too small to judge, text, or random with a tenth of text (deflate gains on those): deflated
  assert.equal(incompressible(randomBytes(60 * 1024)), false);
  assert.equal(incompressible(text(1 << 20)), false);
  assert.equal(incompressible(Buffer.concat([random.subarray(0, 900 * 1024), text(124 * 1024)])), false);
  assert.equal(incompressible(Buffer.alloc(1 << 20)), false);

  // a stored member: header, stored blocks (5 bytes each, at most 64 KiB of data), CRC-32 and size; any length
  const storedSize = (n: number) => 18 + n + 5 * (Math.ceil(n / 65535) + 1);
  for (const n of [65536, 131051, 131052, (1 << 20) + 7]) {
    const data = randomBytes(n);
    const { out: member } = await compress([data], 1);
    assert.ok(member.length >= 18 + n && member.length <= storedSize(n), `size ${n}: ${member.length}`);
    assert.ok(gunzipSync(member).equals(data), `gunzip ${n}`);
  }

  // through the codec, on one and two threads: random blocks come out stored (their
  // size), text deflated, in order, one stream for GNU gzip and Node's gunzip
  const blocks = [random, text(1 << 20), randomBytes(700 * 1024), text(5000), randomBytes(1 << 20)];
  for (const threads of [1, 2]) {
    const { out } = await compress(blocks, threads);
    assert.ok(gunzipSync(out).equals(Buffer.concat(blocks)));
    const stored = [0, 2, 4].reduce((sum, i) => sum + storedSize(blocks[i]!.length), 0);
    assert.ok(out.length > stored - 200 && out.length < stored + 30 * 1024, `${out.length} bytes: the random blocks stored, the text deflated`);
    const dir = tempDir();
    try {
      fs.writeFileSync(join(dir, 'x.gz'), out);
      const { stdout } = await run('sh', ['-c', `gzip -t '${join(dir, 'x.gz')}' && gzip -dc '${join(dir, 'x.gz')}' | sha256sum`]);
      assert.equal(stdout.split(' ')[0], createHash('sha256').update(Buffer.concat(blocks)).digest('hex'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('parallel gzip: never more blocks in flight than engines', async () => {
  const codec = new ParallelCodec('gz', 3, { data: () => {}, error: () => {}, ready: () => {} });
  let accepted = 0;
  while (codec.canWrite()) {
    codec.write(Buffer.alloc(1024), () => {});
    accepted++;
  }
  assert.equal(accepted, 3);
  assert.throws(() => codec.write(Buffer.alloc(1), () => {}), /busy/);
  codec.destroy();
});

/**
 * Feeds blocks through a zstd ParallelCodec (as the archive source does); returns the output and the release order.
 * With `pool`, each chunk is copied and reported written at once (as the local destination does), so pooled buffers are reused.
 */
function compressZstd(
  blocks: Buffer[],
  threads: number,
  pool: OutputPool | null = null,
  onCodec?: (codec: ParallelCodec) => void,
  maxBlock = Math.max(...blocks.map((b) => b.length)),
): Promise<{ out: Buffer; released: number[] }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const released: number[] = [];
    let next = 0;
    let size = 0;
    const data = (c: Buffer) => {
      chunks.push(pool ? Buffer.from(c) : c);
      size += c.length;
      pool?.written(size);
    };
    const codec: ParallelCodec = new ParallelCodec('zst', threads, { data, error: reject, ready: () => pump() }, pool, maxBlock);
    onCodec?.(codec);
    const pump = () => {
      while (next < blocks.length && codec.canWrite()) {
        const i = next++;
        codec.write(blocks[i]!, () => released.push(i));
      }
      if (next === blocks.length) codec.end(() => resolve({ out: Buffer.concat(chunks), released }));
    };
    pump();
  });
}

/** Decodes with offsite's frame-by-frame decoder, the input cut into pieces of the given sizes (cycled). */
async function framesDecode(data: Buffer, pieces: number[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = pieces[i % pieces.length]!;
    parts.push(data.subarray(off, off + n));
    off += n;
  }
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), new ZstdFramesDecompress(), async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  return Buffer.concat(out);
}

/** Blocks of every small size, around zstd's 128 KiB block limit and above 1 MiB; random, constant (RLE) and text. */
function zstdBlocks(): Buffer[] {
  const kinds = [
    (n: number) => randomBytes(n),
    (n: number) => Buffer.alloc(n, 'z'),
    (n: number) => Buffer.from('line of compressible text\n'.repeat(Math.ceil(n / 26))).subarray(0, n),
  ];
  const sizes = [...Array.from({ length: 40 }, (_, i) => i + 1), 511, 512, 513, 131071, 131072, 131073, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17];
  return sizes.map((n, i) => kinds[i % kinds.length]!(n));
}

test("zstd on 1 to 3 threads: one frame per block, in block order; the zstd CLI and offsite's frame decoder read them all", async () => {
  const blocks = zstdBlocks();
  const plain = Buffer.concat(blocks);
  // [threads, with the output pool (the engines' output slabs then rewound after each frame; the largest blocks here exceed a slab)]
  for (const [threads, pooled] of [
    [1, false],
    [2, false],
    [3, false],
    [1, true],
    [2, true],
  ] as const) {
    const { out, released } = await compressZstd(blocks, threads, pooled ? new OutputPool() : null, undefined, 1 << 20);
    assert.deepEqual(
      released,
      blocks.map((_, i) => i),
    );
    const dir = tempDir();
    try {
      const file = join(dir, 'x.zst');
      fs.writeFileSync(file, out);
      // the zstd CLI: integrity, content, and one frame per block
      await run('zstd', ['-q', '-t', file]);
      const { stdout } = await run('sh', ['-c', `zstd -dc '${file}' | sha256sum`]);
      assert.equal(stdout.split(' ')[0], createHash('sha256').update(plain).digest('hex'));
      const listed = (await run('zstd', ['-lv', file])).stdout;
      assert.match(listed, new RegExp(`Zstandard Frames: ${blocks.length}\\b`));
      assert.match(listed, /Check: XXH64/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // offsite's decoder: everything in one chunk (several frames per chunk), odd pieces, and frame-sized pieces
    assert.ok((await framesDecode(out, [out.length])).equals(plain), 'one chunk');
    assert.ok((await framesDecode(out, [1, 2, 3, 5, 7, 4096, 65536])).equals(plain), 'odd pieces');
  }
  // the small frames one byte at a time (every header field split across chunks)
  const small = blocks.slice(0, 45);
  const { out } = await compressZstd(small, 2);
  assert.ok((await framesDecode(out, [1])).equals(Buffer.concat(small)), 'byte by byte');
});

test('zstd with the output pool: a frame is one output chunk from the engine, into the same slab each time', async () => {
  // 512 KiB of random data makes a frame of ~512 KiB: with 64 KiB of output room that was 9 round trips between libzstd and the main thread
  const blocks = Array.from({ length: 6 }, (_, i) =>
    i % 2 ? randomBytes(512 << 10) : Buffer.from('text that compresses well\n'.repeat(20165)).subarray(0, 512 << 10),
  );
  for (const threads of [1, 2]) {
    let events = 0;
    const slabs = new Set<unknown>();
    const { out } = await compressZstd(blocks, threads, new OutputPool(), (codec) => {
      for (const e of (codec as unknown as { engines: { z: NodeJS.EventEmitter & { _outBuffer: unknown } }[] }).engines) {
        slabs.add(e.z._outBuffer);
        e.z.on('data', () => {
          events++;
          slabs.add(e.z._outBuffer);
        });
      }
    });
    assert.equal(events, blocks.length, `${threads} thread(s): one chunk per frame`);
    assert.equal(slabs.size, threads, `${threads} thread(s): one slab per engine, never replaced`);
    assert.ok((await framesDecode(out, [out.length])).equals(Buffer.concat(blocks)));
  }
  assert.equal(zstdCompressBound(512 << 10), 526336); // zstd.h's ZSTD_COMPRESSBOUND
  assert.equal(zstdCompressBound(1000), 1000 + 3 + 63);
});

test('parallel zstd: frames the zstd CLI wrote (several per chunk) decode whole; a cut stream fails', async () => {
  const blocks = zstdBlocks().slice(30);
  const cli = Buffer.concat(
    await Promise.all(
      blocks.map(async (b, i) => {
        const dir = tempDir();
        try {
          fs.writeFileSync(join(dir, 'b'), b);
          // alternate with and without checksum, as other writers may
          await run('zstd', ['-q', i % 2 ? '--no-check' : '--check', join(dir, 'b'), '-o', join(dir, 'b.zst')]);
          return fs.readFileSync(join(dir, 'b.zst'));
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
    ),
  );
  assert.ok((await framesDecode(cli, [cli.length])).equals(Buffer.concat(blocks)));
  await assert.rejects(framesDecode(cli.subarray(0, cli.length - 2), [cli.length]), /truncated/);
});

test('parallel zstd: never more blocks in flight than engines', async () => {
  const codec = new ParallelCodec('zst', 2, { data: () => {}, error: () => {}, ready: () => {} });
  let accepted = 0;
  while (codec.canWrite()) {
    codec.write(Buffer.alloc(1024), () => {});
    accepted++;
  }
  assert.equal(accepted, 2);
  assert.throws(() => codec.write(Buffer.alloc(1), () => {}), /busy/);
  codec.destroy();
});

test('zstd: a free engine takes the next block before the finished frame is emitted', async () => {
  // Emitting runs the consumer (SHA-256, the destination's stages) synchronously: the engine must not idle meanwhile.
  const text = Buffer.from('offsite keeps the engine busy while the output goes out\n'.repeat(4800));
  for (const compression of ['zst'] as const) {
    for (const threads of [1, 2]) {
      const blocks = Array.from({ length: 6 }, () => text);
      const idleEmits = await new Promise<number>((resolve, reject) => {
        let next = 0;
        let idle = 0;
        let ended = false;
        const codec: ParallelCodec = new ParallelCodec(compression, threads, {
          data: () => {
            if (next < blocks.length && codec.canWrite()) idle++;
          },
          error: reject,
          ready: () => pump(),
        });
        const pump = () => {
          while (next < blocks.length && codec.canWrite()) codec.write(blocks[next++]!, () => {});
          if (next === blocks.length && !ended) {
            ended = true;
            codec.end(() => resolve(idle));
          }
        };
        pump();
      });
      assert.equal(idleEmits, 0, `${compression} on ${threads} thread(s): output emitted while an engine idled with blocks waiting`);
    }
  }
});
