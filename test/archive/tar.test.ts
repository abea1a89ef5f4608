import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import fc from 'fast-check';
import { encodeHeader, writeSimpleHeader, padding, BlockWriter, type TarEntry } from '../../src/archive/tar.ts';
import { tempDir, run } from './helpers.ts';

/** Header fields as tar-stream's parser reads them back (pax applied). */
function parse(
  header: Buffer,
): Promise<{ name: string; size?: number; mtime?: Date; uid?: number; gid?: number; linkname?: string | null; type?: string | null; mode?: number }> {
  return new Promise((resolve, reject) => {
    const x = extract();
    x.on('entry', (h) => {
      resolve(h);
      x.destroy();
    });
    x.on('error', reject);
    x.write(header);
  });
}

const base: TarEntry = { name: 'app/file.txt', type: 'file', mode: 0o100644, uid: 1000, gid: 1000, size: 5, mtime: 1_000_000_000 };

test('plain ustar header for short ASCII names', async () => {
  const h = encodeHeader(base);
  assert.equal(h.length, 512);
  const p = await parse(h);
  assert.equal(p.name, 'app/file.txt');
  assert.equal(p.size, 5);
  assert.equal(p.mode, 0o644);
  assert.equal(p.mtime!.getTime(), 1_000_000_000_000);
});

test('files over 8 GiB get a pax size record, and GNU tar reads the size', async () => {
  const size = 9 * 1024 ** 3 + 7;
  const h = encodeHeader({ ...base, size });
  assert.ok(h.length > 512, 'pax header present');
  assert.match(h.toString('latin1'), new RegExp(` size=${size}\n`));
  assert.equal((await parse(h)).size, size);
  const dir = tempDir();
  try {
    fs.writeFileSync(join(dir, 'h.tar'), h);
    // the archive is truncated after the header: tar lists the entry, then fails on EOF
    const out = await run('tar', ['-tvf', join(dir, 'h.tar')]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    assert.match(out.stdout, new RegExp(` ${size} .*app/file\\.txt`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('unicode and long names and link targets go into pax records', async () => {
  const name = 'app/' + 'ü'.repeat(80) + '/' + 'x'.repeat(120);
  const p = await parse(encodeHeader({ ...base, name }));
  assert.equal(p.name, name);
  const link = await parse(encodeHeader({ ...base, name: 'app/l', type: 'symlink', size: 0, linkname: 'ziel-é/' + 'y'.repeat(150) }));
  assert.equal(link.type, 'symlink');
  assert.equal(link.linkname, 'ziel-é/' + 'y'.repeat(150));
});

test('directories end in a slash; mtimes before 1970 and after 2038 and big uids use pax', async () => {
  const d = await parse(encodeHeader({ ...base, name: 'app/dir', type: 'directory', size: 0 }));
  assert.equal(d.name, 'app/dir/');
  assert.equal(d.type, 'directory');
  const h = encodeHeader({ ...base, mtime: -86400, uid: 5_000_000, gid: 300_000 });
  const text = h.toString('latin1');
  assert.match(text, / mtime=-86400\n/);
  assert.match(text, / uid=5000000\n/);
  assert.match(text, / gid=300000\n/);
  assert.match(encodeHeader({ ...base, mtime: 2 ** 32 }).toString('latin1'), / mtime=4294967296\n/);
});

test('padding and BlockWriter framing', () => {
  assert.equal(padding(0), 0);
  assert.equal(padding(1), 511);
  assert.equal(padding(512), 0);
  const blocks: Buffer[] = [];
  let current = new Uint8Array(0);
  const w = new BlockWriter(1024, {
    acquire: () => (current = new Uint8Array(1024).fill(0xee)), // dirty memory: the writer must zero what it pads
    flush: (n) => {
      blocks.push(Buffer.from(current.subarray(0, n)));
    },
  });
  w.write(Buffer.alloc(700, 1));
  w.zeros(10);
  w.write(Buffer.alloc(600, 2));
  w.end();
  const all = Buffer.concat(blocks);
  assert.equal(all.length, 700 + 10 + 600 + 1024);
  assert.deepEqual(
    blocks.slice(0, -1).map((b) => b.length),
    [1024, 1024],
  );
  assert.ok(all.subarray(700, 710).every((b) => b === 0));
  assert.ok(all.subarray(710, 1310).every((b) => b === 2));
});

test("the fast header writer produces exactly tar-stream's bytes", () => {
  const printable = fc.string({ unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))), minLength: 1, maxLength: 99 });
  fc.assert(
    fc.property(
      fc.record({
        name: printable,
        type: fc.constantFrom<TarEntry['type'][]>('file', 'directory', 'symlink'),
        mode: fc.integer({ min: 0, max: 0o177777 }),
        uid: fc.integer({ min: 0, max: 0o777777 }),
        gid: fc.integer({ min: 0, max: 0o777777 }),
        size: fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 0o77777777777 })),
        mtime: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        linkname: printable,
      }),
      (r) => {
        const e: TarEntry = { ...r, linkname: r.type === 'symlink' ? r.linkname : undefined };
        const fast = new Uint8Array(512);
        assert.ok(writeSimpleHeader(fast, 0, e));
        assert.deepEqual(Buffer.from(fast), encodeHeader(e));
      },
    ),
    { numRuns: 2000 },
  );
  // and it declines what needs pax
  assert.equal(writeSimpleHeader(new Uint8Array(512), 0, { ...base, name: 'ä' }), false);
  assert.equal(writeSimpleHeader(new Uint8Array(512), 0, { ...base, name: 'x'.repeat(101) }), false);
  assert.equal(writeSimpleHeader(new Uint8Array(512), 0, { ...base, size: 2 ** 33 }), false);
});
