/**
 * Hostile and broken archives: each is refused with a clear error, nothing is
 * written outside the target, and the target is left empty (no partial restore).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, readdirSync, symlinkSync, mkdirSync, lstatSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { extractArchive, verifyArchiveStream, MANIFEST_ENTRY } from '../../src/archive/extract.ts';
import { prepareEncryption } from '../../src/crypto/index.ts';
import { parseEncryptionConfig } from '../../src/crypto/config.ts';
import { UserError } from '../../src/errors.ts';
import { buildTar, buildTgz, layout, listAll, type TarEntry } from './build.ts';
import { through } from '../crypto/tools.ts';

let base: string;
before(() => {
  base = mkdtempSync(join(tmpdir(), 'offsite-hostile-'));
});
after(() => {
  rmSync(base, { recursive: true, force: true });
});

const KEY_HEX = '5f'.repeat(32);
const keysFor = (env: Record<string, string>) => parseEncryptionConfig(env, [])!.keys;

/** Many files, so a cut or flipped archive has entries extracted before the damage. */
const bulky: TarEntry[] = [
  { name: 'data/', type: 'directory' },
  ...Array.from({ length: 40 }, (_, i) => ({ name: `data/file-${i}.bin`, content: randomBytes(20_000) })),
];

let caseNo = 0;
async function refused(
  archive: Buffer,
  pattern: RegExp,
  opts: { keys?: Record<string, string>; prepare?: (target: string, outside: string) => void; force?: boolean } = {},
): Promise<void> {
  const { root, target, outside } = layout(base, `case-${++caseNo}`);
  opts.prepare?.(target, outside);
  const before = listAll(target);
  await assert.rejects(extractArchive(Readable.from([archive]), { target, keys: opts.keys ? keysFor(opts.keys) : {}, force: opts.force }), (e: Error) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
  assert.deepEqual(listAll(target), before, 'the target is left as it was');
  assert.deepEqual(readdirSync(outside), ['sentinel'], 'nothing written outside');
  assert.equal(readFileSync(join(outside, 'sentinel'), 'utf8'), 'untouched');
  // a target that did not exist is removed again; one that existed stays
  assert.deepEqual(readdirSync(root).sort(), opts.prepare ? ['outside', 'target'] : ['outside']);
  // verify refuses what restore refuses, for the same reason (only a non-empty target is restore's own business)
  if (!opts.prepare) {
    await assert.rejects(verifyArchiveStream(Readable.from([archive]), { keys: opts.keys ? keysFor(opts.keys) : {} }), (e: Error) => {
      assert.ok(e instanceof UserError, `verify: expected a UserError, got ${e.name}: ${e.message}`);
      assert.match(e.message, pattern, 'verify gives the same reason');
      return true;
    });
  }
}

test('path traversal with ..', async () => {
  await refused(
    await buildTgz([
      { name: 'ok.txt', content: 'fine' },
      { name: '../outside/evil', content: 'x' },
    ]),
    /outside the target.*"\.\."/,
  );
  await refused(await buildTgz([{ name: 'a/b/../../../outside/evil', content: 'x' }]), /outside the target/);
});

test('a leading "/" is dropped, as GNU tar does (offen writes every entry so): the entry lands inside the target', async () => {
  const { target, outside } = layout(base, 'abs-probe');
  const archive = await buildTgz([
    { name: 'ok.txt', content: 'fine' },
    { name: join(outside, 'evil'), content: 'x' },
    { name: '/h', type: 'link', linkname: join(outside, 'evil') },
  ]);
  await extractArchive(Readable.from([archive]), { target, keys: {} });
  assert.deepEqual(readdirSync(outside), ['sentinel'], 'nothing written outside');
  assert.equal(readFileSync(join(target, outside.slice(1), 'evil'), 'utf8'), 'x');
  assert.equal(readFileSync(join(target, 'h'), 'utf8'), 'x', 'a hard link target with a leading "/" is inside the target too');
  // ".." after the leading "/" is still refused
  await refused(await buildTgz([{ name: '/../outside/evil', content: 'x' }]), /outside the target.*"\.\."/);
});

test('symlink escape and a write through it', async () => {
  await refused(
    await buildTgz([
      { name: 'esc', type: 'symlink', linkname: '../outside' },
      { name: 'esc/evil', content: 'x' },
    ]),
    /written through the symbolic link "esc"/,
  );
  await refused(
    await buildTgz([
      { name: 'esc', type: 'symlink', linkname: '/' },
      { name: 'esc/tmp/evil', content: 'x' },
    ]),
    /through the symbolic link/,
  );
  await refused(
    await buildTgz([
      { name: 'd/', type: 'directory' },
      { name: 'd/l', type: 'symlink', linkname: '../../outside' },
      { name: 'd/l/evil', content: 'x' },
    ]),
    /through the symbolic link "d\/l"/,
  );
  await refused(
    await buildTgz([
      { name: 'esc', type: 'symlink', linkname: '../outside' },
      { name: 'esc/', type: 'directory' },
    ]),
    /through the symbolic link|replace the symbolic link/,
  );
});

test('symlink replacing a directory that was already extracted', async () => {
  await refused(
    await buildTgz([
      { name: 'd/', type: 'directory' },
      { name: 'd/x', content: 'x' },
      { name: 'd', type: 'symlink', linkname: '../outside' },
      { name: 'd/y', content: 'y' },
    ]),
    /both a directory and a non-directory entry "d"/,
  );
});

test('hard link escapes', async () => {
  const { outside } = layout(base, 'hl-probe');
  await refused(
    await buildTgz([
      { name: 'h', type: 'link', linkname: '../outside/sentinel' },
      { name: 'h', content: 'overwrite' },
    ]),
    /hard link target.*outside the target/,
  );
  // a leading "/" is dropped: the target is <target>/<outside>/sentinel, no earlier entry
  await refused(await buildTgz([{ name: 'h', type: 'link', linkname: join(outside, 'sentinel') }]), /not an earlier entry/);
  await refused(
    await buildTgz([
      { name: 's', type: 'symlink', linkname: '../outside' },
      { name: 'h', type: 'link', linkname: 's/sentinel' },
    ]),
    /points through the symbolic link "s"/,
  );
  await refused(await buildTgz([{ name: 'h', type: 'link', linkname: 'missing' }]), /not an earlier entry/);
});

test('oversized headers and names', async () => {
  await refused(await buildTgz([{ name: 'big', content: 'x', pax: { comment: 'x'.repeat(5 * 1024 * 1024) } }]), /oversized tar header/);
  await refused(await buildTgz([{ name: `${'d/'.repeat(2100)}f`, content: 'x' }]), /4201 bytes long \(more than the 4095 bytes/);
  await refused(await buildTgz([{ name: `${'n'.repeat(300)}`, content: 'x' }]), /longer than 255 bytes/);
});

test('truncation at several points', async () => {
  const tgz = await buildTgz(bulky);
  for (const at of [0.1, 0.5, 0.9]) await refused(tgz.subarray(0, Math.floor(tgz.length * at)), /gzip data is truncated/);
  await refused(tgz.subarray(0, tgz.length - 4), /gzip data is truncated/); // inside the trailer
  await refused(tgz.subarray(0, 5), /gzip data is truncated/);
  // a plain tar cut exactly between two entries: only the end-of-archive marker tells
  const plain = await buildTar(bulky);
  const firstFileEnd = 512 + 512 + Math.ceil(20_000 / 512) * 512;
  await refused(plain.subarray(0, firstFileEnd), /truncated.*end-of-archive marker/);
  await refused(plain.subarray(0, firstFileEnd + 100), /truncated/);
});

test('flipped bits and trailing garbage', async () => {
  const tgz = await buildTgz(bulky);
  for (const pos of [Math.floor(tgz.length / 2), tgz.length - 6 /* CRC */]) {
    const bad = Buffer.from(tgz);
    bad[pos]! ^= 0x10;
    await refused(bad, /gzip data is corrupted/);
  }
  await refused(Buffer.concat([tgz, Buffer.from('garbage after the gzip member')]), /gzip data is corrupted/);
  const plain = await buildTar(bulky);
  const bad = Buffer.from(plain);
  bad[512 + 512 + Math.ceil(20_000 / 512) * 512 + 10]! ^= 0x01; // inside the second file's header
  await refused(bad, /tar data is corrupted/);
});

test('not an archive at all', async () => {
  const junk = randomBytes(4096);
  junk[0] = 0; // random bytes with the high bit set can look like an OpenPGP packet
  await refused(junk, /not an offsite archive/);
  await refused(Buffer.alloc(0), /empty/);
  await refused(Buffer.from('hello'), /not an offsite archive/);
});

test('encrypted: wrong key, flipped bits, truncation, newer version', async () => {
  const tgz = await buildTgz(bulky);
  const envs: Record<string, Record<string, string>> = {
    aes: { BACKUP_ENCRYPTION_KEY: KEY_HEX },
    gpg: { GPG_PASSPHRASE: 'hostile-pass' },
    age: { AGE_PASSPHRASE: 'hostile-pass' },
  };
  const wrong: Record<string, Record<string, string>> = {
    aes: { BACKUP_ENCRYPTION_KEY: '60'.repeat(32) },
    gpg: { GPG_PASSPHRASE: 'not-the-pass' },
    age: { AGE_PASSPHRASE: 'not-the-pass' },
  };
  for (const [method, env] of Object.entries(envs)) {
    const prepared = await prepareEncryption(parseEncryptionConfig(env, [])!, { scryptLogN: 12 });
    const sealed = await through(tgz, prepared.encrypt!());
    await refused(sealed, /wrong passphrase or key|not the key/, { keys: wrong[method] });
    await refused(sealed, /BACKUP_ENCRYPTION_KEY is not set|neither .* is set/, {});
    const flipped = Buffer.from(sealed);
    flipped[Math.floor(sealed.length * 0.6)]! ^= 0x04;
    await refused(flipped, /corrupted|truncated/, { keys: env });
    for (const at of [0.3, 0.99]) await refused(sealed.subarray(0, Math.floor(sealed.length * at)), /truncated|corrupted/, { keys: env });
    if (method === 'aes') {
      const newer = Buffer.from(sealed);
      newer[6] = 9;
      await refused(newer, /version 9 of offsite's AES format/, { keys: env });
    }
  }
});

test('devices and fifos are skipped, never created', async () => {
  const { target, outside } = layout(base, 'devices');
  const r = await extractArchive(
    Readable.from([
      await buildTgz([
        { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 },
        { name: 'disk', type: 'block-device', devmajor: 8, devminor: 0 },
        { name: 'pipe', type: 'fifo' },
        { name: 'kept.txt', content: 'kept' },
      ]),
    ]),
    { target },
  );
  assert.deepEqual(listAll(target), ['kept.txt']);
  assert.equal(r.skipped, 3);
  assert.equal(r.warnings.length, 3);
  assert.match(r.warnings.join('\n'), /character-device null skipped/);
  assert.deepEqual(readdirSync(outside), ['sentinel']);
});

test('a later regular file replaces a symlink of the same name instead of writing through it', async () => {
  const { target, outside } = layout(base, 'replace-link');
  await extractArchive(
    Readable.from([
      await buildTgz([
        { name: 'x', type: 'symlink', linkname: '../outside/sentinel' },
        { name: 'x', content: 'new content' },
        { name: 'y', type: 'symlink', linkname: '../outside/sentinel' },
      ]),
    ]),
    { target },
  );
  assert.ok(lstatSync(join(target, 'x')).isFile());
  assert.equal(readFileSync(join(target, 'x'), 'utf8'), 'new content');
  assert.equal(readlinkSync(join(target, 'y')), '../outside/sentinel', 'a dangling or outward symlink is restored as a link, not followed');
  assert.equal(readFileSync(join(outside, 'sentinel'), 'utf8'), 'untouched');
});

test('--force over a target holding a symlink never writes through it', async () => {
  const { target, outside } = layout(base, 'force-link');
  mkdirSync(target);
  symlinkSync(outside, join(target, 'data'));
  const tgz = await buildTgz([
    { name: 'data/', type: 'directory' },
    { name: 'data/pwned', content: 'x' },
    { name: 'data/sentinel', content: 'replaced?' },
  ]);
  await refused(tgz, /target directory .* is not empty/, {
    prepare: (t, o) => {
      mkdirSync(t);
      symlinkSync(o, join(t, 'data'));
    },
  });
  await extractArchive(Readable.from([tgz]), { target, force: true });
  assert.ok(lstatSync(join(target, 'data')).isDirectory(), 'the symlink was replaced by the directory');
  assert.deepEqual(readdirSync(outside), ['sentinel']);
  assert.equal(readFileSync(join(outside, 'sentinel'), 'utf8'), 'untouched');
  assert.equal(readFileSync(join(target, 'data/pwned'), 'utf8'), 'x');
});

test('what verify passed but restore refused: a hard link to a path not in the archive, a file and a directory of one name, paths too long for the file system', async () => {
  await refused(
    await buildTgz([
      { name: 'ok.txt', content: 'x' },
      { name: 'h', type: 'link', linkname: 'missing' },
    ]),
    /hard link "h" points to "missing", which is not an earlier entry/,
  );
  await refused(
    await buildTgz([
      { name: 'd/', type: 'directory' },
      { name: 'h', type: 'link', linkname: 'd' },
    ]),
    /hard link "h" points to a directory/,
  );
  await refused(
    await buildTgz([
      { name: 'a', content: 'x' },
      { name: 'a/', type: 'directory' },
    ]),
    /stores "a" as a file and also as a directory/,
  );
  await refused(
    await buildTgz([
      { name: 'a', content: 'x' },
      { name: 'a/b', content: 'y' },
    ]),
    /stores "a" as a file and also has "a\/b" inside it/,
  );
  await refused(
    await buildTgz([
      { name: 'f', content: 'x' },
      { name: 'h', type: 'link', linkname: 'f' },
      { name: 'h/x', content: 'y' },
    ]),
    /stores "h" as a file and also has "h\/x" inside it/,
  );
  // PATH_MAX is 4096 bytes with its NUL: a 4096-byte path cannot be created anywhere
  await refused(await buildTgz([{ name: `${'d/'.repeat(2047)}ff`, content: 'x' }]), /4096 bytes long \(more than the 4095 bytes/);
  await refused(await buildTgz([{ name: 's', type: 'symlink', linkname: 'x'.repeat(4096) }]), /symbolic link "s" has a target of 4096 bytes/);
  await refused(await buildTgz([{ name: `${'n'.repeat(256)}/`, type: 'directory' }]), /longer than 255 bytes/);
});

test('a path that fits the archive but not under the chosen target is refused with the length to use; verify names the limit', async () => {
  const deep = `${'p'.repeat(200)}/`.repeat(19) + 'f'; // 3820 bytes
  const tgz = await buildTgz([{ name: deep, content: 'x' }]);
  const { root, target } = layout(base, `${'long'.repeat(60)}`);
  const longTarget = join(target, 'q'.repeat(250), 'r'.repeat(100));
  await assert.rejects(extractArchive(Readable.from([tgz]), { target: longTarget }), (e: Error) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /is 3820 bytes long: under .* it would be longer than the 4095 bytes/);
    assert.match(e.hint ?? '', /restore into a directory with a shorter path \(at most 244 bytes/);
    return true;
  });
  assert.deepEqual(readdirSync(root).sort(), ['outside'], 'the directories made for the target are removed');
  const v = await verifyArchiveStream(Readable.from([tgz]));
  assert.match(v.warnings.join('\n'), /the longest path in the archive is 3820 bytes: restore it into a directory whose path is at most 244 bytes/);
  const ok = join(base, 'short');
  await extractArchive(Readable.from([tgz]), { target: ok });
  assert.equal(readFileSync(join(ok, deep), 'utf8'), 'x');
  rmSync(ok, { recursive: true });
});

/** A plain tar whose header announces `size` bytes of zeros, produced lazily (never held in memory). */
function zeroBomb(size: number, manifest?: object): Readable {
  return Readable.from(
    (async function* () {
      if (manifest) yield await buildTar([{ name: MANIFEST_ENTRY, content: JSON.stringify(manifest) }]).then((b) => b.subarray(0, b.length - 1024));
      const header = (await buildTar([{ name: 'zeros.bin', content: 'x' }])).subarray(0, 512);
      const h = Buffer.from(header);
      h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
      h.fill(' ', 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
      yield h;
      const chunk = Buffer.alloc(1 << 20);
      for (let n = 0; n < size; n += chunk.length) yield chunk;
    })(),
  );
}

test("a decompression bomb beyond the manifest's byte count is refused before it is written, and nothing is left", async () => {
  // the sidecar's exact count (restore and verify pass it as maxBytes)
  const gz = await buildTgz([
    { name: 'small.txt', content: 'x'.repeat(100) },
    { name: 'bomb.bin', content: Buffer.alloc(32 * 1024 * 1024) },
  ]);
  assert.ok(gz.length < 100_000, 'a small archive');
  const { root, target } = layout(base, 'bomb-sidecar');
  await assert.rejects(
    extractArchive(Readable.from([gz]), { target: join(target, 'new'), maxBytes: 100, maxBytesSource: 'which its manifest says were archived' }),
    (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        /more file content than 100 bytes, which its manifest says were archived \(entry "bomb.bin" alone is 33554432 bytes\): a decompression bomb/,
      );
      return true;
    },
  );
  assert.deepEqual(readdirSync(root), ['outside'], 'nothing written, the target made for it removed');
  await assert.rejects(verifyArchiveStream(Readable.from([gz]), { maxBytes: 100, maxBytesSource: 'x' }), /decompression bomb/);

  // without a sidecar, the manifest inside the archive bounds it (twice its count plus 1 GiB): 8 TiB announced
  const announced = 8 * 1024 ** 4;
  const m = {
    format: 'offsite-backup',
    formatVersion: 1,
    offsiteVersion: '0',
    job: 'x',
    created: new Date().toISOString(),
    sources: [],
    counts: { files: 1, directories: 0, symlinks: 0 },
    bytes: 1000,
    compression: 'none',
    encryption: 'none',
  };
  const t2 = join(base, 'bomb-inside');
  await assert.rejects(
    extractArchive(zeroBomb(announced, m), { target: t2 }),
    /more file content than 1073743824 bytes, twice the 1000 bytes its manifest counted before archiving, plus 1 GiB/,
  );
  assert.throws(() => readdirSync(t2), /ENOENT/);
  await assert.rejects(verifyArchiveStream(zeroBomb(announced, m)), /decompression bomb/);
});
