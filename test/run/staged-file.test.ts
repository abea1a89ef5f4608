// StagedFile's followers keep dead Buffers from piling up (in-process, no server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StagedFile } from '../../src/run/staged-file.ts';
import { garbageCollections } from '../../src/archive/create.ts';

const MiB = 1 << 20;

test('chunks a consumer held long enough to be promoted are freed as it reads on (a major GC when they pile up)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'offsite-staged-'));
  try {
    const file = await StagedFile.create(join(dir, 'staged'));
    const w = file.writable();
    const block = Buffer.alloc(MiB, 7);
    for (let i = 0; i < 96; i++) if (!w.write(block)) await new Promise((r) => w.once('drain', r));
    await new Promise<void>((r) => w.end(r));
    await file.complete();
    // the consumer keeps the last 8 MiB it read (as a socket or a pipe holds what it has not
    // sent yet): those chunks live through several young-generation GCs and are promoted
    const held: Buffer[] = [];
    let peak = 0;
    let total = 0;
    for await (const chunk of file.follow()) {
      held.push(chunk as Buffer);
      total += (chunk as Buffer).length;
      if (held.length > 32) held.shift();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    assert.equal(total, 96 * MiB);
    // 8 MiB held, 16 MiB of slack before a major GC, the stream's own buffers (25-30 MiB
    // measured); without the major GC V8 let dead chunks pile up first (41-49 MiB measured)
    assert.ok(peak < 36 * MiB, `peak of Buffer memory while reading: ${(peak / MiB).toFixed(1)} MiB`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('followers free young garbage at least every 2 MiB they read together (V8 starts major GCs by itself when Buffers pile up faster)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'offsite-staged-'));
  try {
    const file = await StagedFile.create(join(dir, 'staged'));
    const w = file.writable();
    const block = Buffer.alloc(MiB, 3);
    for (let i = 0; i < 8; i++) if (!w.write(block)) await new Promise((r) => w.once('drain', r));
    await new Promise<void>((r) => w.end(r));
    await file.complete();
    const before = garbageCollections('minor');
    let total = 0;
    // two followers, as with two destinations: 16 MiB read in all
    await Promise.all(
      [file.follow(), file.follow()].map(async (s) => {
        for await (const chunk of s) total += (chunk as Buffer).length;
      }),
    );
    assert.equal(total, 16 * MiB);
    const minors = garbageCollections('minor') - before;
    assert.ok(minors >= 7, `young GCs while 16 MiB were read: ${minors}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a follower reads into the buffers its consumer reported as no longer held, and only into those', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'offsite-staged-'));
  try {
    const file = await StagedFile.create(join(dir, 'staged'));
    const w = file.writable();
    const data = Buffer.alloc(8 * MiB);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    for (let i = 0; i < data.length; i += MiB) if (!w.write(data.subarray(i, i + MiB))) await new Promise((r) => w.once('drain', r));
    await new Promise<void>((r) => w.end(r));
    await file.complete();

    // not reported: every chunk keeps its own buffer (and its bytes)
    const kept: Buffer[] = [];
    for await (const chunk of file.follow()) kept.push(chunk as Buffer);
    assert.equal(new Set(kept.map((c) => c.buffer)).size, kept.length, 'buffers reused without a report');
    assert.ok(Buffer.concat(kept).equals(data), 'content without reports');

    // reported after each chunk is copied: the same few buffers come back, and every chunk is right
    const follower = file.follow();
    const copy: Buffer[] = [];
    const seen = new Set<ArrayBufferLike>();
    let taken = 0;
    // the chunk ending at 4 MiB is held (reports stop at its start) until 6 MiB are read: its bytes must stay
    let held: { chunk: Buffer; bytes: Buffer; start: number } | null = null;
    for await (const c of follower) {
      const chunk = c as Buffer;
      seen.add(chunk.buffer);
      copy.push(Buffer.from(chunk));
      taken += chunk.length;
      if (taken === 4 * MiB) held = { chunk, bytes: Buffer.from(chunk), start: taken - chunk.length };
      if (held) assert.ok(held.chunk.equals(held.bytes), `a held chunk was read into again (at ${taken})`);
      if (held && taken >= 6 * MiB) held = null;
      follower.written(held ? held.start : taken);
    }
    assert.ok(Buffer.concat(copy).equals(data), 'content with reports');
    assert.ok(seen.size < copy.length / 2, `buffers used for ${copy.length} chunks: ${seen.size}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
