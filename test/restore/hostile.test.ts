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
import { extractArchive } from '../../src/archive/extract.ts';
import { prepareEncryption } from '../../src/crypto/index.ts';
import { parseEncryptionConfig } from '../../src/crypto/config.ts';
import { UserError } from '../../src/errors.ts';
import { buildTar, buildTgz, layout, listAll, type TarEntry } from './build.ts';
import { through } from '../crypto/tools.ts';

let base: string;
before(() => { base = mkdtempSync(join(tmpdir(), 'offsite-hostile-')); });
after(() => { rmSync(base, { recursive: true, force: true }); });

const KEY_HEX = '5f'.repeat(32);
const keysFor = (env: Record<string, string>) => parseEncryptionConfig(env, [])!.keys;

/** Many files, so a cut or flipped archive has entries extracted before the damage. */
const bulky: TarEntry[] = [
  { name: 'data/', type: 'directory' },
  ...Array.from({ length: 40 }, (_, i) => ({ name: `data/file-${i}.bin`, content: randomBytes(20_000) })),
];

let caseNo = 0;
async function refused(archive: Buffer, pattern: RegExp, opts: { keys?: Record<string, string>; prepare?: (target: string, outside: string) => void; force?: boolean } = {}): Promise<void> {
  const { root, target, outside } = layout(base, `case-${++caseNo}`);
  opts.prepare?.(target, outside);
  const before = listAll(target);
  await assert.rejects(
    extractArchive(Readable.from([archive]), { target, keys: opts.keys ? keysFor(opts.keys) : {}, force: opts.force }),
    (e: Error) => {
      assert.ok(e instanceof UserError, `expected a UserError, got ${e.name}: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
  assert.deepEqual(listAll(target), before, 'the target is left as it was');
  assert.deepEqual(readdirSync(outside), ['sentinel'], 'nothing written outside');
  assert.equal(readFileSync(join(outside, 'sentinel'), 'utf8'), 'untouched');
  assert.deepEqual(readdirSync(root).sort(), ['outside', 'target']);
}

test('path traversal with ..', async () => {
  await refused(await buildTgz([{ name: 'ok.txt', content: 'fine' }, { name: '../outside/evil', content: 'x' }]), /outside the target.*"\.\."/);
  await refused(await buildTgz([{ name: 'a/b/../../../outside/evil', content: 'x' }]), /outside the target/);
});

test('absolute path', async () => {
  const { outside } = layout(base, 'abs-probe');
  await refused(await buildTgz([{ name: 'ok.txt', content: 'fine' }, { name: join(outside, 'evil'), content: 'x' }]), /absolute path/);
});

test('symlink escape and a write through it', async () => {
  await refused(await buildTgz([{ name: 'esc', type: 'symlink', linkname: '../outside' }, { name: 'esc/evil', content: 'x' }]), /written through the symbolic link "esc"/);
  await refused(await buildTgz([{ name: 'esc', type: 'symlink', linkname: '/' }, { name: 'esc/tmp/evil', content: 'x' }]), /through the symbolic link/);
  await refused(await buildTgz([
    { name: 'd/', type: 'directory' }, { name: 'd/l', type: 'symlink', linkname: '../../outside' }, { name: 'd/l/evil', content: 'x' },
  ]), /through the symbolic link "d\/l"/);
  await refused(await buildTgz([{ name: 'esc', type: 'symlink', linkname: '../outside' }, { name: 'esc/', type: 'directory' }]), /through the symbolic link|replace the symbolic link/);
});

test('symlink replacing a directory that was already extracted', async () => {
  await refused(await buildTgz([
    { name: 'd/', type: 'directory' }, { name: 'd/x', content: 'x' }, { name: 'd', type: 'symlink', linkname: '../outside' }, { name: 'd/y', content: 'y' },
  ]), /both a directory and a non-directory entry "d"/);
});

test('hard link escapes', async () => {
  const { outside } = layout(base, 'hl-probe');
  await refused(await buildTgz([{ name: 'h', type: 'link', linkname: '../outside/sentinel' }, { name: 'h', content: 'overwrite' }]), /hard link target.*outside the target/);
  await refused(await buildTgz([{ name: 'h', type: 'link', linkname: join(outside, 'sentinel') }]), /absolute path/);
  await refused(await buildTgz([{ name: 's', type: 'symlink', linkname: '../outside' }, { name: 'h', type: 'link', linkname: 's/sentinel' }]), /points through the symbolic link "s"/);
  await refused(await buildTgz([{ name: 'h', type: 'link', linkname: 'missing' }]), /not an earlier entry/);
});

test('oversized headers and names', async () => {
  await refused(await buildTgz([{ name: 'big', content: 'x', pax: { comment: 'x'.repeat(5 * 1024 * 1024) } }]), /oversized tar header/);
  await refused(await buildTgz([{ name: `${'d/'.repeat(2100)}f`, content: 'x' }]), /more than 4096/);
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
  await refused(randomBytes(4096), /not an offsite archive/);
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
  const r = await extractArchive(Readable.from([await buildTgz([
    { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 },
    { name: 'disk', type: 'block-device', devmajor: 8, devminor: 0 },
    { name: 'pipe', type: 'fifo' },
    { name: 'kept.txt', content: 'kept' },
  ])]), { target });
  assert.deepEqual(listAll(target), ['kept.txt']);
  assert.equal(r.skipped, 3);
  assert.equal(r.warnings.length, 3);
  assert.match(r.warnings.join('\n'), /character-device null skipped/);
  assert.deepEqual(readdirSync(outside), ['sentinel']);
});

test('a later regular file replaces a symlink of the same name instead of writing through it', async () => {
  const { target, outside } = layout(base, 'replace-link');
  await extractArchive(Readable.from([await buildTgz([
    { name: 'x', type: 'symlink', linkname: '../outside/sentinel' },
    { name: 'x', content: 'new content' },
    { name: 'y', type: 'symlink', linkname: '../outside/sentinel' },
  ])]), { target });
  assert.ok(lstatSync(join(target, 'x')).isFile());
  assert.equal(readFileSync(join(target, 'x'), 'utf8'), 'new content');
  assert.equal(readlinkSync(join(target, 'y')), '../outside/sentinel', 'a dangling or outward symlink is restored as a link, not followed');
  assert.equal(readFileSync(join(outside, 'sentinel'), 'utf8'), 'untouched');
});

test('--force over a target holding a symlink never writes through it', async () => {
  const { target, outside } = layout(base, 'force-link');
  mkdirSync(target);
  symlinkSync(outside, join(target, 'data'));
  const tgz = await buildTgz([{ name: 'data/', type: 'directory' }, { name: 'data/pwned', content: 'x' }, { name: 'data/sentinel', content: 'replaced?' }]);
  await refused(tgz, /target directory .* is not empty/, { prepare: (t, o) => { mkdirSync(t); symlinkSync(o, join(t, 'data')); } });
  await extractArchive(Readable.from([tgz]), { target, force: true });
  assert.ok(lstatSync(join(target, 'data')).isDirectory(), 'the symlink was replaced by the directory');
  assert.deepEqual(readdirSync(outside), ['sentinel']);
  assert.equal(readFileSync(join(outside, 'sentinel'), 'utf8'), 'untouched');
  assert.equal(readFileSync(join(target, 'data/pwned'), 'utf8'), 'x');
});
