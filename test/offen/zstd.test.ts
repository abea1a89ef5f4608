// Translated from offen/docker-volume-backup test/zstd (run.sh): one backup run by hand
// (`--entrypoint backup`) with BACKUP_COMPRESSION=zst and BACKUP_FILENAME='test.{{ .Extension }}',
// extracted with `tar --zstd`. offsite runs as a process; the offen container's volume is a
// directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix; the check
// that the container kept running (expect_running_containers) needs Docker and is left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { backupOk, offenVolume, removedAfter, untar } from './scenario.ts';

const dirs = removedAfter();

test('offen test/zstd: BACKUP_COMPRESSION=zst makes test.tar.zst that tar --zstd extracts', () => {
  // -v app_data:/backup/app_data, -v $LOCAL_DIR:/archive
  const { dir, env, appData, local: localDir } = offenVolume(dirs, { archive: 'archive' });
  backupOk({
    ...env,
    BACKUP_COMPRESSION: 'zst',
    BACKUP_FILENAME: 'test.{{ .Extension }}',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: localDir,
  });
  const extracted = untar(join(localDir, 'test.tar.zst'), dirs, ['--zstd', '-xvf']);
  assert.ok(existsSync(extracted(join(appData, 'offen.db'))), 'Could not find expected file in untared archive.');
});
