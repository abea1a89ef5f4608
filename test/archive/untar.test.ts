/**
 * The stream-free tar reader used by restore and verify (src/archive/untar.ts) reads
 * exactly what tar-stream's extract() reads: GNU tar archives in GNU and pax format
 * (long names, long link targets, sub-second times, a global pax header), fed in one
 * piece and in pieces of every awkward size, and it reports a cut anywhere in the
 * archive as "Unexpected end of data", as tar-stream does.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract, type Header } from 'tar-stream';
import { TarReader, feedReader } from '../../src/archive/untar.ts';

let base: string;
const archives: Record<string, Buffer> = {};
before(() => {
  base = mkdtempSync(join(tmpdir(), 'offsite-untar-'));
  const src = join(base, 'src');
  const long = 'd'.repeat(120);
  mkdirSync(join(src, long, 'e'.repeat(90)), { recursive: true });
  writeFileSync(join(src, long, 'e'.repeat(90), `${'f'.repeat(150)}.txt`), 'long name\n');
  for (const size of [0, 1, 511, 512, 513, 1024, 70_000]) writeFileSync(join(src, `s${size}`), Buffer.alloc(size, size % 251));
  symlinkSync(`${'t'.repeat(140)}/target`, join(src, 'link-long'));
  writeFileSync(join(src, 'héllo wörld'), 'utf-8 name');
  for (const format of ['gnu', 'pax', 'ustar-ish']) {
    const file = join(base, `${format}.tar`);
    const args = format === 'pax' ? ['--format=pax', '--pax-option=globexthdr.name=g,comment=x'] : format === 'gnu' ? ['--format=gnu'] : ['--format=posix'];
    execFileSync('tar', [...args, '-cf', file, '-C', src, '.']);
    archives[format] = readFileSync(file);
  }
});
after(() => rmSync(base, { recursive: true, force: true }));

interface Seen {
  name: string;
  type: string;
  size: number;
  linkname: string | null;
  mode: number;
  mtime: number;
  pax: unknown;
  byteOffset: number;
  content: string;
}

/** What both readers saw of one entry: its header fields and content. */
function seen(h: Header & { byteOffset: number; pax: unknown }, parts: Buffer[]): Seen {
  return {
    name: h.name,
    type: h.type!,
    size: h.size!,
    linkname: h.linkname ?? null,
    mode: h.mode!,
    mtime: h.mtime!.getTime(),
    pax: h.pax ?? null,
    byteOffset: h.byteOffset,
    content: Buffer.concat(parts).toString('hex'),
  };
}

async function withTarStream(tar: Buffer): Promise<Seen[]> {
  const out: Seen[] = [];
  const ex = extract();
  Readable.from([tar]).pipe(ex);
  for await (const e of ex) {
    const parts: Buffer[] = [];
    for await (const c of e) parts.push(c as Buffer);
    out.push(seen(e.header as typeof e.header & { byteOffset: number; pax: unknown }, parts));
  }
  return out;
}

/** Feed `tar` in pieces of `step` bytes; reads content with read(), readAll() or skip() in turn. */
function withReader(tar: Buffer, step: number): Seen[] {
  const r = new TarReader();
  const out: Seen[] = [];
  let at = 0;
  const feed = (): boolean => {
    if (at >= tar.length) return false;
    r.push(tar.subarray(at, at + step));
    at += step;
    return true;
  };
  for (let i = 0; ; i++) {
    const h = r.next();
    if (h === null) {
      if (feed()) continue;
      assert.ok(r.complete, 'the whole archive was read');
      return out;
    }
    const parts: Buffer[] = [];
    for (;;) {
      if (i % 2 === 0) {
        const all = r.readAll();
        if (all) {
          parts.push(Buffer.from(all));
          break;
        }
      }
      const p = r.read();
      if (p) parts.push(Buffer.from(p));
      else if (r.left === 0) break;
      else assert.ok(feed(), 'content is there');
    }
    out.push(seen(h, parts));
  }
}

test("the tar reader reads GNU tar's gnu and pax archives as tar-stream does, in pieces of any size", async () => {
  for (const [format, tar] of Object.entries(archives)) {
    const want = await withTarStream(tar);
    assert.ok(want.some((e) => e.name.length > 300) && want.some((e) => (e.linkname ?? '').length > 100), `${format}: long names are in the fixture`);
    for (const step of [tar.length, 1, 7, 511, 512, 513, 4096, 65_536]) {
      assert.deepEqual(withReader(tar, step), want, `${format} in pieces of ${step} bytes`);
    }
  }
  assert.ok(
    (await withTarStream(archives.pax!)).some((e) => (e.pax as Record<string, string> | null)?.comment === 'x'),
    'the global pax header applies to later entries',
  );
});

test('the tar reader skips content it is not asked for, and reports a cut archive as tar-stream does', async () => {
  const tar = archives.gnu!;
  const names = (await withTarStream(tar)).map((e) => e.name);
  const r = new TarReader();
  r.push(tar);
  const got: string[] = [];
  for (let h = r.next(); h; h = r.next()) {
    got.push(h.name);
    assert.equal(r.skip(), 0);
  }
  assert.deepEqual(got, names);
  assert.ok(r.complete);

  // a cut inside a header, content or padding is a truncation; tar-stream and the reader agree on every cut
  let truncations = 0;
  for (let cut = 1; cut < tar.length; cut += cut < 3000 ? 97 : 1999) {
    const c = new TarReader();
    c.push(tar.subarray(0, cut));
    for (let h = c.next(); h !== null && c.skip() === 0; h = c.next());
    const streamSays = await (async () => {
      const ex = extract();
      Readable.from([tar.subarray(0, cut)]).pipe(ex);
      for await (const e of ex) for await (const _ of e);
    })().then(
      () => 'complete',
      (e: Error) => e.message,
    );
    assert.equal(c.complete ? 'complete' : 'Unexpected end of data', streamSays, `cut at ${cut}`);
    if (!c.complete) truncations++;
  }
  assert.ok(truncations > 10);
});

test("a corrupted header is refused with tar-stream's own error", () => {
  const tar = Buffer.from(archives.gnu!);
  tar[600] ^= 0xff; // inside the second header (the first entry, ./, has no content)
  const r = new TarReader();
  r.push(tar);
  assert.throws(() => {
    for (let h = r.next(); h; h = r.next()) r.skip();
  }, /Invalid tar header/);
});

test('feedReader hands each chunk of the stream to the reader as it is (no concatenated copy), pauses at its high-water mark and ends or fails as the stream does', async () => {
  // a stream with several chunks buffered: an async iterator's read() would join them into one new buffer
  const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(2000, 2), Buffer.alloc(3000, 3), Buffer.alloc(4000, 4)];
  const src = new Readable({ read() {} });
  for (const c of chunks) src.push(c);
  const reader = new TarReader();
  const pushed: Buffer[] = [];
  const push = reader.push.bind(reader);
  reader.push = (b: Buffer) => {
    pushed.push(b);
    push(b);
  };
  const feed = feedReader(src, reader, 2500);
  assert.equal(await feed.more(), true);
  // paused once 2500 bytes or more waited in the reader: the third chunk stays in the stream
  assert.equal(pushed.length, 2);
  assert.ok(src.isPaused());
  assert.equal(reader.buffered, 3000);
  src.push(null);
  while (await feed.more());
  assert.equal(pushed.length, 4);
  for (let i = 0; i < 4; i++) assert.equal(pushed[i], chunks[i], `chunk ${i} is the stream's own buffer`);
  assert.equal(feed.total(), 10_000);
  assert.equal(await feed.more(), false);

  // an error after some bytes: the bytes first, then the error
  const bad = new Readable({ read() {} });
  const r2 = new TarReader();
  const f2 = feedReader(bad, r2);
  bad.push(Buffer.alloc(10));
  assert.equal(await f2.more(), true);
  bad.destroy(new Error('gzip data corrupted'));
  await assert.rejects(f2.more(), /gzip data corrupted/);

  // destroyed without an error before its end
  const cut = new Readable({ read() {} });
  const f3 = feedReader(cut, new TarReader());
  setImmediate(() => cut.destroy());
  await assert.rejects(f3.more(), (e: NodeJS.ErrnoException) => e.code === 'ERR_STREAM_PREMATURE_CLOSE');
});
