import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeBehind } from '../../src/destinations/write-behind.ts';

const KiB = 1 << 10;
const chunks = () => Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * KiB, i)); // 4 MiB

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'offsite-wb-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'the file is synced in the background while it is written, and close waits for a sync in flight',
  withDir(async (dir) => {
    const events: string[] = [];
    let written = 0;
    const wb = writeBehind(512 * KiB, (fd, cb) => {
      events.push(`sync at ${written}`);
      // slow, so that the stream's end and close arrive while it runs
      fs.fdatasync(fd, (err) => setTimeout(() => (events.push('synced'), cb(err)), 30));
    });
    const path = join(dir, 'f');
    const file = fs.createWriteStream(path, { flags: 'wx', flush: true, highWaterMark: 256 * KiB, fs: wb.fs });
    const data = chunks();
    const counted = Readable.from(data).map((c: Buffer) => ((written += c.length), c));
    file.once('close', () => events.push('close'));
    await pipeline(counted, file);
    assert.ok(wb.syncs() >= 1, `syncs: ${wb.syncs()}`);
    // the first syncs started before the last bytes were handed to the file
    assert.ok(events[0]!.startsWith('sync at') && Number(events[0]!.slice(8)) < 4 << 20, events.join(', '));
    assert.equal(events.at(-1), 'close', events.join(', '));
    assert.equal(events.filter((e) => e === 'synced').length, wb.syncs(), 'every sync ended before close');
    assert.ok(readFileSync(path).equals(Buffer.concat(data)));
  }),
);

test(
  'a failed background sync fails the stream with its error',
  withDir(async (dir) => {
    const wb = writeBehind(256 * KiB, (_fd, cb) => setImmediate(() => cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))));
    const file = fs.createWriteStream(join(dir, 'f'), { flags: 'wx', flush: true, highWaterMark: 64 * KiB, fs: wb.fs });
    await assert.rejects(pipeline(Readable.from(chunks()), file), (err: NodeJS.ErrnoException) => err.code === 'EIO');
    assert.equal(wb.syncs(), 1);
  }),
);

test(
  'a failed sync of the last bytes fails the final fsync',
  withDir(async (dir) => {
    const wb = writeBehind(4 << 20, (_fd, cb) => setTimeout(() => cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })), 20));
    const file = fs.createWriteStream(join(dir, 'f'), { flags: 'wx', flush: true, highWaterMark: 64 * KiB, fs: wb.fs });
    await assert.rejects(pipeline(Readable.from(chunks()), file), (err: NodeJS.ErrnoException) => err.code === 'EIO');
  }),
);
