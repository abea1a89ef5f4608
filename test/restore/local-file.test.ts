/**
 * A backup on the local destination is read by restore, verify and ls themselves
 * (archive/decode.ts ArchiveFile): a gzip archive through a few reused buffers, any
 * other format as a stream; hashed as it is read when a sidecar exists; every open and
 * read under the destination's stall bound.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync, constants as fsConstants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { extractArchive, verifyArchiveStream } from '../../src/archive/extract.ts';
import { ArchiveFile } from '../../src/archive/decode.ts';
import { createLocalDestination } from '../../src/destinations/local.ts';
import { silentLogger } from '../../src/log.ts';
import { checkedSource } from '../../src/restore/integrity.ts';
import type { Sidecar } from '../../src/manifest/index.ts';
import { buildTar, listAll } from './build.ts';

let base: string;
let store: string;
let tarBytes: Buffer;
let tgz: Buffer;
const files = new Map<string, Buffer>();

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'offsite-local-file-'));
  store = join(base, 'store');
  mkdirSync(store);
  // random content (gzip cannot shrink it): the compressed archive spans several of the
  // reader's 1 MiB buffers, so each is read into again while gunzip works on the next
  for (let i = 0; i < 5; i++) files.set(`d/big-${i}`, randomBytes((1 << 20) + 4099 * i));
  for (let i = 0; i < 300; i++) files.set(`d/small/${i}`, randomBytes(i * 37));
  tarBytes = await buildTar([{ name: 'd/', type: 'directory' }, ...[...files].map(([name, content]) => ({ name, content }))]);
  tgz = gzipSync(tarBytes, { level: 1 });
});
after(() => rmSync(base, { recursive: true, force: true }));

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sidecarOf = (b: Buffer, sha = sha256(b)) => ({ archive: { name: 'x', size: b.length, sha256: sha } }) as unknown as Sidecar;
const local = () => createLocalDestination({ dir: store, latestSymlink: null }, silentLogger(), { timeoutMs: 5000 });

let n = 0;
function restoredMatches(target: string): void {
  for (const [name, content] of files) assert.ok(readFileSync(join(target, name)).equals(content), name);
  assert.equal(listAll(target).filter((p) => !p.endsWith('/') && files.has(p)).length, files.size);
}

for (const [format, encode] of [
  ['gz', () => tgz],
  ['zst', (b: Buffer) => zstdCompressSync(b)],
  ['tar', (b: Buffer) => b],
] as const) {
  test(`a local ${format} archive is restored from the file, hashed as it is read`, async () => {
    const archive = encode(tarBytes);
    const name = `b-${format}`;
    writeFileSync(join(store, name), archive);
    const src = await checkedSource(local(), name, sidecarOf(archive));
    assert.ok(src.input instanceof ArchiveFile, 'the local file is read directly');
    const target = join(base, `out-${++n}`);
    const r = await extractArchive(src.input, {
      target,
      beforeCommit: async () => assert.equal(await src.check(), `SHA-256 ${sha256(archive)} and size ${archive.length} match the manifest`),
    });
    assert.equal(r.compression, format === 'tar' ? 'none' : format);
    restoredMatches(target);

    // the same archive against a sidecar of other bytes: refused before anything is moved into the target
    const bad = await checkedSource(local(), name, sidecarOf(archive, '0'.repeat(64)));
    const badTarget = join(base, `out-${++n}`);
    await assert.rejects(extractArchive(bad.input, { target: badTarget, beforeCommit: async () => void (await bad.check()) }), /does not match its manifest/);
    assert.deepEqual(listAll(badTarget), []);

    // without a sidecar nothing is hashed or reported
    const plain = await checkedSource(local(), name, null);
    assert.equal((await verifyArchiveStream(plain.input)).files, files.size);
    assert.equal(await plain.check(), null);
  });
}

test('a local gzip archive of several members (as concatenated .gz files are) is read across the boundary', async () => {
  // the boundary falls inside one of the reader's 1 MiB reads
  const cut = (1 << 20) + 12345;
  const archive = Buffer.concat([gzipSync(tarBytes.subarray(0, cut), { level: 1 }), gzipSync(tarBytes.subarray(cut), { level: 1 })]);
  writeFileSync(join(store, 'members'), archive);
  const src = await checkedSource(local(), 'members', sidecarOf(archive));
  const target = join(base, `out-${++n}`);
  await extractArchive(src.input, { target, beforeCommit: async () => void (await src.check()) });
  restoredMatches(target);
});

test('a damaged local gzip archive fails the restore, and drain hashes the whole file', async () => {
  const archive = Buffer.from(tgz);
  archive.fill(0x5a, archive.length >> 1, (archive.length >> 1) + 64);
  writeFileSync(join(store, 'damaged'), archive);
  const src = await checkedSource(local(), 'damaged', sidecarOf(tgz));
  const target = join(base, `out-${++n}`);
  await assert.rejects(extractArchive(src.input, { target }), /gzip data is corrupted/);
  assert.deepEqual(listAll(target), []);
  assert.deepEqual(await src.drain(), { sha256: sha256(archive), size: archive.length });
});

test('an empty local file is refused as an empty archive', async () => {
  writeFileSync(join(store, 'empty'), '');
  const src = await checkedSource(local(), 'empty', sidecarOf(Buffer.alloc(0)));
  await assert.rejects(verifyArchiveStream(src.input), /the archive is empty \(0 bytes\)/);
  assert.deepEqual(await src.drain(), { sha256: sha256(Buffer.alloc(0)), size: 0 });
});

test('bytes after the gzip data: the file is read to its end and hashed as the stream was', async () => {
  const archive = Buffer.concat([tgz, randomBytes(3 << 20)]);
  writeFileSync(join(store, 'trailing'), archive);
  const viaStream = await verifyArchiveStream(Readable.from([archive])).then(
    (r) => r.files,
    (e: Error) => e.message,
  );
  const src = await checkedSource(local(), 'trailing', sidecarOf(archive));
  const viaFile = await verifyArchiveStream(src.input).then(
    (r) => r.files,
    (e: Error) => e.message,
  );
  assert.equal(viaFile, viaStream);
  assert.deepEqual(await src.drain(), { sha256: sha256(archive), size: archive.length });
});

test('a read or an open that makes no progress fails with the destination stall error', { skip: process.platform !== 'linux' }, async () => {
  const fifo = join(base, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const stalled = (what: string) => ({ path: fifo, timeoutMs: 300, timeoutError: () => new Error(`${what} timed out`) });
  // no writer: the open itself blocks
  const t0 = Date.now();
  await assert.rejects(new ArchiveFile(stalled('open')).decode(), /open timed out/);
  assert.ok(Date.now() - t0 < 3000);
  // a writer that never writes: the read blocks
  const fd = openSync(fifo, fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
  try {
    await assert.rejects(new ArchiveFile(stalled('read')).decode(), /read timed out/);
  } finally {
    // the abandoned open returned when this writer came; closing it ends the abandoned read (EOF)
    closeSync(fd);
  }
});
