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

test('followers free young garbage at least every MiB they read together (V8 starts major GCs by itself when Buffers pile up faster)', async () => {
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
    assert.ok(minors >= 15, `young GCs while 16 MiB were read: ${minors}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
