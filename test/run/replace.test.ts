/**
 * BACKUP_FILENAME without time tokens (issue 13, as offen documents): each run replaces
 * the previous backup of that name, logged as replaced; with encryption the suffix is
 * appended to the literal name (`fixed.tar.gz` -> `fixed.tar.gz.gpg`). A name with time
 * tokens that is taken is still refused. Atomicity per destination is in the destination
 * contract (test/destinations/contract.ts, "replace" cases).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(filename: string, extra: Record<string, string> = {}) {
  const { dir, env: base } = isolatedEnv();
  dirs.push(dir);
  const src = join(dir, 'backup', 'app');
  mkdirSync(src, { recursive: true });
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  return { dir, src, archiveDir, env: { ...base, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_FILENAME: filename, ...extra } };
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('a name without time tokens replaces the previous backup (and its manifest), with .gpg appended', () => {
  const { dir, src, archiveDir, env } = setup('fixed.tar.gz', { GPG_PASSPHRASE: 'replace-test-pass' });
  writeFileSync(join(src, 'v.txt'), 'first run\n');
  const first = runCli(['backup'], env);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.deepEqual(readdirSync(archiveDir).sort(), ['fixed.tar.gz.gpg', 'fixed.tar.gz.gpg.manifest.json']);
  assert.doesNotMatch(first.stdout, /replaced the previous backup/, 'nothing to replace on the first run');

  writeFileSync(join(src, 'v.txt'), 'second run, longer\n');
  const second = runCli(['backup'], env);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.match(second.stdout, /replaced the previous backup fixed\.tar\.gz\.gpg on Local/);
  assert.deepEqual(readdirSync(archiveDir).sort(), ['fixed.tar.gz.gpg', 'fixed.tar.gz.gpg.manifest.json'], 'one backup, no temporary file');
  const sidecar = JSON.parse(readFileSync(join(archiveDir, 'fixed.tar.gz.gpg.manifest.json'), 'utf8')) as { archive: { sha256: string } };
  assert.equal(sidecar.archive.sha256, sha(join(archiveDir, 'fixed.tar.gz.gpg')), 'the manifest describes the new archive');

  const target = join(dir, 'restored');
  const r = runCli(['restore', 'latest', '--to', target], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(target, src.slice(1), 'v.txt'), 'utf8'), 'second run, longer\n');
});

test('a name with time tokens that is already taken is refused; the old backup stays', () => {
  const { src, archiveDir, env } = setup('daily-%Y.tar.gz');
  writeFileSync(join(src, 'v.txt'), 'first\n');
  assert.equal(runCli(['backup'], env).code, 0);
  const [name] = readdirSync(archiveDir).filter((n) => !n.endsWith('.manifest.json'));
  const before = sha(join(archiveDir, name!));
  writeFileSync(join(src, 'v.txt'), 'second\n');
  const second = runCli(['backup'], env);
  assert.equal(second.code, 1, second.stdout + second.stderr);
  assert.match(second.stdout + second.stderr, /already exists; refusing to overwrite/);
  assert.equal(sha(join(archiveDir, name!)), before, 'the old backup is untouched');
  assert.deepEqual(readdirSync(archiveDir).sort(), [name, `${name}.manifest.json`]);
});
