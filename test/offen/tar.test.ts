// Translated from offen/docker-volume-backup test/tar (run.sh, docker-compose.yml): one backup run
// by hand with BACKUP_COMPRESSION=none and BACKUP_FILENAME='test.{{ .Extension }}' makes test.tar,
// which `tar -xvf` extracts. offsite runs as a process (`offsite backup`); the `offen` container
// stopped during the backup (expect_running_containers) needs Docker and is left out, its volume is
// a directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CLI } from '../helpers/cli.ts';
import { backupOk, offenVolume, removedAfter, untar } from './scenario.ts';

const dirs = removedAfter();

test('offen test/tar: BACKUP_COMPRESSION=none makes test.tar that tar -xvf extracts', () => {
  const { dir, env, appData, local } = offenVolume(dirs); // app_data:/backup/app_data:ro, ${LOCAL_DIR}:/archive
  backupOk({
    ...env,
    BACKUP_FILENAME: 'test.{{ .Extension }}',
    BACKUP_COMPRESSION: 'none',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  // an uncompressed tar: the ustar magic at offset 257 of the first header
  assert.equal(readFileSync(join(local, 'test.tar')).subarray(257, 262).toString(), 'ustar');
  const extracted = untar(join(local, 'test.tar'), dirs, ['-xvf']);
  assert.ok(existsSync(extracted(join(appData, 'offen.db'))), 'Could not find expected file in untared archive.');
});

// offen names every entry with a leading "/": cmd/backup/archive.go sets header.Name to the
// file's path with path.Dir(<archive>) = "/tmp" trimmed, which leaves "/backup/app_data/offen.db"
// as it is (GNU tar drops the "/" when extracting). GNU tar's --absolute-names writes the same
// names; offsite's restore takes such an archive as GNU tar does, relative to the target.
test('an archive as offen writes it (entry names with a leading "/") restores with offsite restore', () => {
  const { dir, env, appData } = offenVolume(dirs, { archive: null });
  const archive = join(dir, 'offen.tar.gz');
  execFileSync('tar', ['--absolute-names', '-czf', archive, join(dir, 'backup')]);
  const names = execFileSync('tar', ['--absolute-names', '-tzf', archive], { encoding: 'utf8' });
  assert.match(names, new RegExp(`^${join(appData, 'offen.db')}$`, 'm'), 'the archive names its entries with a leading "/"');
  const to = join(dir, 'restored');
  const r = spawnSync(process.execPath, [CLI, 'restore', '-', '--to', to], { env, input: readFileSync(archive), encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(join(to, appData.slice(1), 'offen.db'), 'utf8'), 'db');
});
