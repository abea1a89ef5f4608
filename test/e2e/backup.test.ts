import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync, utimesSync, existsSync, createReadStream, readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { makeTree, describeTree } from '../helpers/tree.ts';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const tarFlags = { gz: '-xzf', zst: '--zstd -xf', none: '-xf' } as const;

for (const compression of ['gz', 'zst', 'none'] as const) {
  test(`offsite backup (${compression}) produces an archive GNU tar restores exactly`, async () => {
    const { dir, env } = isolatedEnv();
    const src = join(dir, 'volumes', 'app');
    makeTree(src);
    const archiveDir = join(dir, 'archive');
    mkdirSync(archiveDir);
    const r = runCli(['backup'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_COMPRESSION: compression });
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const files = readdirSync(archiveDir).filter((n) => !n.endsWith('.manifest.json'));
    assert.equal(files.length, 1, `one archive expected, got ${files.join(', ')}`);
    assert.ok(existsSync(join(archiveDir, `${files[0]}.manifest.json`)), 'the manifest sidecar sits beside the archive');
    const ext = compression === 'gz' ? '.tar.gz' : compression === 'zst' ? '.tar.zst' : '.tar';
    assert.match(files[0]!, new RegExp(`^backup-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d${ext.replace(/\./g, '\\.')}$`));

    const out = join(dir, 'restored');
    mkdirSync(out);
    const t = spawnSync('sh', ['-c', `tar ${tarFlags[compression]} "$1" -C "$2"`, 'sh', join(archiveDir, files[0]!), out], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    assert.equal(t.stderr, '', `tar printed warnings: ${t.stderr}`);
    // offen's layout: the source under its path without the leading slash
    assert.deepEqual(describeTree(join(out, src.slice(1))), describeTree(src));

    // the log's summary carries the same SHA-256 as the file
    const summary = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'backup finished');
    assert.ok(summary, `no "backup finished" line in:\n${r.stdout}`);
    assert.equal(summary.status, 'success');
    const hash = createHash('sha256');
    for await (const c of createReadStream(join(archiveDir, files[0]!))) hash.update(c);
    assert.equal(summary.sha256, hash.digest('hex'));
  });
}

test('several sources are each stored under their own path', () => {
  const { dir, env } = isolatedEnv();
  for (const n of ['one', 'two']) {
    mkdirSync(join(dir, 'v', n), { recursive: true });
    writeFileSync(join(dir, 'v', n, `${n}.txt`), n);
  }
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const r = runCli(['backup'], { ...env, BACKUP_SOURCES: `${join(dir, 'v', 'one')}, ${join(dir, 'v', 'two')}`, BACKUP_ARCHIVE: archiveDir });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [name] = readdirSync(archiveDir).filter((n) => !n.endsWith('.manifest.json'));
  const list = spawnSync('tar', ['-tzf', join(archiveDir, name!)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean);
  const v = join(dir, 'v').slice(1);
  assert.ok(list.includes(`${v}/one/one.txt`) && list.includes(`${v}/two/two.txt`), list.join('\n'));
});

test('no destination: the run fails with a clear message and exit code 1', () => {
  const { dir, env } = isolatedEnv();
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'a.txt'), 'a');
  // BACKUP_ARCHIVE unset and no /archive on this machine: no local destination
  assert.equal(existsSync('/archive'), false, 'this test needs a machine without /archive');
  const r = runCli(['backup'], { ...env, BACKUP_SOURCES: join(dir, 'src') });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /no destination is enabled/);
});

test('a missing source fails the run, leaves nothing behind, exit code 1', () => {
  const { dir, env } = isolatedEnv();
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const marker = join(dir, 'pre-command-ran');
  const r = runCli(['backup'], { ...env, BACKUP_SOURCES: join(dir, 'nope'), BACKUP_ARCHIVE: archiveDir, BACKUP_PRE_COMMAND: `touch ${marker}` });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /backup source .*nope does not exist/);
  assert.equal(existsSync(marker), false, 'nothing runs (no command, no container stopped) when a source is missing');
  assert.deepEqual(readdirSync(archiveDir), []);
});

test('retention prunes old backups after a successful run, never other files', () => {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a'), 'a');
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const old = new Date(Date.now() - 10 * 86_400_000);
  for (const n of ['backup-2000-01-01T00-00-00.tar.gz', 'backup-2000-01-02T00-00-00.tar.gz', 'notes.txt', 'other-2000.tar.gz']) {
    writeFileSync(join(archiveDir, n), 'x');
    utimesSync(join(archiveDir, n), old, old);
  }
  const r = runCli(['backup'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_RETENTION_DAYS: '7', BACKUP_LATEST_SYMLINK: 'latest.tar.gz' });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const left = readdirSync(archiveDir).sort();
  assert.ok(!left.includes('backup-2000-01-01T00-00-00.tar.gz') && !left.includes('backup-2000-01-02T00-00-00.tar.gz'), left.join(', '));
  assert.ok(left.includes('notes.txt') && left.includes('other-2000.tar.gz') && left.includes('latest.tar.gz'), left.join(', '));
  assert.equal(left.filter((n) => n.startsWith('backup-') && !n.endsWith('.manifest.json')).length, 1);
  assert.ok(existsSync(join(archiveDir, 'latest.tar.gz')));
  assert.ok(!readlinkSync(join(archiveDir, 'latest.tar.gz')).endsWith('.manifest.json'), 'latest points at the archive, not its manifest');
});
