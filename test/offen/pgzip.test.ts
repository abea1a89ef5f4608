// Translated from offen/docker-volume-backup test/pgzip (run.sh): one backup run by hand
// (`--entrypoint backup`) with BACKUP_COMPRESSION=gz, GZIP_PARALLELISM=0 (all cores) and
// BACKUP_FILENAME='test.{{ .Extension }}' makes test.tar.gz, which `tar -xvf` extracts. Added: a
// source bigger than one compression block (1 MiB) so that several threads really compress
// parts of it, and a byte comparison of the extracted file (the gzip members must join into the
// same tar). offsite runs as a process; the offen container's volume is a directory under
// <tmp>/backup/app_data, so archive paths carry the <tmp> prefix; the check that the container
// kept running (expect_running_containers) needs Docker and is left out.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/pgzip: GZIP_PARALLELISM=0 makes test.tar.gz that tar -xvf extracts', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data'); // -v app_data:/backup/app_data
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  const big = Buffer.concat([randomBytes(2 * 1024 * 1024), Buffer.alloc(2 * 1024 * 1024, 'a')]);
  writeFileSync(join(appData, 'big.bin'), big);
  const local = join(dir, 'archive'); // -v $LOCAL_DIR:/archive
  mkdirSync(local);
  const r = runCli(['backup'], {
    ...env,
    BACKUP_COMPRESSION: 'gz',
    GZIP_PARALLELISM: '0',
    BACKUP_FILENAME: 'test.{{ .Extension }}',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  execFileSync('gzip', ['-t', join(local, 'test.tar.gz')]);
  const tmp = mkdtempSync(join(tmpdir(), 'offen-pgzip-out-'));
  dirs.push(tmp);
  execFileSync('tar', ['-xvf', join(local, 'test.tar.gz'), '-C', tmp]);
  const restored = join(tmp, dir.slice(1), 'backup', 'app_data');
  assert.ok(existsSync(join(restored, 'offen.db')), 'Could not find expected file in untared archive.');
  assert.ok(readFileSync(join(restored, 'big.bin')).equals(big), 'the 4 MiB file came back byte for byte');
});
