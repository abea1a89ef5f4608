/**
 * Issue 10 "Commands" through the real CLI: `latest` is the newest backup by
 * the time in its name; export into a directory, and a failed export leaves
 * nothing behind.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { makeTree } from '../helpers/tree.ts';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const KEY = '3c'.repeat(32);

/** One real backup in a local archive directory. */
function backedUp(extra: Record<string, string> = {}) {
  const { dir, env: base } = isolatedEnv();
  dirs.push(dir);
  const src = join(dir, 'volumes', 'app');
  makeTree(src);
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const env = { ...base, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_ENCRYPTION_KEY: KEY, ...extra };
  const b = runCli(['backup'], env);
  assert.equal(b.code, 0, b.stdout + b.stderr);
  const [name] = readdirSync(archiveDir).filter((n) => !n.endsWith('.manifest.json'));
  return { dir, src, archiveDir, env, name: name! };
}

/** A copy of `name` under an older name, uploaded later (newer modification time): an import or a late copy. */
function olderNameNewerUpload(archiveDir: string, name: string, older: string): void {
  for (const suffix of ['', '.manifest.json']) copyFileSync(join(archiveDir, name + suffix), join(archiveDir, older + suffix));
  const later = new Date(Date.now() + 3_600_000);
  for (const suffix of ['', '.manifest.json']) utimesSync(join(archiveDir, older + suffix), later, later);
}

test('latest is the newest by the time in the name (BACKUP_FILENAME in TZ), not the last uploaded', () => {
  const { dir, archiveDir, env, name } = backedUp({ TZ: 'Asia/Kathmandu' });
  assert.match(name, /^backup-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.tar\.gz\.aes$/);
  // a backup that is newest only by modification time
  olderNameNewerUpload(archiveDir, name, 'backup-2020-01-01T00-00-00.tar.gz.aes');

  const out = join(dir, 'out');
  mkdirSync(out);
  const e = runCli(['export', 'latest', `${out}/`], env);
  assert.equal(e.code, 0, e.stderr);
  assert.deepEqual(readdirSync(out).sort(), [name, `${name}.manifest.json`]);

  const v = runCli(['verify', 'latest', '--json'], env);
  assert.equal(v.code, 0, v.stderr);
  assert.equal((JSON.parse(v.stdout) as Array<{ name: string }>)[0]!.name, name);

  const l = runCli(['list', '--json'], env);
  assert.deepEqual((JSON.parse(l.stdout) as Array<{ name: string }>).map((r) => r.name), [name, 'backup-2020-01-01T00-00-00.tar.gz.aes'], 'list shows newest first too');

  // names the template did not make fall back to their modification time
  const t = runCli(['restore', 'latest', '--to', join(dir, 'r')], { ...env, BACKUP_FILENAME: 'other-%Y.{{ .Extension }}', BACKUP_PRUNING_PREFIX: 'backup-' });
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^restored backup-2020-01-01T00-00-00\.tar\.gz\.aes /m);
});

test('export into a directory (existing, or a path ending in /), and a failed export leaves nothing', () => {
  const { dir, archiveDir, env, name } = backedUp();
  const out = join(dir, 'out');
  mkdirSync(out);
  // an existing directory without a slash
  const e1 = runCli(['export', 'latest', out], env);
  assert.equal(e1.code, 0, e1.stderr);
  assert.match(e1.stdout, new RegExp(`to ${out}/${name.replace(/\./g, '\\.')} and its manifest`));
  assert.deepEqual(readdirSync(out).sort(), [name, `${name}.manifest.json`]);
  assert.deepEqual(readFileSync(join(out, name)), readFileSync(join(archiveDir, name)));

  // a trailing slash on a directory that does not exist: a clear error, nothing made
  const missing = join(dir, 'missing');
  const e2 = runCli(['export', 'latest', `${missing}/`], env);
  assert.equal(e2.code, 1);
  assert.match(e2.stderr, /error: the directory .*missing does not exist/);
  assert.ok(!readdirSync(dir).some((n) => n.startsWith('missing')), readdirSync(dir).join(', '));

  // a damaged archive: refused, and no file, manifest or temporary file is left
  const data = readFileSync(join(archiveDir, name));
  data[200]! ^= 1;
  writeFileSync(join(archiveDir, name), data);
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  const e3 = runCli(['export', 'latest', `${bad}/`], env);
  assert.equal(e3.code, 1);
  assert.match(e3.stderr, /does not match its manifest/);
  assert.deepEqual(readdirSync(bad), []);
  const e4 = runCli(['export', 'latest', join(bad, 'x.tar.gz.aes')], env);
  assert.equal(e4.code, 1);
  assert.deepEqual(readdirSync(bad), []);
});
