import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveBlockSize } from '../../src/archive/create.ts';

// Without compression the worker's ring uses 256 KiB blocks (memory); with compression
// each block is a gzip member or zstd frame and stays 1 MiB (the compression ratio and
// the member/frame count other tests and readers see).
test('the archive worker uses 256 KiB blocks without compression, 1 MiB members / frames with it', () => {
  assert.equal(archiveBlockSize('none'), 256 << 10);
  assert.equal(archiveBlockSize('gz'), 1 << 20);
  assert.equal(archiveBlockSize('zst'), 1 << 20);
});
