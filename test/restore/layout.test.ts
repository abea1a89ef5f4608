/**
 * Archive layout (issue 13): each source is stored under its path without the
 * leading slash (`/backup/app/x` -> `backup/app/x`), as offen stores it, and
 * `offsite restore` handles that layout and the base-name layout of archives
 * made by earlier offsite versions (test/fixtures/format-v1). Each restore is
 * cross-checked with what GNU tar extracts from the same archive.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTree, describeTree } from '../helpers/tree.ts';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const fixtures = fileURLToPath(new URL('../fixtures/format-v1/', import.meta.url));

/** The archive's paths, as GNU tar lists them. */
function gnuList(file: string): string[] {
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n');
}

function gnuExtract(file: string, into: string): void {
  mkdirSync(into, { recursive: true });
  execFileSync('tar', ['-xzf', file, '-C', into, '--exclude', '.offsite-manifest.json']);
}

test('new backups store each source under its path without the leading slash; restore and GNU tar agree', () => {
  const { dir, env: base } = isolatedEnv();
  dirs.push(dir);
  const app = join(dir, 'backup', 'app');
  const other = join(dir, 'data', 'app'); // the same base name: allowed now, stored side by side
  makeTree(app);
  mkdirSync(other, { recursive: true });
  writeFileSync(join(other, 'other.txt'), 'other\n');
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const env = { ...base, BACKUP_SOURCES: `${app},${other}`, BACKUP_ARCHIVE: archiveDir, BACKUP_FILENAME: 'layout.tar.gz' };
  const b = runCli(['backup'], env);
  assert.equal(b.code, 0, b.stdout + b.stderr);
  const file = join(archiveDir, 'layout.tar.gz');

  const list = gnuList(file);
  assert.equal(list[0], '.offsite-manifest.json');
  const A = app.slice(1);
  const O = other.slice(1);
  assert.ok(list.includes(`${A}/plain.txt`), list.join('\n'));
  assert.ok(list.includes(`${O}/other.txt`), list.join('\n'));
  assert.ok(
    list.slice(1).every((p) => p.startsWith(`${A}/`) || p.startsWith(`${O}/`)),
    'every entry under a source path',
  );
  const manifest = JSON.parse(readFileSync(join(archiveDir, 'layout.tar.gz.manifest.json'), 'utf8')) as { layout?: string };
  assert.equal(manifest.layout, 'path');

  const restored = join(dir, 'restored');
  const r = runCli(['restore', 'latest', '--to', restored], env);
  assert.equal(r.code, 0, r.stderr);
  const byTar = join(dir, 'by-tar');
  gnuExtract(file, byTar);
  assert.deepEqual(describeTree(join(restored, A), false), describeTree(app, false));
  assert.deepEqual(describeTree(join(restored, O), false), describeTree(other, false));
  assert.deepEqual(describeTree(restored), describeTree(byTar), 'offsite restore and GNU tar extract the same tree');

  // --include takes the archive path as listed, or the source's absolute path: the same files
  for (const [tag, include] of [
    ['rel', `${A}/ünïcödé`],
    ['abs', `${app}/ünïcödé`],
  ] as const) {
    const part = join(dir, `part-${tag}`);
    const p = runCli(['restore', 'latest', '--to', part, '--include', include], env);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(readdirSync(join(part, A)), ['ünïcödé'], tag);
    assert.deepEqual(describeTree(join(part, A, 'ünïcödé'), false), describeTree(join(app, 'ünïcödé'), false), tag);
  }
});

test('overlapping BACKUP_SOURCES are a configuration error naming the variable', () => {
  const { dir, env: base } = isolatedEnv();
  dirs.push(dir);
  const app = join(dir, 'backup', 'app');
  makeTree(app);
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const b = runCli(['backup'], { ...base, BACKUP_SOURCES: `${join(dir, 'backup')},${app}`, BACKUP_ARCHIVE: archiveDir });
  assert.equal(b.code, 2, b.stdout + b.stderr);
  assert.match(b.stderr, /BACKUP_SOURCES.*is inside the source/);
  assert.deepEqual(readdirSync(archiveDir), [], 'nothing was backed up');
});

test('an archive of an earlier offsite (sources under their base names) restores as GNU tar extracts it; --include takes the source path too', () => {
  const { dir: base, env: baseEnv } = isolatedEnv();
  dirs.push(base);
  const archiveDir = join(base, 'archive');
  const name = 'format-v1-plain.tar.gz';
  mkdirSync(archiveDir);
  for (const f of [name, `${name}.manifest.json`]) copyFileSync(join(fixtures, f), join(archiveDir, f));
  const env = { ...baseEnv, BACKUP_ARCHIVE: archiveDir };
  const sidecar = JSON.parse(readFileSync(join(archiveDir, `${name}.manifest.json`), 'utf8')) as { sources: string[]; layout?: string };
  assert.equal(sidecar.layout, undefined, 'an archive from before the layout field');
  assert.ok(gnuList(join(archiveDir, name)).includes('data/docs/readme.txt'), 'stored under the base name');

  const restored = join(base, 'restored');
  const r = runCli(['restore', name, '--to', restored], env);
  assert.equal(r.code, 0, r.stderr);
  const byTar = join(base, 'by-tar');
  gnuExtract(join(archiveDir, name), byTar);
  assert.deepEqual(readdirSync(restored), ['data']);
  assert.deepEqual(describeTree(restored), describeTree(byTar));

  // the source's absolute path (/tmp/offsite-fixture-.../data/docs) maps to the old layout's data/docs
  for (const [tag, include] of [
    ['rel', 'data/docs'],
    ['abs', `${sidecar.sources[0]}/docs`],
  ] as const) {
    const part = join(base, `part-${tag}`);
    const p = runCli(['restore', name, '--to', part, '--include', include], env);
    assert.equal(p.code, 0, `${tag}: ${p.stderr}`);
    assert.deepEqual(readdirSync(join(part, 'data')), ['docs'], tag);
    assert.deepEqual(describeTree(join(part, 'data', 'docs')), describeTree(join(byTar, 'data', 'docs')), tag);
  }
  // an absolute path outside every source matches nothing, and says so as given
  const none = runCli(['restore', name, '--to', join(base, 'none'), '--include', '/elsewhere/docs'], env);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /--include "\/elsewhere\/docs" matched nothing/);
});
