import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveBlockSize } from '../../src/archive/create.ts';

// Where a block is not a gzip member or zstd frame of its own, the worker's ring uses
// 256 KiB blocks (memory); where it is, blocks stay 1 MiB (the compression ratio and
// the frame/member count other tests and readers see).
test('the archive worker uses 256 KiB blocks unless each block is a member or frame', () => {
  assert.equal(archiveBlockSize('none', 1), 256 << 10);
  assert.equal(archiveBlockSize('none', 4), 256 << 10);
  assert.equal(archiveBlockSize('gz', 1), 256 << 10);
  assert.equal(archiveBlockSize('gz', 2), 1 << 20);
  assert.equal(archiveBlockSize('zst', 1), 1 << 20);
  assert.equal(archiveBlockSize('zst', 3), 1 << 20);
});
