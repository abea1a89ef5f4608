/**
 * BACKUP_FROM_SNAPSHOT (deprecated, read as offen reads it, issue 13): the sources are
 * copied into BACKUP_TMP_DIR, the copy is archived under the sources' own paths, and the
 * copy is removed afterwards.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync, symlinkSync, utimesSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { describeTree } from '../helpers/tree.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('BACKUP_FROM_SNAPSHOT archives a copy of the sources under their own paths and removes the copy', () => {
  const { dir, env: base } = isolatedEnv();
  dirs.push(dir);
  const src = join(dir, 'backup', 'app');
  mkdirSync(join(src, 'sub'), { recursive: true });
  writeFileSync(join(src, 'keep.txt'), 'keep\n');
  writeFileSync(join(src, 'sub', 'skip.txt'), 'only excluded when the walk sees the snapshot\n');
  writeFileSync(join(src, 'run.sh'), '#!/bin/sh\n');
  chmodSync(join(src, 'run.sh'), 0o750);
  symlinkSync('keep.txt', join(src, 'link'));
  const old = new Date('2001-09-09T01:46:40Z');
  utimesSync(join(src, 'keep.txt'), old, old);
  const archiveDir = join(dir, 'archive');
  const tmp = join(dir, 'tmp');
  mkdirSync(archiveDir);
  mkdirSync(tmp);
  const env = {
    ...base,
    BACKUP_SOURCES: src,
    BACKUP_ARCHIVE: archiveDir,
    BACKUP_TMP_DIR: tmp,
    BACKUP_FROM_SNAPSHOT: 'true',
    BACKUP_FILENAME: 'snap.tar.gz',
    // as in offen, the exclude pattern sees the snapshot's paths
    BACKUP_EXCLUDE_REGEXP: '/offsite-snapshot-[^/]+/.*/skip\\.txt$',
  };
  const r = runCli(['backup'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /BACKUP_FROM_SNAPSHOT is deprecated/);
  assert.match(r.stdout, /created snapshot of \S+\/backup\/app at \S+\/tmp\/offsite-snapshot-/);
  assert.match(r.stdout, /removed snapshot/);
  assert.deepEqual(readdirSync(tmp), [], 'the snapshot is removed');

  const A = src.slice(1);
  const list = execFileSync('tar', ['-tzf', join(archiveDir, 'snap.tar.gz')], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .sort();
  assert.deepEqual(
    list,
    ['.offsite-manifest.json', `${A}/`, `${A}/keep.txt`, `${A}/link`, `${A}/run.sh`, `${A}/sub/`],
    "the sources' own paths; skip.txt excluded through the snapshot path",
  );
  const out = join(dir, 'restored');
  mkdirSync(out);
  execFileSync('tar', ['-xzf', join(archiveDir, 'snap.tar.gz'), '-C', out]);
  const { mtime: subTime, atime: subAtime } = statSync(join(src, 'sub'));
  rmSync(join(src, 'sub', 'skip.txt'));
  utimesSync(join(src, 'sub'), subAtime, subTime);
  assert.deepEqual(describeTree(join(out, A), false), describeTree(src, false), 'contents, modes, times and links as the sources');
});
