// Translated from offen/docker-volume-backup test/ignore (run.sh, docker-compose.yml):
// BACKUP_FILENAME test.tar.gz, the "never" cron of hand-run jobs, BACKUP_EXCLUDE_REGEXP
// '\.(me|you)$' (compose's $$ is one $), sources mounted at /backup/data, archive in ./local.
// offsite runs as a process (`offsite backup` for `docker compose exec backup backup`); the
// sources live under a temporary directory instead of /backup, so the archive paths carry that
// prefix (`<tmp>/backup/data/me.txt` for offen's `backup/data/me.txt`). Assertions as in run.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv } from '../helpers/cli.ts';
import { backupOk, NEVER, removedAfter, untar } from './scenario.ts';

const dirs = removedAfter();

test('offen test/ignore: a file matching BACKUP_EXCLUDE_REGEXP is not archived, the others are', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const data = join(dir, 'backup', 'data'); // ./sources:/backup/data:ro
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'me.txt'), 'me\n');
  writeFileSync(join(data, 'skip.me'), 'skip\n');
  const local = join(dir, 'local'); // ./local:/archive
  mkdirSync(local);
  backupOk({
    ...env,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_CRON_EXPRESSION: NEVER,
    BACKUP_EXCLUDE_REGEXP: '\\.(me|you)$',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });

  const backup = untar(join(local, 'test.tar.gz'), dirs, ['--same-owner', '-xvf'])(join(dir, 'backup'));
  assert.ok(existsSync(join(backup, 'data', 'me.txt')), 'Expected file was not found.');
  assert.ok(!existsSync(join(backup, 'data', 'skip.me')), 'Ignored file was found.');
});
