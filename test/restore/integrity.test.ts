/**
 * A download is checked against its sidecar (size and SHA-256) only when there is one;
 * without one the consumer reads the download itself, unhashed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { checkedDownload } from '../../src/restore/integrity.ts';
import type { Sidecar } from '../../src/manifest/index.ts';

const body = randomBytes(3 << 20).toString('hex');
const sha = createHash('sha256').update(body).digest('hex');
const sidecarOf = (sha256: string, size = Buffer.byteLength(body)) => ({ archive: { name: 'b.tar', size, sha256 } }) as unknown as Sidecar;

test('without a sidecar the download is handed over as it is, and nothing is hashed or reported', async () => {
  const src = Readable.from([Buffer.from(body)]);
  const d = checkedDownload(src, null, 'b.tar');
  assert.equal(d.stream, src, 'no hashing stream in between');
  assert.equal(await text(d.stream), body);
  assert.equal(await d.check(), null);
  assert.equal(await d.drain(), null);
});

test('with a sidecar the bytes pass unchanged and their size and SHA-256 are checked', async () => {
  const ok = checkedDownload(Readable.from([Buffer.from(body)]), sidecarOf(sha), 'b.tar');
  assert.equal(await text(ok.stream), body);
  assert.equal(await ok.check(), `SHA-256 ${sha} and size ${Buffer.byteLength(body)} match the manifest`);

  const bad = checkedDownload(Readable.from([Buffer.from(body)]), sidecarOf('0'.repeat(64)), 'b.tar');
  assert.equal(await text(bad.stream), body);
  await assert.rejects(bad.check(), /b\.tar does not match its manifest: SHA-256/);

  const short = checkedDownload(Readable.from([Buffer.from(body)]), sidecarOf(sha, 5), 'b.tar');
  await text(short.stream);
  await assert.rejects(short.check(), /b\.tar is \d+ bytes, but its manifest says 5/);

  // after the consumer gave up early, drain reads the rest to hash the whole download
  const early = checkedDownload(Readable.from([Buffer.from(body.slice(0, 100)), Buffer.from(body.slice(100))]), sidecarOf(sha), 'b.tar');
  for await (const _ of early.stream) break;
  assert.deepEqual(await early.drain(), { sha256: sha, size: Buffer.byteLength(body) });
});
