// Translated from offen/docker-volume-backup test/tar (run.sh, docker-compose.yml): one backup run
// by hand with BACKUP_COMPRESSION=none and BACKUP_FILENAME='test.{{ .Extension }}' makes test.tar,
// which `tar -xvf` extracts. offsite runs as a process (`offsite backup`); the `offen` container
// stopped during the backup (expect_running_containers) needs Docker and is left out, its volume is
// a directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI, isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/tar: BACKUP_COMPRESSION=none makes test.tar that tar -xvf extracts', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data'); // app_data:/backup/app_data:ro
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  const local = join(dir, 'local'); // ${LOCAL_DIR}:/archive
  mkdirSync(local);
  const r = runCli(['backup'], {
    ...env,
    BACKUP_FILENAME: 'test.{{ .Extension }}',
    BACKUP_COMPRESSION: 'none',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // an uncompressed tar: the ustar magic at offset 257 of the first header
  assert.equal(readFileSync(join(local, 'test.tar')).subarray(257, 262).toString(), 'ustar');
  const tmp = mkdtempSync(join(tmpdir(), 'offen-tar-out-'));
  dirs.push(tmp);
  execFileSync('tar', ['-xvf', join(local, 'test.tar'), '-C', tmp]);
  assert.ok(existsSync(join(tmp, dir.slice(1), 'backup', 'app_data', 'offen.db')), 'Could not find expected file in untared archive.');
});

// offen names every entry with a leading "/": cmd/backup/archive.go sets header.Name to the
// file's path with path.Dir(<archive>) = "/tmp" trimmed, which leaves "/backup/app_data/offen.db"
// as it is (GNU tar drops the "/" when extracting). GNU tar's --absolute-names writes the same
// names; offsite's restore takes such an archive as GNU tar does, relative to the target.
test('an archive as offen writes it (entry names with a leading "/") restores with offsite restore', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data');
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  const archive = join(dir, 'offen.tar.gz');
  execFileSync('tar', ['--absolute-names', '-czf', archive, join(dir, 'backup')]);
  const names = execFileSync('tar', ['--absolute-names', '-tzf', archive], { encoding: 'utf8' });
  assert.match(names, new RegExp(`^${join(appData, 'offen.db')}$`, 'm'), 'the archive names its entries with a leading "/"');
  const to = join(dir, 'restored');
  const r = spawnSync(process.execPath, [CLI, 'restore', '-', '--to', to], { env, input: readFileSync(archive), encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(join(to, appData.slice(1), 'offen.db'), 'utf8'), 'db');
});
