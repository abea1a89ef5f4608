import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveBlockSize, ringSlots } from '../../src/archive/create.ts';

// Without compression the worker's ring uses 256 KiB blocks (memory); with compression
// each block is a gzip member or zstd frame and stays 1 MiB (the compression ratio and
// the member/frame count other tests and readers see).
test('the archive worker uses 256 KiB blocks without compression, 1 MiB members / frames with it', () => {
  assert.equal(archiveBlockSize('none'), 256 << 10);
  assert.equal(archiveBlockSize('gz'), 1 << 20);
  assert.equal(archiveBlockSize('zst'), 1 << 20);
});

test('the ring has one slot per compression engine, one being filled and two queued', () => {
  assert.equal(ringSlots('gz', 1), 4);
  assert.equal(ringSlots('zst', 1), 4);
  assert.equal(ringSlots('gz', 3), 6);
  assert.equal(ringSlots('none', 1), 5);
  assert.equal(ringSlots('none', 4), 5);
});
