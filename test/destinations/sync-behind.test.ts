import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { mkdtemp, readFile, rm, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { earlySyncs, syncBehind, SYNC_BEHIND_BYTES } from '../../src/destinations/sync-behind.ts';
import { createLocalDestination } from '../../src/destinations/local.ts';
import { silentLogger } from '../../src/log.ts';

const chunks = (n: number, size: number) => Array.from({ length: n }, (_, i) => Buffer.alloc(size, i));

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'offsite-syncbehind-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('sync-behind: fdatasync every N bytes written, one at a time, the file intact', () =>
  withDir(async (dir) => {
    const calls: number[] = [];
    let inFlight = 0;
    let most = 0;
    const slowSync = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      calls.push(fd);
      inFlight++;
      most = Math.max(most, inFlight);
      fs.fdatasync(fd, (err) => setTimeout(() => (inFlight--, cb(err)), 5));
    };
    const sb = syncBehind({ every: 64 << 10, sync: slowSync });
    const path = join(dir, 'a');
    const data = chunks(4, 64 << 10);
    // each chunk is written (and its early sync has ended) before the next comes
    async function* paced() {
      for (let i = 0; i < data.length; i++) {
        yield data[i]!;
        for (let t = 0; t < 2000 && (sb.syncs < i + 1 || inFlight > 0); t++) await new Promise((r) => setTimeout(r, 2));
      }
    }
    await pipeline(Readable.from(paced()), fs.createWriteStream(path, { flush: true, fs: sb }));
    assert.equal(sb.syncs, 4, 'one early sync per 64 KiB written');
    assert.equal(calls.length, sb.syncs);
    assert.equal(most, 1);
    assert.equal(inFlight, 0, 'the stream closed after the early sync ended');
    assert.deepEqual(await readFile(path), Buffer.concat(data));
  }));

test('sync-behind: an early sync error fails the final fsync (Linux reports it to one fsync only)', () =>
  withDir(async (dir) => {
    const failing = (_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) =>
      setImmediate(() => cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
    const sb = syncBehind({ every: 64 << 10, sync: failing });
    await assert.rejects(
      pipeline(Readable.from(chunks(16, 16 << 10)), fs.createWriteStream(join(dir, 'a'), { flush: true, fs: sb })),
      (err: NodeJS.ErrnoException) => err.code === 'EIO',
    );
    assert.equal(sb.syncs, 1, 'no more early syncs after a failure');
  }));

test('sync-behind: a file system that cannot sync ends the early syncs; the final fsync decides as before', () =>
  withDir(async (dir) => {
    const unsupported = (_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) =>
      setImmediate(() => cb(Object.assign(new Error('EINVAL: invalid argument, fdatasync'), { code: 'EINVAL' })));
    const sb = syncBehind({ every: 64 << 10, sync: unsupported });
    const data = chunks(16, 16 << 10);
    await pipeline(Readable.from(data), fs.createWriteStream(join(dir, 'a'), { flush: true, fs: sb }));
    assert.equal(sb.syncs, 1);
    assert.deepEqual(await readFile(join(dir, 'a')), Buffer.concat(data));
  }));

test('Local: an upload larger than SYNC_BEHIND_BYTES is synced while it is written', () =>
  withDir(async (dir) => {
    const dest = join(dir, 'archive');
    await mkdir(dest);
    const d = createLocalDestination({ dir: dest, latestSymlink: null }, silentLogger());
    const before = earlySyncs();
    const data = chunks(Math.ceil((SYNC_BEHIND_BYTES * 1.5) / (1 << 20)), 1 << 20);
    await d.upload('backup.tar', Readable.from(data));
    assert.ok(earlySyncs() > before, 'an early sync ran');
    assert.deepEqual(await readdir(dest), ['backup.tar']);
    assert.deepEqual(await readFile(join(dest, 'backup.tar')), Buffer.concat(data));
  }));
