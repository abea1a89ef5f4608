import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  mkdtempSync,
  rmSync,
  readFileSync,
  writeFileSync,
  mkdirSync,
  statSync,
  linkSync,
  chownSync,
  chmodSync,
  createReadStream,
  utimesSync,
  readdirSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { extractArchive, verifyArchiveStream, MANIFEST_ENTRY } from '../../src/archive/extract.ts';
import { UserError } from '../../src/errors.ts';
import { makeTree, describeTree } from '../helpers/tree.ts';
import { buildTgz, listAll } from './build.ts';

let base: string;
let src: string;
const isRoot = process.getuid?.() === 0;

before(() => {
  base = mkdtempSync(join(tmpdir(), 'offsite-extract-'));
  src = join(base, 'src');
  makeTree(src);
  // hard links, a sticky directory, sub-second mtimes
  writeFileSync(join(src, 'hard-a'), 'shared inode');
  linkSync(join(src, 'hard-a'), join(src, 'hard-b'));
  mkdirSync(join(src, 'sticky'));
  chmodSync(join(src, 'sticky'), 0o1777);
  writeFileSync(join(src, 'precise.txt'), 'sub-second');
  utimesSync(join(src, 'precise.txt'), 1600000000.25, 1600000000.25);
  if (isRoot) {
    writeFileSync(join(src, 'owned.txt'), 'owned by someone else');
    chownSync(join(src, 'owned.txt'), 1234, 5678);
  }
});
after(() => {
  rmSync(base, { recursive: true, force: true });
});

function gnuTar(args: string[]): Buffer {
  return execFileSync('tar', [...args, '-C', src, '.'], { maxBuffer: 1 << 28 });
}

let n = 0;
async function restore(archive: Buffer, opts: Parameters<typeof extractArchive>[1] = {}) {
  const target = join(base, `out-${++n}`);
  const result = await extractArchive(Readable.from([archive]), { target, ...opts });
  return { target, result };
}

function assertSameTree(target: string) {
  assert.deepEqual(describeTree(target, false), describeTree(src, false));
}

test('restores GNU tar archives: gzip, zstd, plain, pax format', async () => {
  const cases: Array<[string, string[], string]> = [
    ['gz', ['-cz', '-f', '-'], 'gz'],
    ['zst', ['--zstd', '-c', '-f', '-'], 'zst'],
    ['none', ['-c', '-f', '-'], 'none'],
    ['pax gz', ['--format=pax', '-cz', '-f', '-'], 'gz'],
  ];
  for (const [name, args, compression] of cases) {
    const { target, result } = await restore(gnuTar(args));
    assert.equal(result.compression, compression, name);
    assert.equal(result.encryption, 'none');
    assertSameTree(target);
    assert.equal(statSync(join(target, 'hard-a')).ino, statSync(join(target, 'hard-b')).ino, `${name}: hard link kept`);
    assert.equal(statSync(join(target, 'sticky')).mode & 0o7777, 0o1777);
    assert.ok(result.files > 5 && result.directories > 40 && result.symlinks === 4 && result.hardlinks === 1, JSON.stringify(result));
    if (name === 'pax gz') assert.equal(statSync(join(target, 'precise.txt')).mtimeMs, 1600000000250, 'sub-second mtime from pax');
    if (isRoot) {
      const st = statSync(join(target, 'owned.txt'));
      assert.deepEqual([st.uid, st.gid], [1234, 5678], 'owner restored as root');
    }
    assert.ok(!readdirSync(target).some((x) => x.startsWith('.offsite-restore-')), 'no staging left');
  }
});

test('multi-member gzip and multi-frame zstd (with a skippable frame)', async () => {
  const tar = gnuTar(['-c', '-f', '-']);
  const cut = [1000, 7777, Math.floor(tar.length / 2)];
  const parts = [tar.subarray(0, cut[0]), tar.subarray(cut[0], cut[1]), tar.subarray(cut[1], cut[2]), tar.subarray(cut[2])];
  const multiGz = Buffer.concat(parts.map((p) => gzipSync(p)));
  assertSameTree((await restore(multiGz)).target);
  const frames = parts.map((p) => execFileSync('zstd', ['-q', '-c'], { input: p }));
  const skippable = Buffer.alloc(8 + 5);
  skippable.writeUInt32LE(0x184d2a53, 0);
  skippable.writeUInt32LE(5, 4);
  const multiZst = Buffer.concat([frames[0]!, skippable, frames[1]!, frames[2]!, frames[3]!]);
  const { target, result } = await restore(multiZst);
  assert.equal(result.compression, 'zst');
  assertSameTree(target);
  // a missing last frame is noticed (by the tar end marker) even though each frame is whole
  await assert.rejects(restore(Buffer.concat(frames.slice(0, 3))), /truncated/);
  const cutFrame = Buffer.concat([frames[0]!, frames[1]!.subarray(0, frames[1]!.length - 3)]);
  await assert.rejects(restore(cutFrame), /zstd data is truncated|truncated/);
});

test('--include restores only the given paths (parents created), and refuses paths that match nothing', async () => {
  const tgz = gnuTar(['-cz', '-f', '-']);
  const { target, result } = await restore(tgz, { include: ['ünïcödé', './long/'] });
  assert.deepEqual(
    listAll(target)
      .filter((p) => !p.includes('/'))
      .sort(),
    ['long', 'ünïcödé'],
  );
  assert.ok(existsSync(join(target, 'ünïcödé/日本語のファイル名.txt')));
  // the parent of an included path keeps the archive's mode and time
  const dirOnly = join(base, 'include-parent');
  await extractArchive(Readable.from([tgz]), { target: dirOnly, include: [`long/${'a'.repeat(120)}.txt`] });
  const want = describeTree(src, false).get('long')!;
  const got = describeTree(dirOnly, false).get('long')!;
  assert.deepEqual(got, want);
  assert.ok(result.files >= 2);
  const t2 = join(base, 'include-none');
  await assert.rejects(
    extractArchive(Readable.from([tgz]), { target: t2, include: ['nope'] }),
    (e: Error) => e instanceof UserError && /--include "nope" matched nothing/.test(e.message),
  );
  assert.deepEqual(listAll(t2), []);
});

test('a non-empty target is refused without force; with force entries replace and other files stay', async () => {
  const target = join(base, 'busy');
  mkdirSync(target);
  writeFileSync(join(target, 'mine.txt'), 'keep me');
  writeFileSync(join(target, 'plain.txt'), 'old version');
  const tgz = gnuTar(['-cz', '-f', '-']);
  await assert.rejects(extractArchive(Readable.from([tgz]), { target }), /is not empty.*/);
  assert.equal(readFileSync(join(target, 'plain.txt'), 'utf8'), 'old version');
  await extractArchive(Readable.from([tgz]), { target, force: true });
  assert.equal(readFileSync(join(target, 'mine.txt'), 'utf8'), 'keep me');
  assert.equal(readFileSync(join(target, 'plain.txt'), 'utf8'), 'hello world\n');
});

test('verify mode decodes everything and writes nothing', async () => {
  const tgz = gnuTar(['-cz', '-f', '-']);
  const before = listAll(base);
  const r = await verifyArchiveStream(Readable.from([tgz]));
  assert.deepEqual(listAll(base), before);
  const { result } = await restore(tgz);
  assert.deepEqual({ ...r, warnings: [] }, { ...result, warnings: [] });
  assert.ok(r.bytes > 70_000);
  const cut = tgz.subarray(0, tgz.length - 100);
  await assert.rejects(verifyArchiveStream(Readable.from([cut])), /truncated/);
});

test('the manifest entry is read, handed over and never written', async () => {
  const manifest = { formatVersion: 1, job: 'test' };
  const tgz = await buildTgz([
    { name: MANIFEST_ENTRY, content: JSON.stringify(manifest) },
    { name: 'app/', type: 'directory' },
    { name: 'app/a.txt', content: 'a' },
  ]);
  let seen: unknown = null;
  const { target, result } = await restore(tgz, {
    onManifest: (m) => {
      seen = m;
    },
  });
  assert.deepEqual(seen, manifest);
  assert.deepEqual(result.manifest, manifest);
  assert.deepEqual(listAll(target), ['app', 'app/a.txt']);
  await assert.rejects(
    restore(tgz, {
      onManifest: () => {
        throw new UserError('too new');
      },
    }),
    /too new/,
  );
});

test('restores from a file stream with modes and empty directories', async () => {
  const file = join(base, 'a.tar.gz');
  writeFileSync(file, gnuTar(['-cz', '-f', '-']));
  const target = join(base, 'from-file');
  await extractArchive(createReadStream(file), { target });
  assert.equal(statSync(join(target, 'secret.key')).mode & 0o777, 0o600);
  assert.equal(statSync(join(target, 'run.sh')).mode & 0o777, 0o755);
  assert.deepEqual(readdirSync(join(target, 'empty-dir')), []);
});

test('an aborted restore stops, removes its staging directory and the target it created; an existing target stays empty', async () => {
  const big = join(base, 'big-src');
  mkdirSync(big);
  for (let i = 0; i < 40; i++) writeFileSync(join(big, `f${i}.bin`), randomBytes(256 * 1024));
  const tgz = execFileSync('tar', ['-cz', '-C', big, '.'], { maxBuffer: 1 << 28 });
  const target = join(base, 'aborted');
  const ac = new AbortController();
  let sent = 0;
  const input = Readable.from(
    (function* () {
      for (let o = 0; o < tgz.length; o += 16384) {
        sent += 16384;
        if (sent > tgz.length / 3) ac.abort(new Error('stop requested'));
        yield tgz.subarray(o, o + 16384);
      }
    })(),
  );
  await assert.rejects(extractArchive(input, { target, signal: ac.signal }), /stop requested|aborted/i);
  assert.ok(!existsSync(target), 'the target this restore created is removed');
  mkdirSync(target);
  const ac2 = new AbortController();
  let sent2 = 0;
  const input2 = Readable.from(
    (function* () {
      for (let o = 0; o < tgz.length; o += 16384) {
        sent2 += 16384;
        if (sent2 > tgz.length / 3) ac2.abort(new Error('stop requested'));
        yield tgz.subarray(o, o + 16384);
      }
    })(),
  );
  await assert.rejects(extractArchive(input2, { target, signal: ac2.signal }), /stop requested|aborted/i);
  assert.deepEqual(readdirSync(target), [], 'an existing target stays, empty');
});

test(
  'owners: a file archived with the owner and group new files get is not chowned; in a set-group-ID target (whose group new files inherit) it is',
  { skip: !isRoot && 'needs root' },
  async () => {
    const dir = join(base, 'owners-src');
    mkdirSync(dir);
    writeFileSync(join(dir, 'plain.txt'), 'root:root');
    chmodSync(join(dir, 'plain.txt'), 0o640);
    writeFileSync(join(dir, 'suid'), 'set-user-ID');
    chmodSync(join(dir, 'suid'), 0o4755);
    writeFileSync(join(dir, 'other.txt'), '1234:5678');
    chownSync(join(dir, 'other.txt'), 1234, 5678);
    const archive = execFileSync('tar', ['-czf', '-', '--owner=0', '--group=0', '-C', dir, 'plain.txt', 'suid']);
    const archive2 = execFileSync('tar', ['-czf', '-', '-C', dir, 'other.txt']);

    // a target whose set-group-ID bit gives new entries its group 4242
    const sgid = join(base, 'owners-sgid');
    mkdirSync(sgid);
    chownSync(sgid, 0, 4242);
    chmodSync(sgid, 0o2775);
    for (const target of [join(base, 'owners-plain'), join(sgid, 'to')]) {
      await extractArchive(Readable.from([archive]), { target, owners: true });
      for (const [name, mode] of [
        ['plain.txt', 0o640],
        ['suid', 0o4755],
      ] as const) {
        const st = statSync(join(target, name));
        assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 0, mode], `${target}/${name}`);
      }
      const t2 = `${target}-2`;
      await extractArchive(Readable.from([archive2]), { target: t2, owners: true });
      const st = statSync(join(t2, 'other.txt'));
      assert.deepEqual([st.uid, st.gid], [1234, 5678]);
    }
  },
);

test('file modes come out as archived whatever the umask (files the umask keeps are created with their mode, the others get a fchmod)', async () => {
  const dir = join(base, 'modes-src');
  mkdirSync(dir);
  const modes = [0o644, 0o600, 0o755, 0o666, 0o777, 0o640, 0o400, 0o000, ...(isRoot ? [0o4755, 0o2755] : [])];
  for (const mode of modes) {
    writeFileSync(join(dir, `m${mode.toString(8)}`), 'x'.repeat(mode));
    chmodSync(join(dir, `m${mode.toString(8)}`), mode);
  }
  const archive = execFileSync('tar', ['-czf', '-', '-C', dir, '.']);
  const old = process.umask(0o022);
  try {
    for (const mask of [0o022, 0o077, 0o000, 0o027]) {
      process.umask(mask);
      const { target } = await restore(archive);
      for (const mode of modes)
        assert.equal(statSync(join(target, `m${mode.toString(8)}`)).mode & 0o7777, mode, `mode ${mode.toString(8)} under umask ${mask.toString(8)}`);
      assert.deepEqual(readdirSync(target).sort(), modes.map((m) => `m${m.toString(8)}`).sort(), 'nothing else (no probe file) in the target');
    }
  } finally {
    process.umask(old);
  }
});

test('a hard link to a file written just before it, and paths stored twice, come out as GNU tar extracts them (archive order through the writer thread)', async () => {
  const { buildTar } = await import('./build.ts');
  const entries: Parameters<typeof buildTar>[0] = [{ name: 'a/', type: 'directory' }];
  // enough files that the writer is still busy when the link below is decoded
  for (let i = 0; i < 400; i++) entries.push({ name: `a/f${i}`, content: `file ${i}` });
  entries.push({ name: 'a/target', content: 'the first a/target' });
  entries.push({ name: 'b/l', type: 'link', linkname: 'a/target' });
  entries.push({ name: 'b/g', content: 'in b' });
  entries.push({ name: 'c/h', content: 'in c' });
  entries.push({ name: 'a/f7', content: 'a/f7 stored again, after other directories' });
  entries.push({ name: 'b/l', content: 'b/l replaced by a file' });
  entries.push({ name: 'c/l2', type: 'link', linkname: 'a/f7' });
  const archive = await buildTar(entries);
  const { target } = await restore(archive);
  const tarOut = join(base, `gnu-${++n}`);
  mkdirSync(tarOut);
  execFileSync('tar', ['-xf', '-', '-C', tarOut], { input: archive });
  assert.deepEqual(listAll(target), listAll(tarOut));
  for (const rel of listAll(tarOut).filter((r) => !statSync(join(tarOut, r)).isDirectory())) {
    assert.equal(readFileSync(join(target, rel), 'utf8'), readFileSync(join(tarOut, rel), 'utf8'), rel);
  }
  assert.equal(readFileSync(join(target, 'b/l'), 'utf8'), 'b/l replaced by a file');
  assert.equal(statSync(join(target, 'a/target')).nlink, 1, 'b/l no longer links to a/target');
  assert.equal(statSync(join(target, 'c/l2')).ino, statSync(join(target, 'a/f7')).ino);
  assert.equal(readFileSync(join(target, 'c/l2'), 'utf8'), 'a/f7 stored again, after other directories');
});

test('the writer thread: a file larger than its ring arrives whole', async () => {
  const { buildTar } = await import('./build.ts');
  const { RING } = await import('../../src/archive/restore-writer.ts');
  const big = randomBytes(RING * 2 + 12345);
  // one buffer: the whole file arrives as one piece, written in parts through the ring
  const { target } = await restore(
    await buildTar([
      { name: 'big.bin', content: big },
      { name: 'after', content: 'the next entry' },
    ]),
  );
  assert.ok(readFileSync(join(target, 'big.bin')).equals(big));
  assert.equal(readFileSync(join(target, 'after'), 'utf8'), 'the next entry');
});
