/**
 * Every archive format offsite ever wrote stays readable: one fixture backup
 * per format version (test/fixtures/format-v<N>/, made by
 * test/fixtures/make-format-fixture.ts and never regenerated) is listed,
 * verified and restored. A newer format than this offsite knows is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLocalDestination } from '../../src/destinations/local.ts';
import { silentLogger } from '../../src/log.ts';
import { verifyBackup, restoreBackup } from '../../src/restore/index.ts';
import { listBackups } from '../../src/restore/list.ts';
import { FORMAT_VERSION, MANIFEST_ENTRY } from '../../src/manifest/index.ts';
import { extractArchive } from '../../src/archive/extract.ts';
import { describeTree } from '../helpers/tree.ts';
import { buildTgz } from './build.ts';

const FIXTURE_KEY = '0f'.repeat(32);
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const log = silentLogger();
const versions = readdirSync(fixtures)
  .map((d) => /^format-v(\d+)$/.exec(d))
  .filter((m) => m !== null)
  .map((m) => Number(m[1]))
  .sort((a, b) => a - b);

test('there is a fixture for every format version up to the current one', () => {
  assert.deepEqual(
    versions,
    Array.from({ length: FORMAT_VERSION }, (_, i) => i + 1),
  );
});

for (const v of versions) {
  test(`format v${v} fixtures list, verify and restore exactly`, async () => {
    const dir = join(fixtures, `format-v${v}`);
    const expected = new Map(JSON.parse(readFileSync(join(dir, 'tree.json'), 'utf8')) as Array<[string, unknown]>);
    const dest = createLocalDestination({ dir, latestSymlink: null }, log);
    const listed = (await listBackups([dest])).filter((b) => b.name !== 'tree.json');
    assert.equal(listed.length, 2);
    const base = mkdtempSync(join(tmpdir(), 'offsite-fixture-restore-'));
    try {
      for (const b of listed) {
        assert.equal(b.manifest?.formatVersion, v, b.name);
        const keys = { aesKeyHex: FIXTURE_KEY };
        const report = await verifyBackup({ destination: dest, name: b.name, keys, log });
        assert.ok(report.ok && report.contentChecked, `${b.name}: ${report.problems.join('; ')}`);
        const target = join(base, b.name);
        await restoreBackup({ destination: dest, name: b.name, target, keys, log });
        assert.deepEqual(describeTree(join(target, 'data'), false), expected, b.name);
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
}

test('an archive whose manifest has a newer format version is refused, nothing written', async () => {
  const manifest = {
    format: 'offsite-backup',
    formatVersion: FORMAT_VERSION + 1,
    offsiteVersion: '99.0.0',
    job: 'x',
    created: new Date().toISOString(),
    sources: [],
    counts: { files: 1, directories: 0, symlinks: 0 },
    bytes: 1,
    compression: 'gz',
    encryption: 'none',
    newField: { unknown: true },
  };
  const tgz = await buildTgz([
    { name: MANIFEST_ENTRY, content: JSON.stringify(manifest) },
    { name: 'data/a.txt', content: 'a' },
  ]);
  const base = mkdtempSync(join(tmpdir(), 'offsite-newer-'));
  try {
    const dir = join(base, 'store');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'future.tar.gz'), tgz);
    const dest = createLocalDestination({ dir, latestSymlink: null }, log);
    const target = join(base, 'target');
    await assert.rejects(
      restoreBackup({ destination: dest, name: 'future.tar.gz', target, keys: {}, log }),
      new RegExp(`written by offsite 99\\.0\\.0 in backup format version ${FORMAT_VERSION + 1}; this offsite .* reads format versions up to ${FORMAT_VERSION}`),
    );
    assert.ok(!existsSync(target), 'nothing restored: the target this restore created is removed');
    const v = await verifyBackup({ destination: dest, name: 'future.tar.gz', keys: {}, log });
    assert.equal(v.ok, false);
    assert.match(v.problems.join('\n'), /newer offsite release/);
    // a foreign archive without any manifest still restores (e.g. made by GNU tar or offen)
    await extractArchive(Readable.from([await buildTgz([{ name: 'data/b.txt', content: 'b' }])]), { target: join(base, 'plain') });
    assert.deepEqual(readdirSync(join(base, 'plain', 'data')), ['b.txt']);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
