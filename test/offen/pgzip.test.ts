// Translated from offen/docker-volume-backup test/pgzip (run.sh): one backup run by hand
// (`--entrypoint backup`) with BACKUP_COMPRESSION=gz, GZIP_PARALLELISM=0 (all cores) and
// BACKUP_FILENAME='test.{{ .Extension }}' makes test.tar.gz, which `tar -xvf` extracts. Added: a
// source bigger than one compression block (1 MiB) so that several threads really compress
// parts of it, and a byte comparison of the extracted file (the gzip members must join into the
// same tar). offsite runs as a process; the offen container's volume is a directory under
// <tmp>/backup/app_data, so archive paths carry the <tmp> prefix; the check that the container
// kept running (expect_running_containers) needs Docker and is left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { backupOk, offenVolume, removedAfter, untar } from './scenario.ts';

const dirs = removedAfter();

test('offen test/pgzip: GZIP_PARALLELISM=0 makes test.tar.gz that tar -xvf extracts', () => {
  // -v app_data:/backup/app_data, -v $LOCAL_DIR:/archive
  const { dir, env, appData, local } = offenVolume(dirs, { archive: 'archive' });
  const big = Buffer.concat([randomBytes(2 * 1024 * 1024), Buffer.alloc(2 * 1024 * 1024, 'a')]);
  writeFileSync(join(appData, 'big.bin'), big);
  backupOk({
    ...env,
    BACKUP_COMPRESSION: 'gz',
    GZIP_PARALLELISM: '0',
    BACKUP_FILENAME: 'test.{{ .Extension }}',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  execFileSync('gzip', ['-t', join(local, 'test.tar.gz')]);
  const restored = untar(join(local, 'test.tar.gz'), dirs, ['-xvf'])(appData);
  assert.ok(existsSync(join(restored, 'offen.db')), 'Could not find expected file in untared archive.');
  assert.ok(readFileSync(join(restored, 'big.bin')).equals(big), 'the 4 MiB file came back byte for byte');
});
