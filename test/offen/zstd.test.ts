// Translated from offen/docker-volume-backup test/zstd (run.sh): one backup run by hand
// (`--entrypoint backup`) with BACKUP_COMPRESSION=zst and BACKUP_FILENAME='test.{{ .Extension }}',
// extracted with `tar --zstd`. offsite runs as a process; the offen container's volume is a
// directory under <tmp>/backup/app_data, so archive paths carry the <tmp> prefix; the check
// that the container kept running (expect_running_containers) needs Docker and is left out.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/zstd: BACKUP_COMPRESSION=zst makes test.tar.zst that tar --zstd extracts', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data'); // -v app_data:/backup/app_data
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  const localDir = join(dir, 'archive'); // -v $LOCAL_DIR:/archive
  mkdirSync(localDir);
  const r = runCli(['backup'], {
    ...env,
    BACKUP_COMPRESSION: 'zst',
    BACKUP_FILENAME: 'test.{{ .Extension }}',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: localDir,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const tmp = mkdtempSync(join(tmpdir(), 'offen-zstd-out-'));
  dirs.push(tmp);
  execFileSync('tar', ['-xvf', join(localDir, 'test.tar.zst'), '--zstd', '-C', tmp]);
  assert.ok(existsSync(join(tmp, dir.slice(1), 'backup', 'app_data', 'offen.db')), 'Could not find expected file in untared archive.');
});
