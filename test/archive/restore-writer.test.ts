/**
 * The restore's writer thread on its own, with a small ring: content larger than the
 * ring, more operations than the ring counts (each counts 512 bytes, so a backlog of
 * operations without content is bounded too), archive order, metadata, and its first
 * failure reported once, with everything after it skipped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, readdirSync, statSync, existsSync, chownSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RestoreWriter } from '../../src/archive/restore-writer.ts';
import type { WriteFailure } from '../../src/archive/restore-worker.ts';

let base: string;
before(() => {
  base = mkdtempSync(join(tmpdir(), 'offsite-writer-'));
});
after(() => {
  rmSync(base, { recursive: true, force: true });
});

const RING = 64 * 1024;
const meta = { mode: 0o640, mtime: 1600000000.5, atime: 1600000000.5, uid: 0, gid: 0 };
const asError = (f: WriteFailure) => Object.assign(new Error(`${f.kind}: ${f.message}`), { code: f.code });
let n = 0;
/** What extract.ts passes: the staging directory's owner and group (new files get them), and no permission bits taken for granted (every file gets its fchmod). */
const given = (dir: string) => {
  const st = statSync(dir);
  return { created: { uid: st.uid, gid: st.gid }, permitted: 0 };
};
const staging = () => {
  const d = join(base, `s${++n}`);
  mkdirSync(d);
  return d;
};

test('content larger than the ring and more operations than it counts, written in order', async () => {
  const dir = staging();
  const w = new RestoreWriter(dir, false, given(dir), asError, RING);
  const big = randomBytes(RING * 3 + 7);
  await w.file('whole.bin', big, meta); // larger than a piece: written in parts
  w.mkdir('d', 'd');
  w.open('pieces.bin', meta);
  for (let i = 0; i < 10; i++) await w.piece(big.subarray(i * 1000, (i + 1) * 1000));
  w.close(meta);
  await w.file('d/base', Buffer.from('one inode'), meta);
  const links = (RING / 512) * 3;
  let waited = 0;
  for (let i = 0; i < links; i++) {
    w.link(`d/l${i}`, 'd/base', `d/l${i}`, 'd/base');
    const room = w.room();
    if (room) {
      waited++;
      await room;
    }
  }
  assert.ok(waited > 0, 'links alone fill the ring and wait for the writer');
  await w.settle();
  await w.end();
  assert.ok(readFileSync(join(dir, 'whole.bin')).equals(big));
  assert.ok(readFileSync(join(dir, 'pieces.bin')).equals(big.subarray(0, 10000)));
  assert.equal(statSync(join(dir, 'd/base')).nlink, links + 1);
  assert.equal(readdirSync(join(dir, 'd')).length, links + 1);
  const st = statSync(join(dir, 'whole.bin'));
  assert.equal(st.mode & 0o777, 0o640);
  assert.equal(st.mtimeMs, 1600000000500);
});

test('the first failure is reported once, and nothing after it is written', async () => {
  const dir = staging();
  const w = new RestoreWriter(dir, false, given(dir), asError, RING);
  await w.file('f', Buffer.from('x'), meta);
  w.mkdir('f', 'f/inner'); // a file where a directory must go
  await w.file('after', Buffer.from('never'), meta);
  w.link('l', 'missing', 'l', 'missing');
  await assert.rejects(w.settle(), /^Error: damaged: the archive stores "f" as a file and also has "f\/inner" inside it$/);
  assert.match(String(w.failure), /damaged/);
  await w.end(true);
  assert.ok(!existsSync(join(dir, 'after')));

  const d2 = staging();
  const w2 = new RestoreWriter(d2, false, given(d2), asError, RING);
  w2.link('l', 'missing', 'l', 'missing');
  await assert.rejects(w2.settle(), /unsafe: hard link "l" points to "missing", which is not an earlier entry of the archive/);
  await w2.end(true);

  const w3 = new RestoreWriter(join(base, 'no-such-dir'), false, { created: { uid: 0, gid: 0 }, permitted: 0 }, asError, RING);
  await w3.file('f', Buffer.from('x'), meta);
  await assert.rejects(w3.settle(), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  await w3.end(true);
});

test(
  'owners and modes: set where a new file differs (umask, set-user-ID, a set-group-ID staging directory), as archived',
  { skip: process.getuid?.() !== 0 && 'needs root' },
  async () => {
    const dir = staging();
    // new files in a set-group-ID directory get its group: the archived group must still win
    chownSync(dir, 0, 5678);
    chmodSync(dir, 0o2700);
    const w = new RestoreWriter(dir, true, given(dir), asError, RING);
    const files: [string, number, number, number][] = [
      ['plain', 0o644, 0, 0],
      ['private', 0o600, 0, 0],
      ['writable', 0o666, 0, 0], // more than the umask lets open() give
      ['setuid', 0o4755, 0, 0],
      ['other', 0o640, 1234, 4321],
    ];
    for (const [name, mode, uid, gid] of files) await w.file(name, Buffer.from(name), { ...meta, mode, uid, gid });
    await w.settle();
    await w.end();
    for (const [name, mode, uid, gid] of files) {
      const st = statSync(join(dir, name));
      assert.deepEqual([name, st.mode & 0o7777, st.uid, st.gid], [name, mode, uid, gid]);
    }
  },
);
