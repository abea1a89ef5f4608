/**
 * Files that vanish, shrink or cannot be read while archiving: logged, counted
 * in `unreadable`, listed in `warnings`; the archive stays valid.
 *
 * Determinism without timing: the archive stream is consumed slowly, and the
 * worker can run ahead of the consumer by only a few MiB, so while the test
 * holds the first chunk the worker is still inside a large file that sorts
 * before the victim.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createArchive, type ArchiveResult } from '../../src/archive/index.ts';
import { MAX_WARNINGS } from '../../src/archive/create.ts';
import { tempDir, run, options, inArchive } from './helpers.ts';

let root: string;
before(() => {
  root = tempDir();
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const BIG = 32 * 1024 * 1024;

/** Archives `src` uncompressed into `file`, calling `onFirstChunk` while holding the first chunk. */
async function archiveSlowly(src: string, file: string, onFirstChunk: () => void): Promise<ArchiveResult> {
  const a = createArchive(options([src], { compression: 'none' }));
  const out = fs.openSync(file, 'w');
  let first = true;
  const hash = createHash('sha256');
  for await (const chunk of a.stream) {
    if (first) {
      first = false;
      onFirstChunk();
    }
    hash.update(chunk as Buffer);
    fs.writeSync(out, chunk as Buffer);
  }
  fs.closeSync(out);
  const result = await a.done;
  assert.equal(result.sha256, hash.digest('hex'));
  return result;
}

function makeVolume(name: string): string {
  const src = join(root, name, 'vol');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(join(src, 'a-big.bin'), Buffer.alloc(BIG, 'abcdefgh'));
  fs.writeFileSync(join(src, 'b-victim.txt'), 'I will be gone\n');
  fs.writeFileSync(join(src, 'c-after.txt'), 'still archived\n');
  return src;
}

test('a file deleted mid-backup is counted as unreadable and the archive extracts', async () => {
  const src = makeVolume('vanish');
  const file = join(root, 'vanish.tar');
  const result = await archiveSlowly(src, file, () => fs.rmSync(join(src, 'b-victim.txt')));
  assert.equal(result.unreadable, 1);
  assert.equal(result.files, 2);
  assert.equal(result.warnings.length, 1);
  assert.match(result.warnings[0]!, /b-victim\.txt: vanished during backup/);
  const dest = fs.mkdtempSync(join(root, 'x-'));
  const { stderr } = await run('tar', ['-xf', file, '-C', dest]);
  assert.equal(stderr, '');
  assert.equal(fs.readFileSync(join(dest, inArchive(src), 'c-after.txt'), 'utf8'), 'still archived\n');
  assert.equal(fs.statSync(join(dest, inArchive(src), 'a-big.bin')).size, BIG);
  assert.ok(!fs.existsSync(join(dest, inArchive(src), 'b-victim.txt')));
});

test('a file that shrinks while being read is padded with zeros, counted, and the tar stays valid', async () => {
  const src = makeVolume('shrink');
  const file = join(root, 'shrink.tar');
  const keep = 1024 * 1024;
  const result = await archiveSlowly(src, file, () => fs.truncateSync(join(src, 'a-big.bin'), keep));
  assert.equal(result.unreadable, 1);
  assert.match(result.warnings[0]!, /a-big\.bin: shrank while reading/);
  assert.equal(result.files, 3);
  const dest = fs.mkdtempSync(join(root, 'x-'));
  const { stderr } = await run('tar', ['-xf', file, '-C', dest]);
  assert.equal(stderr, '');
  const got = fs.readFileSync(join(dest, inArchive(src), 'a-big.bin'));
  assert.equal(got.length, BIG, 'entry keeps the size its header announced');
  assert.ok(got.subarray(0, keep).equals(Buffer.alloc(keep, 'abcdefgh')), 'bytes read before the shrink are kept');
  assert.ok(
    got.subarray(got.length - 4096).every((b) => b === 0),
    'the missing tail is zeros',
  );
  assert.equal(fs.readFileSync(join(dest, inArchive(src), 'b-victim.txt'), 'utf8'), 'I will be gone\n');
});

// Tests run as root, which reads everything: the child drops CAP_DAC_OVERRIDE
// and CAP_DAC_READ_SEARCH (setpriv), so mode 000 really fails with EACCES.
const asRoot = process.getuid?.() === 0;
const capsDropFailure = asRoot
  ? await new Promise<string | null>((resolve) => {
      execFile('setpriv', ['--bounding-set=-dac_override,-dac_read_search', 'true'], (err, _o, errOut) =>
        resolve(err ? `${err.message} ${errOut}`.trim() : null),
      );
    })
  : null;

test(
  'files and directories without read permission are counted and the archive continues',
  {
    skip: capsDropFailure ? `running as root and setpriv cannot drop CAP_DAC_OVERRIDE here: ${capsDropFailure}` : false,
  },
  async () => {
    const src = join(root, 'perm', 'vol');
    fs.mkdirSync(join(src, 'closed'), { recursive: true });
    fs.writeFileSync(join(src, 'closed', 'inside.txt'), 'hidden');
    fs.writeFileSync(join(src, 'ok.txt'), 'readable');
    fs.writeFileSync(join(src, 'secret.txt'), 'secret');
    fs.chmodSync(join(src, 'secret.txt'), 0);
    fs.chmodSync(join(src, 'closed'), 0);
    const file = join(root, 'perm.tar.gz');
    const child = join(root, 'perm-child.ts');
    const moduleUrl = new URL('../../src/archive/index.ts', import.meta.url).href;
    const logUrl = new URL('../../src/log.ts', import.meta.url).href;
    fs.writeFileSync(
      child,
      `
    import { createWriteStream } from 'node:fs';
    import { pipeline } from 'node:stream/promises';
    const { createArchive } = await import(${JSON.stringify(moduleUrl)});
    const { silentLogger } = await import(${JSON.stringify(logUrl)});
    const a = createArchive({ sources: [${JSON.stringify(src)}], exclude: null, compression: 'gz', parallelism: 1, log: silentLogger() });
    await pipeline(a.stream, createWriteStream(${JSON.stringify(file)}));
    process.stdout.write(JSON.stringify(await a.done));
  `,
    );
    const [cmd, args] = asRoot ? ['setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, child]] : [process.execPath, [child]];
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(cmd, args as string[], (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)));
    });
    fs.chmodSync(join(src, 'closed'), 0o755);
    const result = JSON.parse(stdout) as ArchiveResult;
    assert.equal(result.unreadable, 2);
    assert.deepEqual(result.warnings.sort(), [
      `${join(src, 'closed')}: cannot list directory: EACCES: permission denied`,
      `${join(src, 'secret.txt')}: EACCES: permission denied`,
    ]);
    const { stdout: list, stderr } = await run('tar', ['-tzf', file]);
    assert.equal(stderr, '');
    assert.deepEqual(list.trim().split('\n').sort(), [`${inArchive(src)}/`, `${inArchive(src)}/closed/`, inArchive(src, 'ok.txt')]);
  },
);

test(`warnings are capped at ${MAX_WARNINGS} lines plus a summary`, async () => {
  const src = join(root, 'many', 'vol');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(join(src, 'a-big.bin'), Buffer.alloc(BIG, 1));
  const n = MAX_WARNINGS + 7;
  for (let i = 0; i < n; i++) fs.writeFileSync(join(src, `v${String(i).padStart(4, '0')}`), 'x');
  const file = join(root, 'many.tar');
  const result = await archiveSlowly(src, file, () => {
    for (let i = 0; i < n; i++) fs.rmSync(join(src, `v${String(i).padStart(4, '0')}`));
  });
  assert.equal(result.unreadable, n);
  assert.equal(result.warnings.length, MAX_WARNINGS + 1);
  assert.equal(result.warnings.at(-1), '... and 7 more');
});

test('a file name that is not valid UTF-8 is reported, not silently dropped', async () => {
  const src = join(root, 'latin1', 'vol');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(join(src, 'fine.txt'), 'ok');
  fs.writeFileSync(Buffer.concat([Buffer.from(src + '/caf'), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin-1 name');
  const file = join(root, 'latin1.tar');
  const result = await archiveSlowly(src, file, () => {});
  assert.equal(result.unreadable, 1);
  assert.match(result.warnings[0]!, /caf\uFFFD\.txt: file name is not valid UTF-8/);
  assert.equal(result.files, 1);
});
