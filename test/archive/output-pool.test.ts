import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OutputPool, POOL_BUFFER } from '../../src/archive/output-pool.ts';
import { createArchive, type ArchiveStream } from '../../src/archive/index.ts';
import { createLocalDestination } from '../../src/destinations/local.ts';
import { shipArchive } from '../../src/run/upload.ts';
import { silentLogger } from '../../src/log.ts';
import { buildTree, options, tempDir } from './helpers.ts';

let root: string;
let sources: string[];
before(() => {
  root = tempDir();
  sources = buildTree(join(root, 'src'));
  // enough output for buffers to come back many times
  fs.writeFileSync(join(sources[0]!, 'big', 'more.bin'), randomBytes(12 << 20));
});

/** The counts the archive's consumer reports (ArchiveStream.written), passed on to the archive. */
function recordWritten(a: ArchiveStream): number[] {
  const reported: number[] = [];
  const written = a.written!;
  a.written = (n) => {
    reported.push(n);
    written(n);
  };
  return reported;
}

/** Several reports, never going back. */
function assertGrowing(reported: number[]): void {
  assert.ok(reported.length > 1);
  assert.deepEqual(
    reported,
    [...reported].sort((x, y) => x - y),
  );
}

function decode(compression: 'none' | 'gz' | 'zst', bytes: Buffer): Buffer {
  return compression === 'gz' ? gunzipSync(bytes) : compression === 'zst' ? zstdDecompressSync(bytes) : bytes;
}
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('output pool: a buffer is handed out again only once the consumer wrote every byte of it', () => {
  const pool = new OutputPool();
  const a = pool.take();
  const b = pool.take();
  assert.equal(a.length, POOL_BUFFER);
  assert.notEqual(a, b);
  pool.emit(a, POOL_BUFFER);
  pool.emit(b, 100);
  pool.written(POOL_BUFFER - 1); // a is not written whole yet
  const c = pool.take();
  assert.ok(c !== a && c !== b);
  assert.equal(pool.allocated, 3);
  pool.written(POOL_BUFFER + 99); // a is free; b lacks its last byte
  assert.equal(pool.take(), a);
  assert.ok(pool.take() !== b);
  pool.written(POOL_BUFFER + 100);
  assert.equal(pool.take(), b);
  // a consumer that never reports: nothing is reused
  const silent = new OutputPool();
  for (let i = 0; i < 300; i++) silent.emit(silent.take(), 10);
  assert.equal(silent.allocated, 300);
});

/**
 * The archive's bytes as received by a consumer that holds on to the chunks (not copies) for a
 * while before "writing" them, and reports them written only then: a buffer reused too early
 * would show up as wrong bytes here.
 */
async function slowConsumer(compression: 'none' | 'gz' | 'zst', parallelism: number) {
  const a = createArchive(options(sources, { compression, parallelism, recycleOutput: true }));
  assert.equal(typeof a.written, 'function');
  const out: Buffer[] = [];
  const buffers = new Set<ArrayBuffer>();
  let chunks = 0;
  let total = 0;
  const held: Buffer[] = [];
  const flush = () => {
    for (const c of held.splice(0)) {
      out.push(Buffer.from(c)); // the bytes as they are now
      total += c.length;
    }
    a.written!(total);
  };
  await pipeline(
    a.stream,
    new Writable({
      highWaterMark: 256 << 10,
      write(chunk: Buffer, _enc, cb) {
        chunks++;
        buffers.add(chunk.buffer as ArrayBuffer);
        held.push(chunk);
        // "written" a little later, a few chunks at a time
        if (held.length >= 3) setTimeout(() => (flush(), cb()), 1);
        else cb();
      },
      final(cb) {
        flush();
        cb();
      },
    }),
  );
  const result = await a.done;
  return { bytes: Buffer.concat(out), result, chunks, buffers: buffers.size };
}

for (const [compression, parallelism] of [
  ['none', 1],
  ['gz', 1],
  ['gz', 2],
  ['zst', 2],
] as const) {
  test(`${compression} on ${parallelism} thread(s) with reused output buffers: the same bytes as without, and buffers are reused`, async () => {
    const pooled = await slowConsumer(compression, parallelism);
    const plain = createArchive(options(sources, { compression, parallelism }));
    assert.equal(plain.written, undefined);
    const parts: Buffer[] = [];
    await pipeline(plain.stream, async function* (src) {
      for await (const c of src) parts.push(c as Buffer);
    });
    await plain.done;
    const plainBytes = Buffer.concat(parts);
    if (parallelism === 1) assert.ok(pooled.bytes.equals(plainBytes), 'the archive differs with reused buffers');
    // on two threads, which engine takes a block depends on timing, and a stored gzip member's block sizes on its engine's output buffer
    else assert.ok(decode(compression, pooled.bytes).equals(decode(compression, plainBytes)), 'the tar differs with reused buffers');
    // what was hashed as it passed is what the consumer copied later: no buffer was refilled before it was written
    assert.equal(pooled.result.sha256, createHash('sha256').update(pooled.bytes).digest('hex'));
    assert.equal(pooled.result.size, pooled.bytes.length);
    assert.ok(pooled.buffers < pooled.chunks / 2, `${pooled.chunks} chunks in ${pooled.buffers} buffers`);
  });
}

test('with encryption the output is not pooled (the consumer does not see the codec bytes)', async () => {
  const { PassThrough } = await import('node:stream');
  const a = createArchive(options(sources, { compression: 'gz', recycleOutput: true, encrypt: () => new PassThrough() }));
  assert.equal(a.written, undefined);
  a.stream.resume();
  await a.done;
});

test('a single local destination reports its file writes to the archive, up to the whole file', async () => {
  const dir = join(root, 'dest');
  fs.mkdirSync(dir);
  const a = createArchive(options(sources, { compression: 'zst', parallelism: 2, recycleOutput: true }));
  const reported = recordWritten(a);
  const log = silentLogger();
  const shipped = await shipArchive({
    destinations: [createLocalDestination({ dir, latestSymlink: null }, log)],
    name: 'b.tar.zst',
    archive: a,
    tmpDir: root,
    log,
  });
  assert.equal(shipped.results[0]!.ok, true);
  const file = fs.readFileSync(join(dir, 'b.tar.zst'));
  assert.equal(createHash('sha256').update(file).digest('hex'), shipped.archive!.sha256);
  assertGrowing(reported);
  assert.equal(reported.at(-1), file.length);
});

test('a staged archive (several destinations) is reported by its file writes, and every destination gets the same bytes', async () => {
  const dirs = [join(root, 'staged-1'), join(root, 'staged-2')];
  for (const d of dirs) fs.mkdirSync(d);
  const a = createArchive(options(sources, { compression: 'none', recycleOutput: true }));
  const reported = recordWritten(a);
  const log = silentLogger();
  const shipped = await shipArchive({
    destinations: dirs.map((dir) => createLocalDestination({ dir, latestSymlink: null }, log)),
    name: 'b.tar',
    archive: a,
    tmpDir: root,
    log,
  });
  assert.deepEqual(
    shipped.results.map((r) => r.ok),
    [true, true],
  );
  for (const dir of dirs) {
    const file = fs.readFileSync(join(dir, 'b.tar'));
    assert.equal(createHash('sha256').update(file).digest('hex'), shipped.archive!.sha256, `${dir}: content`);
    assert.equal(reported.at(-1), file.length);
  }
  assertGrowing(reported);
});
