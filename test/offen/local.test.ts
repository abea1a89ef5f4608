// Translated from offen/docker-volume-backup test/local (run.sh, docker-compose.yml): a
// BACKUP_FILENAME without time tokens built from $HOSTNAME (BACKUP_FILENAME_EXPAND), the
// latest symlink, BACKUP_RETENTION_DAYS 0 (never deletes every backup) and 7 (prunes an old
// copy), BACKUP_PRUNING_LEEWAY 5s, BACKUP_PRUNING_PREFIX test. offsite runs as a process
// (`offsite backup` for `docker compose exec backup backup`) with HOSTNAME=hostnametoken; the
// `offen` container (stopped during the backup, `expect_running_containers`) needs Docker and is
// left out: its volume is a directory under <tmp>/backup/app_data, so archive paths carry the
// <tmp> prefix. Deliberate difference: offsite writes a manifest `<archive>.manifest.json` beside
// each backup, so "find ./local -type f | wc -l" counts archives only (the README says why).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, copyFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/local: $HOSTNAME in the name, symlinks kept, latest symlink, retention 0 keeps, 7 prunes', () => {
  const { dir, env: base } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data'); // app_data:/var/opt/offen, backed up as /backup/app_data
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  symlinkSync(join(appData, 'offen.db'), join(appData, 'db.link')); // ln -s /var/opt/offen/offen.db /var/opt/offen/db.link
  const local = join(dir, 'local');
  mkdirSync(local);
  const env = (days: string) => ({
    ...base,
    HOSTNAME: 'hostnametoken',
    BACKUP_FILENAME_EXPAND: 'true',
    BACKUP_FILENAME: 'test-$HOSTNAME.tar.gz',
    BACKUP_LATEST_SYMLINK: 'test-$HOSTNAME.latest.tar.gz.gpg',
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
    BACKUP_RETENTION_DAYS: days,
    BACKUP_PRUNING_LEEWAY: '5s',
    BACKUP_PRUNING_PREFIX: 'test',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: local,
  });
  const backup = (days: string) => {
    const r = runCli(['backup'], env(days));
    assert.equal(r.code, 0, r.stdout + r.stderr);
  };
  const archives = () =>
    readdirSync(local)
      .filter((n) => !n.endsWith('.manifest.json') && lstatSync(join(local, n)).isFile())
      .sort();

  backup('7');
  const tmp = mkdtempSync(join(tmpdir(), 'offen-local-out-'));
  dirs.push(tmp);
  execFileSync('tar', ['-xvf', join(local, 'test-hostnametoken.tar.gz'), '-C', tmp]);
  const restored = join(tmp, dir.slice(1), 'backup', 'app_data');
  assert.ok(existsSync(join(restored, 'offen.db')), 'Could not find expected file in untared archive.');
  rmSync(join(local, 'test-hostnametoken.tar.gz'));
  assert.ok(lstatSync(join(restored, 'db.link')).isSymbolicLink(), 'Could not find expected symlink in untared archive.');
  assert.ok(lstatSync(join(local, 'test-hostnametoken.latest.tar.gz.gpg')).isSymbolicLink(), 'Could not find symlink to latest version.');

  // retention 0 days never deletes every backup
  backup('0');
  assert.deepEqual(archives(), ['test-hostnametoken.tar.gz'], 'Backups should not have been deleted');

  // retention 7 days prunes a 14 days old backup, keeps the new one
  backup('7');
  copyFileSync(join(local, 'test-hostnametoken.tar.gz'), join(local, 'test-hostnametoken-old.tar.gz'));
  const old = new Date(Date.now() - 14 * 86_400_000);
  utimesSync(join(local, 'test-hostnametoken-old.tar.gz'), old, old);
  backup('7');
  assert.ok(!existsSync(join(local, 'test-hostnametoken-old.tar.gz')), 'the old backup was pruned');
  assert.ok(existsSync(join(local, 'test-hostnametoken.tar.gz')), 'the new one is still present');
});
