/**
 * Issue 10 "Commands" through the real CLI: `latest` is the newest backup by
 * the time in its name; export into a directory, and a failed export leaves
 * nothing behind; restore bounded by the manifest's byte count.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync, rmSync, utimesSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { makeTree } from '../helpers/tree.ts';
import { isolatedEnv, runCli, CLI } from '../helpers/cli.ts';
import { spawnSync } from 'node:child_process';
import { buildTgz } from './build.ts';
import { archiveNameOf } from '../../src/archive/layout.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

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
  assert.deepEqual(
    (JSON.parse(l.stdout) as Array<{ name: string }>).map((r) => r.name),
    [name, 'backup-2020-01-01T00-00-00.tar.gz.aes'],
    'list shows newest first too',
  );

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

test('restore is bounded by the manifest: a decompression bomb is refused, nothing is written, the new target is removed', async () => {
  const { dir, archiveDir, env, name } = backedUp();
  const sidecar = JSON.parse(readFileSync(join(archiveDir, `${name}.manifest.json`), 'utf8')) as {
    archive: { name: string; size: number; sha256: string };
    archived: { bytes: number };
    encryption: string;
    compression: string;
  };
  // storage an attacker controls: a bomb whose sidecar matches it byte for byte, counting the real content
  const bomb = await buildTgz([
    { name: 'app/', type: 'directory' },
    { name: 'app/zeros.bin', content: Buffer.alloc(48 * 1024 * 1024) },
  ]);
  const bombName = 'backup-2099-01-01T00-00-00.tar.gz';
  writeFileSync(join(archiveDir, bombName), bomb);
  sidecar.archive = { name: bombName, size: bomb.length, sha256: createHash('sha256').update(bomb).digest('hex') };
  sidecar.encryption = 'none';
  writeFileSync(join(archiveDir, `${bombName}.manifest.json`), JSON.stringify(sidecar));

  const target = join(dir, 'new', 'restore');
  const r = runCli(['restore', 'latest', '--to', target], env);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `error: refusing to restore: the archive holds more file content than ${sidecar.archived.bytes} bytes, which its manifest ${bombName.replace(/\./g, '\\.')}\\.manifest\\.json says were archived \\(entry "app/zeros\\.bin" alone is 50331648 bytes\\): a decompression bomb`,
    ),
  );
  assert.ok(!existsSync(join(dir, 'new')), 'the directories made for the target are removed');

  const v = runCli(['verify', bombName], env);
  assert.equal(v.code, 1);
  assert.match(v.stdout, /FAIL +refusing to restore: the archive holds more file content than .*: a decompression bomb/);

  // the genuine backup restores within its bound
  const ok = runCli(['restore', name, '--to', target], env);
  assert.equal(ok.code, 0, ok.stderr);

  // a degraded backup (a file cut short while reading, filled with zeros up to its tar size)
  // counts fewer bytes than its content: it still restores
  const own = JSON.parse(readFileSync(join(archiveDir, `${name}.manifest.json`), 'utf8')) as { archived: { bytes: number; unreadable: number } };
  own.archived.bytes -= 1000;
  own.archived.unreadable = 1;
  writeFileSync(join(archiveDir, `${name}.manifest.json`), JSON.stringify(own));
  const degraded = runCli(['restore', name, '--to', join(dir, 'degraded')], env);
  assert.equal(degraded.code, 0, degraded.stderr);
  const vd = runCli(['verify', name], env);
  assert.equal(vd.code, 0, vd.stdout + vd.stderr);
  assert.match(vd.stdout, /note +the archive holds \d+ bytes of file content, 1000 more than were read: 1 file\(s\) could not be read to their end/);
});

test("ls lists a backup's paths (plain and --json lines) and restore --include takes them as listed, and globs", () => {
  const { dir, env, src } = backedUp();
  const A = archiveNameOf(src); // the source's path without its leading slash
  const ls = runCli(['ls', 'latest'], env);
  assert.equal(ls.code, 0, ls.stderr);
  const paths = ls.stdout.split('\n').filter((l) => l && !l.startsWith('{"level"'));
  assert.ok(paths.includes(`${A}/`), paths.join('\n'));
  assert.ok(paths.includes(`${A}/plain.txt`));
  assert.ok(paths.includes(`${A}/ünïcödé/日本語のファイル名.txt`));
  assert.ok(paths.includes(`${A}/${'deep/'.repeat(40)}bottom.txt`));
  assert.ok(!paths.some((p) => p.includes('offsite-manifest')), 'the manifest entry is not listed');

  const js = runCli(['ls', 'latest', '--json'], env);
  assert.equal(js.code, 0, js.stderr);
  const rows = js.stdout
    .split('\n')
    .filter((l) => l.startsWith('{"path"'))
    .map((l) => JSON.parse(l) as { path: string; type: string; size: number; mode: string; linkname?: string });
  assert.deepEqual(
    rows.map((r) => r.path),
    paths,
    'one JSON object per line, the same paths',
  );
  const key = rows.find((r) => r.path === `${A}/secret.key`)!;
  assert.deepEqual([key.type, key.size, key.mode], ['file', 8, '0600']);
  assert.equal(rows.find((r) => r.path === `${A}/link-relative`)!.linkname, 'plain.txt');

  // one file, exactly as listed
  const one = join(dir, 'one');
  const r1 = runCli(['restore', 'latest', '--to', one, '--include', `${A}/ünïcödé/日本語のファイル名.txt`], env);
  assert.equal(r1.code, 0, r1.stderr);
  assert.deepEqual(readdirSync(join(one, A)), ['ünïcödé']);
  assert.deepEqual(readdirSync(join(one, A, 'ünïcödé')), ['日本語のファイル名.txt']);

  // globs: every .txt at any depth, and a directory matched by a glob brings what is below it
  const globbed = join(dir, 'globbed');
  const r2 = runCli(['restore', 'latest', '--to', globbed, '--include', `${A}/**/*.txt`, '--include', `${A}/empty-*`], env);
  assert.equal(r2.code, 0, r2.stderr);
  const got = runCli(['ls', 'latest'], env)
    .stdout.split('\n')
    .filter((p) => p.startsWith(`${A}/`) && (/\.txt$/.test(p) || /\/empty-dir(-old)?\/$/.test(p.slice(A.length))));
  for (const p of got) assert.ok(existsSync(join(globbed, p)), `${p} restored`);
  assert.ok(!existsSync(join(globbed, A, 'binary.dat')) && !existsSync(join(globbed, A, 'secret.key')), 'nothing else');

  // a glob or a path that matches nothing is an error naming it; nothing is written
  const none = join(dir, 'none');
  const r3 = runCli(['restore', 'latest', '--to', none, '--include', `${A}/*.nothing`], env);
  assert.equal(r3.code, 1);
  assert.ok(
    r3.stderr.includes(`--include ${JSON.stringify(`${A}/*.nothing`)} matched nothing in the archive\nhint: give a path as \`offsite ls NAME\` lists it`),
    r3.stderr,
  );
  assert.ok(!existsSync(none));

  const usage = runCli(['ls'], env);
  assert.equal(usage.code, 5, 'a usage error');
  assert.match(usage.stderr, /error: ls needs NAME\|latest/);
});

test('ls into a pipe closed early (ls | head -1) ends quietly', () => {
  const { dir, env: base } = isolatedEnv();
  dirs.push(dir);
  const src = join(dir, 'volumes', 'many');
  mkdirSync(src, { recursive: true });
  for (let i = 0; i < 3000; i++) writeFileSync(join(src, `a-file-with-a-rather-long-name-${String(i).padStart(5, '0')}.txt`), '');
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const env = { ...base, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, LOG_LEVEL: 'warn' };
  assert.equal(runCli(['backup'], env).code, 0);
  const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" ls latest | head -1`], { env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.stdout, `${archiveNameOf(src)}/\n`);
  assert.equal(r.stderr, '', 'no EPIPE, no stack trace');
  assert.equal(r.status, 0);
});
