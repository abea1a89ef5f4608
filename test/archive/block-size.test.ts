import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { archiveBlockSize, ringSlots, garbageCollections, GC_EVERY_BYTES, PROMOTED_GC_GROWTH, createArchive } from '../../src/archive/create.ts';
import { LOCAL_WRITE_BUFFER } from '../../src/destinations/local.ts';
import { silentLogger } from '../../src/log.ts';

// Without compression the worker's ring uses 256 KiB blocks (memory); with compression
// each block is a gzip member (1 MiB) or a zstd frame (512 KiB: zstd's context is sized
// for its frame, so smaller frames hold less memory per engine, at +0.15 % of output).
test('the archive worker uses 256 KiB blocks without compression, 1 MiB gzip members, 512 KiB zstd frames', () => {
  assert.equal(archiveBlockSize('none'), 256 << 10);
  assert.equal(archiveBlockSize('gz'), 1 << 20);
  assert.equal(archiveBlockSize('zst'), 512 << 10);
});

test('the ring has one slot per compression engine, one being filled and two queued', () => {
  assert.equal(ringSlots('gz', 1), 4);
  assert.equal(ringSlots('zst', 1), 4);
  assert.equal(ringSlots('gz', 3), 6);
  assert.equal(ringSlots('none', 1), 5);
  assert.equal(ringSlots('none', 4), 5);
});

// A minor GC per 2 MiB of output, whatever the compression: 12 MiB of random data is stored
// by gz (output ~ input), so it makes ~6 collections; one per 8 blocks made 1.
test('the archive collects garbage per output bytes, not per block', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-gc-'));
  try {
    writeFileSync(join(dir, 'random.bin'), randomBytes(12 << 20));
    const before = garbageCollections();
    const a = createArchive({ sources: [dir], exclude: null, compression: 'gz', parallelism: 1, log: silentLogger() });
    let out = 0;
    for await (const chunk of a.stream) out += (chunk as Buffer).length;
    await a.done;
    const n = garbageCollections() - before;
    assert.ok(out > 12 << 20, `stored, not deflated (${out} bytes)`);
    assert.ok(n >= Math.floor(out / GC_EVERY_BYTES) - 1 && n <= Math.ceil(out / GC_EVERY_BYTES), `${n} collections for ${out} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// An archive written only to local files (collectPromoted) gets a major GC when the Buffers
// outside V8's heap grew PROMOTED_GC_GROWTH since the last one; others never get one from the
// archive (uploads hold Buffers in sockets: it would run far more often, b88b54a). Here the
// consumer keeps every chunk, so the external memory grows by the whole output.
test('an archive for local files only collects promoted Buffers (a major GC per PROMOTED_GC_GROWTH of growth), others do not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-gc-'));
  try {
    writeFileSync(join(dir, 'random.bin'), randomBytes(PROMOTED_GC_GROWTH + (8 << 20)));
    const majors = async (collectPromoted: boolean) => {
      const before = garbageCollections('major');
      const a = createArchive({ sources: [dir], exclude: null, compression: 'zst', parallelism: 2, log: silentLogger(), collectPromoted });
      const kept: Buffer[] = [];
      for await (const chunk of a.stream) kept.push(chunk as Buffer);
      await a.done;
      assert.ok(kept.reduce((n, c) => n + c.length, 0) > PROMOTED_GC_GROWTH + (4 << 20));
      return garbageCollections('major') - before;
    };
    assert.equal(await majors(false), 0);
    assert.ok((await majors(true)) >= 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a local upload buffers 256 KiB in its file stream', () => {
  assert.equal(LOCAL_WRITE_BUFFER, 256 << 10);
});
