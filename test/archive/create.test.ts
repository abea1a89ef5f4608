import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { createArchive, prestartArchiveWorker, prescanSources } from '../../src/archive/index.ts';
import { sparePrescanned } from '../../src/archive/spare.ts';
import { extractArchive, verifyArchiveStream } from '../../src/archive/extract.ts';
import { UserError } from '../../src/errors.ts';
import { buildTree, describeSources, tempDir, run, options, archiveTo, inArchive, TAR_EXTRACT } from './helpers.ts';

let root: string;
let sources: string[];
let expected: ReturnType<typeof describeSources>;

before(() => {
  root = tempDir();
  sources = buildTree(join(root, 'src'));
  expected = describeSources(sources);
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

async function extractAndCompare(file: string, flags: string[], label: string) {
  const dest = fs.mkdtempSync(join(root, 'x-'));
  const { stderr } = await run('tar', [...flags, file, '-C', dest]);
  assert.equal(stderr, '', `${label}: tar printed warnings`);
  const got = describeSources(sources, dest);
  assert.deepEqual([...got.keys()], [...expected.keys()], `${label}: entry list`);
  for (const [path, node] of expected) assert.deepEqual(got.get(path), node, `${label}: ${path}`);
  fs.rmSync(dest, { recursive: true, force: true });
}

describe('createArchive cross-checked with GNU tar', () => {
  for (const compression of ['gz', 'zst', 'none'] as const) {
    test(`${compression}: extracts to the same tree (contents, modes, mtimes, links)`, async () => {
      const file = join(root, `a.${compression}`);
      const { result, sha256, size } = await archiveTo(file, options(sources, { compression }));
      await extractAndCompare(file, TAR_EXTRACT[compression], compression);
      assert.equal(result.sha256, sha256);
      assert.equal(result.size, size);
      assert.equal(result.size, fs.statSync(file).size);
      const files = [...expected.values()].filter((n) => n.type === 'file');
      assert.equal(result.files, files.length);
      assert.equal(result.directories, [...expected.values()].filter((n) => n.type === 'dir').length);
      assert.equal(result.symlinks, 5);
      assert.equal(
        result.bytesRead,
        files.reduce((s, n) => s + n.size!, 0),
      );
      assert.equal(result.unreadable, 0);
      assert.equal(result.skipped, 0);
      assert.deepEqual(result.warnings, []);
      // entry names are relative: no leading '/', no '..'
      const list = (await run('tar', compression === 'zst' ? ['--zstd', '-tf', file] : ['-tf', file])).stdout.trim().split('\n');
      assert.ok(list.every((n) => !n.startsWith('/') && !n.split('/').includes('..')));
      // each source under its path without the leading slash, as offen stores it
      assert.ok(list.includes(`${inArchive(sources[0]!)}/`) && list.includes(`${inArchive(sources[1]!)}/`), 'each source under its path');
      assert.ok(
        list.every((n) => n.startsWith(inArchive(sources[0]!)) || n.startsWith(inArchive(sources[1]!))),
        'nothing else',
      );
    });
  }

  for (const parallelism of [2, 4]) {
    test(`gz with parallelism ${parallelism}: concatenated members decompress to the same tar`, async () => {
      const file = join(root, `p${parallelism}.tar.gz`);
      const { result, sha256 } = await archiveTo(file, options(sources, { compression: 'gz', parallelism }));
      assert.equal(result.sha256, sha256);
      await extractAndCompare(file, ['-xzf'], `parallel ${parallelism}`);
      const serial = join(root, `p${parallelism}.tar`);
      await archiveTo(serial, options(sources, { compression: 'none' }));
      // gzip -dc reads all members; the tar is byte-identical to the uncompressed archive
      const { stdout } = await run('sh', ['-c', `gzip -dc '${file}' | sha256sum`]);
      const plain = createHash('sha256').update(fs.readFileSync(serial)).digest('hex');
      assert.equal(stdout.split(' ')[0], plain);
      // several independent members (the tree is > 6 MiB, members are 1 MiB of tar)
      const gz = fs.readFileSync(file);
      // a member's header as zlib writes it: no flags, no mtime, any XFL (4 for a stored member, zlib's level 0), OS Unix
      const magic = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0]);
      let members = 0;
      for (let i = gz.indexOf(magic); i !== -1; i = gz.indexOf(magic, i + 1)) if (gz[i + 9] === 3) members++;
      assert.ok(members >= 6, `expected several gzip members, found ${members}`);
      assert.equal(gunzipSync(gz).length, fs.statSync(serial).size);
    });
  }
});

test('archives are deterministic for the same tree (sorted entries)', async () => {
  const a = await archiveTo(join(root, 'd1.tar'), options(sources, { compression: 'none' }));
  const b = await archiveTo(join(root, 'd2.tar'), options(sources, { compression: 'none' }));
  assert.equal(a.sha256, b.sha256);
});

test('exclude: a matching directory is skipped whole and counted', async () => {
  const src = join(root, 'excl', 'vol');
  fs.mkdirSync(join(src, 'cache', 'deeper'), { recursive: true });
  fs.writeFileSync(join(src, 'cache', 'a.tmp'), 'a');
  fs.writeFileSync(join(src, 'cache', 'deeper', 'b.tmp'), 'b');
  fs.writeFileSync(join(src, 'keep.txt'), 'keep');
  fs.writeFileSync(join(src, 'drop.log'), 'log');
  const file = join(root, 'excl.tar');
  const { result } = await archiveTo(file, options([src], { compression: 'none', exclude: /\/cache$|\.log$/ }));
  const list = (await run('tar', ['-tf', file])).stdout.trim().split('\n').sort();
  assert.deepEqual(list, [`${inArchive(src)}/`, inArchive(src, 'keep.txt')]);
  assert.equal(result.skipped, 2); // the directory (whole) and drop.log
  assert.equal(result.files, 1);
});

test('exclude is compiled as Go RE2 in the archive worker, and matched against the absolute path like offen', async () => {
  const src = join(root, 'excl-re2', 'vol');
  fs.mkdirSync(join(src, 'sub'), { recursive: true });
  for (const f of ['2024.tmp', 'x.tmp', 'sub/77.tmp', 'a.b', 'aXb']) fs.writeFileSync(join(src, f), f);
  const file = join(root, 'excl-re2.tar');
  // [[:digit:]] is a POSIX class in RE2 (a JavaScript RegExp would read it as a set of characters),
  // \Q..\E quotes; the source path itself is part of the matched string
  const pattern = `^\\Q${src}\\E/(sub/)?[[:digit:]]+\\.tmp$|/\\Qa.b\\E$`;
  const { result } = await archiveTo(file, options([src], { compression: 'none', exclude: { source: pattern } }));
  const list = (await run('tar', ['-tf', file])).stdout.trim().split('\n').sort();
  assert.deepEqual(list, [`${inArchive(src)}/`, inArchive(src, 'aXb'), `${inArchive(src)}/sub/`, inArchive(src, 'x.tmp')]);
  assert.equal(result.skipped, 3);
});

test('sockets and fifos are skipped, logged and counted', async () => {
  const src = join(root, 'special', 'vol');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(join(src, 'plain.txt'), 'plain');
  await run('mkfifo', [join(src, 'pipe')]);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(join(src, 'app.sock'), r));
  try {
    const lines: string[] = [];
    const log = (await import('pino')).default(
      { level: 'info' },
      {
        write: (s: string) => {
          lines.push(s);
        },
      },
    );
    const file = join(root, 'special.tar');
    const { result } = await archiveTo(file, options([src], { compression: 'none', log }));
    assert.equal(result.skipped, 2);
    assert.equal(result.unreadable, 0);
    const list = (await run('tar', ['-tf', file])).stdout.trim().split('\n').sort();
    assert.deepEqual(list, [`${inArchive(src)}/`, inArchive(src, 'plain.txt')]);
    assert.ok(
      lines.some((l) => l.includes('app.sock') && l.includes('socket')),
      'socket logged',
    );
    assert.ok(
      lines.some((l) => l.includes('pipe') && l.includes('fifo')),
      'fifo logged',
    );
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('a missing source rejects done and errors the stream, naming the path', async () => {
  const missing = join(root, 'no-such-dir');
  const a = createArchive(options([sources[0]!, missing]));
  const streamErr = new Promise<Error>((resolve) => a.stream.on('error', resolve));
  a.stream.resume();
  await assert.rejects(a.done, (err: Error) => err instanceof UserError && err.message.includes(missing));
  assert.ok((await streamErr).message.includes(missing));
});

test('sources with the same base name are stored side by side under their paths', async () => {
  const a = join(root, 'same', 'one', 'app');
  const b = join(root, 'same', 'two', 'app');
  fs.mkdirSync(a, { recursive: true });
  fs.mkdirSync(b, { recursive: true });
  fs.writeFileSync(join(a, 'x'), 'one');
  fs.writeFileSync(join(b, 'x'), 'two');
  const file = join(root, 'same.tar');
  await archiveTo(file, options([a, b], { compression: 'none' }));
  const list = (await run('tar', ['-tf', file])).stdout.trim().split('\n');
  assert.deepEqual(list, [`${inArchive(a)}/`, inArchive(a, 'x'), `${inArchive(b)}/`, inArchive(b, 'x')]);
});

test('overlapping sources (one inside another, or the same twice) are refused', async () => {
  for (const [srcs, re] of [
    [[sources[0]!, join(sources[0]!, 'big')], /is inside the source/],
    [[join(sources[0]!, 'big'), sources[0]!], /is inside the source/],
    [[sources[0]!, `${sources[0]!}/`], /is given twice/],
    [['/'], /is the root directory/],
  ] as const) {
    const a = createArchive(options([...srcs]));
    a.stream.on('error', () => {});
    await assert.rejects(a.done, re);
  }
});

test('encrypt hook: output, size and sha256 are the transformed bytes', async () => {
  const xor = () =>
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        const out = Buffer.allocUnsafe(chunk.length);
        for (let i = 0; i < chunk.length; i++) out[i] = chunk[i]! ^ 0x5a;
        cb(null, out);
      },
    });
  const file = join(root, 'enc.bin');
  const { result, sha256, size } = await archiveTo(file, options(sources, { compression: 'gz', encrypt: xor }));
  assert.equal(result.sha256, sha256);
  assert.equal(result.size, size);
  const bytes = fs.readFileSync(file);
  assert.notEqual(bytes[0], 0x1f, 'output is not plain gzip');
  const plain = Buffer.from(bytes.map((b) => b ^ 0x5a));
  const dec = join(root, 'dec.tar.gz');
  fs.writeFileSync(dec, plain);
  await extractAndCompare(dec, ['-xzf'], 'decrypted');
});

test('header hook: pre-scan counts and the manifest is the first entry', async () => {
  let seen: unknown = null;
  const file = join(root, 'hdr.tar.gz');
  const { result } = await archiveTo(
    file,
    options(sources, {
      header: (scan) => {
        seen = scan;
        return { name: 'backup-manifest.json', data: Buffer.from(JSON.stringify(scan)) };
      },
    }),
  );
  const { stdout } = await run('sh', ['-c', `tar -tzf '${file}' | head -1`]);
  assert.equal(stdout.trim(), 'backup-manifest.json');
  assert.deepEqual(seen, { files: result.files, directories: result.directories, symlinks: result.symlinks, bytes: result.bytesRead });
  const dest = fs.mkdtempSync(join(root, 'h-'));
  const x = await run('tar', ['-xzf', file, '-C', dest]);
  assert.equal(x.stderr, '');
  assert.deepEqual(JSON.parse(fs.readFileSync(join(dest, 'backup-manifest.json'), 'utf8')), seen);
});

test('files that grow, shrink or are replaced after the pre-scan are archived as they are when archived; the manifest has the scan', async () => {
  const src = join(root, 'changing', 'vol');
  fs.mkdirSync(join(src, 'dir'), { recursive: true });
  fs.writeFileSync(join(src, 'grows.txt'), 'a'.repeat(1000));
  fs.writeFileSync(join(src, 'shrinks.txt'), 'b'.repeat(5000));
  fs.writeFileSync(join(src, 'becomes-dir'), 'c');
  fs.writeFileSync(join(src, 'dir', 'same.txt'), 'd'.repeat(700));
  fs.chmodSync(join(src, 'grows.txt'), 0o600);
  let scanned: unknown = null;
  const file = join(root, 'changing.tar');
  const { result } = await archiveTo(
    file,
    options([src], {
      compression: 'none',
      header: (scan) => {
        scanned = scan;
        // between the scan and the archive walk
        fs.appendFileSync(join(src, 'grows.txt'), 'A'.repeat(3000));
        fs.chmodSync(join(src, 'grows.txt'), 0o640);
        fs.truncateSync(join(src, 'shrinks.txt'), 10);
        fs.rmSync(join(src, 'becomes-dir'));
        fs.mkdirSync(join(src, 'becomes-dir'));
        return { name: 'm.json', data: Buffer.from('{}') };
      },
    }),
  );
  assert.deepEqual(scanned, { files: 4, directories: 2, symlinks: 0, bytes: 1000 + 5000 + 1 + 700 });
  assert.equal(result.unreadable, 0);
  assert.deepEqual([result.files, result.directories, result.bytesRead], [3, 3, 4000 + 10 + 700]);
  const dest = fs.mkdtempSync(join(root, 'c-'));
  const x = await run('tar', ['-xf', file, '-C', dest]);
  assert.equal(x.stderr, '');
  const got = describeSources([src], dest);
  const want = describeSources([src]);
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [path, node] of want) assert.deepEqual(got.get(path), node, path);
  assert.equal(fs.statSync(join(dest, inArchive(src, 'grows.txt'))).mode & 0o777, 0o640);
});

test('a file replaced by a symlink after its directory was listed is archived as that symlink, not reported unreadable', async () => {
  const src = join(root, 'to-symlink', 'vol');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(join(src, 'a-big'), Buffer.alloc(16 << 20, 1));
  fs.writeFileSync(join(src, 'z-file'), 'old');
  const a = createArchive(options([src], { compression: 'none' }));
  // the worker listed the directory and is inside a-big (sorted first) once a block arrives;
  // the ring and the paused stream hold far less than 16 MiB, so it cannot reach z-file yet
  await new Promise<void>((resolve) => a.stream.once('readable', () => resolve()));
  fs.rmSync(join(src, 'z-file'));
  fs.symlinkSync('a-big', join(src, 'z-file'));
  const file = join(root, 'to-symlink.tar');
  await pipeline(a.stream, fs.createWriteStream(file));
  const result = await a.done;
  assert.deepEqual([result.unreadable, result.files, result.symlinks], [0, 1, 1]);
  const { stdout } = await run('tar', ['-tvf', file]);
  assert.match(stdout, /z-file -> a-big/);
});

test('a prestarted worker is taken by the next archive, which then ends normally; one that no archive took is ended', async () => {
  const unused = prestartArchiveWorker();
  unused.end();
  assert.equal(unused.taken, false);
  const spare = prestartArchiveWorker();
  assert.equal(spare.taken, false);
  const file = join(root, 'prestarted.tar');
  const archiving = archiveTo(file, options(sources, { compression: 'none' }));
  assert.equal(spare.taken, true);
  spare.end(); // a no-op once taken: the run's end never stops its archive
  const { result } = await archiving;
  assert.equal(result.unreadable, 0);
  await extractAndCompare(file, TAR_EXTRACT.none, 'prestarted worker');
  // the next archive starts its own worker
  const again = await archiveTo(join(root, 'fresh-worker.tar'), options(sources, { compression: 'none' }));
  assert.equal(again.result.files, result.files);
});

test('a run adopts a worker started before it (src/main.ts): its end() ends that worker when no archive took it', async () => {
  const early = prestartArchiveWorker();
  const run = prestartArchiveWorker();
  assert.equal(run.taken, false);
  run.end(); // the run failed before archiving
  const again = await archiveTo(join(root, 'after-adopted.tar'), options(sources, { compression: 'none' }));
  assert.equal(early.taken, false, 'the ended worker is not handed to a later archive');
  assert.equal(again.result.unreadable, 0);
});

test('a pre-scan started before the archive (prescanSources) gives the manifest its counts only with reuseScan and for the same sources', async () => {
  const src = join(root, 'prescan', 'vol');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(join(src, 'a'), 'a'.repeat(100));
  fs.writeFileSync(join(src, 'b'), 'b'.repeat(200));
  const counted: unknown[] = [];
  const header = (scan: unknown) => {
    counted.push(scan);
    return { name: 'm.json', data: Buffer.from('{}') };
  };
  const prescanThen = async (sources: string[], change: string) => {
    const w = prestartArchiveWorker();
    assert.equal(prescanSources(sources, null), true);
    await sparePrescanned();
    fs.writeFileSync(join(src, change), 'x'.repeat(300)); // after the pre-scan, before the archive
    return w;
  };
  // reused: the manifest has what the pre-scan found; the archive has what is there now
  let w = await prescanThen([src], 'c');
  const reused = await archiveTo(join(root, 'prescan-1.tar'), options([src], { compression: 'none', header, reuseScan: true }));
  assert.equal(w.taken, true);
  assert.deepEqual(counted.at(-1), { files: 2, directories: 1, symlinks: 0, bytes: 300 });
  assert.deepEqual([reused.result.files, reused.result.bytesRead], [3, 600]);
  const dest = fs.mkdtempSync(join(root, 'p-'));
  assert.equal((await run('tar', ['-xf', join(root, 'prescan-1.tar'), '-C', dest])).stderr, '');
  assert.equal(fs.readFileSync(join(dest, inArchive(src, 'c')), 'utf8'), 'x'.repeat(300));
  // not asked to reuse it (the run's lock was contended, or a pre hook ran): scanned again
  w = await prescanThen([src], 'd');
  await archiveTo(join(root, 'prescan-2.tar'), options([src], { compression: 'none', header }));
  assert.equal(w.taken, true);
  assert.deepEqual(counted.at(-1), { files: 4, directories: 1, symlinks: 0, bytes: 900 });
  // a pre-scan of other sources is never taken for these
  w = await prescanThen([join(root, 'prescan')], 'e');
  await archiveTo(join(root, 'prescan-3.tar'), options([src], { compression: 'none', header, reuseScan: true }));
  assert.equal(w.taken, true);
  assert.deepEqual(counted.at(-1), { files: 5, directories: 1, symlinks: 0, bytes: 1200 });
  // no waiting worker: nothing to pre-scan on
  assert.equal(prescanSources([src], null), false);
});

test('header hook returning null adds no entry', async () => {
  const file = join(root, 'hdr-null.tar');
  await archiveTo(file, options(sources, { compression: 'none', header: () => null }));
  const { stdout } = await run('sh', ['-c', `tar -tf '${file}' | head -1`]);
  assert.equal(stdout.trim(), `${inArchive(sources[0]!)}/`);
});

test('a throwing header hook fails the archive', async () => {
  const a = createArchive(
    options(sources, {
      header: () => {
        throw new Error('manifest broke');
      },
    }),
  );
  a.stream.on('error', () => {});
  a.stream.resume();
  await assert.rejects(a.done, /manifest broke/);
});

test('an error in a later stage rejects done and destroys the stream', async () => {
  let seenBytes = 0;
  const failing = () =>
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        seenBytes += chunk.length;
        if (seenBytes > 100_000) cb(new Error('encryptor exploded'));
        else cb(null, chunk);
      },
    });
  const a = createArchive(options(sources, { compression: 'none', encrypt: failing }));
  const streamErr = new Promise<Error>((resolve) => a.stream.on('error', resolve));
  a.stream.resume();
  await assert.rejects(a.done, /encryptor exploded/);
  assert.match((await streamErr).message, /encryptor exploded/);
});

test('abort signal: destroys the stream and rejects done', async () => {
  const ac = new AbortController();
  const a = createArchive(options(sources, { compression: 'gz', signal: ac.signal }));
  const streamErr = new Promise<Error>((resolve) => a.stream.on('error', resolve));
  a.stream.once('data', () => ac.abort(new Error('stop now')));
  await assert.rejects(a.done, /stop now/);
  assert.match((await streamErr).message, /stop now/);
  assert.ok(a.stream.destroyed);
});

test('a consumer that destroys the stream rejects done', async () => {
  const a = createArchive(options(sources, { compression: 'none' }));
  a.stream.once('data', () => a.stream.destroy());
  await assert.rejects(a.done);
});

test('a single file can be a source', async () => {
  const file = join(root, 'single.tar');
  const src = join(root, 'src', 'app', 'run.sh');
  const { result } = await archiveTo(file, options([src], { compression: 'none' }));
  assert.equal(result.files, 1);
  const { stdout } = await run('tar', ['-tvf', file]);
  assert.match(stdout, /^-rwxr-xr-x .* \S+\/src\/app\/run\.sh$/m);
  assert.equal((await run('tar', ['-tf', file])).stdout.trim(), inArchive(src));
});

for (const parallelism of [1, 2, 3]) {
  test(`zst with parallelism ${parallelism}: independent frames that GNU tar, the zstd CLI and offsite's restore and verify read whole`, async () => {
    const file = join(root, `p${parallelism}.tar.zst`);
    const { result, sha256 } = await archiveTo(file, options(sources, { compression: 'zst', parallelism }));
    assert.equal(result.sha256, sha256);
    await extractAndCompare(file, ['--zstd', '-xf'], `zst parallel ${parallelism}`);
    const plain = join(root, `p${parallelism}-plain.tar`);
    await archiveTo(plain, options(sources, { compression: 'none' }));
    const { stdout } = await run('sh', ['-c', `zstd -dc '${file}' | sha256sum`]);
    assert.equal(stdout.split(' ')[0], createHash('sha256').update(fs.readFileSync(plain)).digest('hex'));
    // several frames (the tree is > 6 MiB, frames are 512 KiB of tar)
    const frames = Number(/Zstandard Frames: (\d+)/.exec((await run('zstd', ['-lv', file])).stdout)?.[1]);
    assert.ok(frames >= 12, `expected several zstd frames, found ${frames}`);
    // offsite's verify reads every frame: the whole archive's counts come out, not the first MiB's
    const verified = await verifyArchiveStream(fs.createReadStream(file));
    assert.equal(verified.compression, 'zst');
    assert.equal(verified.files, result.files);
    assert.equal(verified.bytes, result.bytesRead);
    // and offsite's restore gives back the same tree
    const dest = fs.mkdtempSync(join(root, 'r-'));
    await extractArchive(fs.createReadStream(file), { target: dest });
    const got = describeSources(sources, dest);
    for (const [path, node] of expected) assert.deepEqual(got.get(path), node, `restore: ${path}`);
    fs.rmSync(dest, { recursive: true, force: true });
  });
}

test('a source path that is itself a symlink to a directory is followed (only there)', async () => {
  const link = join(root, 'linked-vol');
  fs.symlinkSync(sources[1]!, link);
  const file = join(root, 'linked.tar');
  const { result } = await archiveTo(file, options([link], { compression: 'none' }));
  const list = (await run('tar', ['-tf', file])).stdout.trim().split('\n').sort();
  assert.deepEqual(list, [`${inArchive(link)}/`, inArchive(link, 'db.sqlite'), `${inArchive(link)}/sub/`, inArchive(link, 'sub/x.txt')]);
  assert.equal(result.symlinks, 0);
});
