// A forgotten mount must not look like a successful backup; mistakes in paths and names are
// configuration errors at start (exit 2, variable named), not failures after the archive was built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { checkSources, isMountPoint } from '../../src/run/sources.ts';

/** An isolated environment with an empty source folder and an archive folder. */
function emptySource() {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  const archive = join(dir, 'archive');
  mkdirSync(archive);
  return { env, src, archive };
}

test('an empty source makes the run degraded (exit 4) and says the volume may not be mounted', () => {
  const { env, src, archive } = emptySource();
  const r = runCli(['backup'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archive, BACKUP_RETENTION_DAYS: '0' });
  assert.equal(r.code, 4, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(`source ${src} is empty: is the volume mounted?`), r.stdout);
  assert.match(r.stdout, /backup finished degraded/);
});

test('a source the pre command fills is judged after it: not reported empty, the run succeeds', () => {
  const { env, src, archive } = emptySource();
  const r = runCli(['backup'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archive, BACKUP_PRE_COMMAND: `echo dump > ${src}/dump.sql` });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(!r.stdout.includes('is empty'), r.stdout);
});

test('the default /backup that is not a mount point is reported; a mount point is not', async () => {
  assert.equal(await isMountPoint('/proc'), true);
  assert.equal(await isMountPoint('/'), true);
  const { dir } = isolatedEnv();
  mkdirSync(join(dir, 'plain'));
  assert.equal(await isMountPoint(join(dir, 'plain')), false);
  writeFileSync(join(dir, 'plain', 'a'), 'a');
  assert.deepEqual(await checkSources([join(dir, 'plain')]), []);
});

test('BACKUP_ARCHIVE set to a missing path is a configuration error naming it (exit 2), nothing is written', () => {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a'), 'a');
  const r = runCli(['backup'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: join(dir, 'not-mounted') });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^ {2}BACKUP_ARCHIVE: ".*not-mounted" does not exist or is not a directory/m);
  assert.equal(existsSync(join(dir, 'not-mounted')), false);
});

test('the daemon refuses to start when a BACKUP_SOURCES path is missing (exit 2), instead of failing at 2 am', () => {
  const { dir, env } = isolatedEnv();
  const archive = join(dir, 'archive');
  mkdirSync(archive);
  const r = runCli(['daemon'], { ...env, BACKUP_SOURCES: join(dir, 'forgotten'), BACKUP_ARCHIVE: archive, BACKUP_CRON_EXPRESSION: '0 2 * * *' });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^ {2}BACKUP_SOURCES: .*forgotten does not exist/m);
  assert.equal(existsSync(env.OFFSITE_HEALTH_FILE!), false, 'the daemon started');
});

test('BACKUP_FILENAME and BACKUP_LATEST_SYMLINK are checked after $VAR expansion, before any archive', () => {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a'), 'a');
  const archive = join(dir, 'archive');
  mkdirSync(archive);
  const base = { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archive, BACKUP_FILENAME_EXPAND: 'true' };
  const r = runCli(['backup'], { ...base, APP: '../escape', BACKUP_FILENAME: '$APP-%Y.{{ .Extension }}', LINK: '..', BACKUP_LATEST_SYMLINK: '$LINK' });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^ {2}BACKUP_FILENAME: is "\.\.\/escape-%Y\.\{\{ \.Extension \}\}" after \$VAR expansion, which contains a path separator/m);
  assert.match(r.stderr, /^ {2}BACKUP_LATEST_SYMLINK: is "\.\." after \$VAR expansion, which names a directory/m);
  assert.deepEqual(readdirSync(archive), []);
});
