// Translated from offen/docker-volume-backup test/ownership (run.sh, docker-compose.yml; offen issue
// #71): a backup (BACKUP_FILENAME=backup.tar.gz) of a postgres:14-alpine data volume, whose files
// belong to the image's postgres user 70:70, extracted with `tar --same-owner -xvf`: every file and
// directory under backup/postgres must still be 70:70.
// Without Docker: the data directory is made by the real initdb (as the postgres user) and then
// given to 70:70 as in the alpine image (or, without PostgreSQL, a few files and directories given
// to 70:70); chown and `tar --same-owner` need root, so the test is skipped, with that reason,
// when not running as root. Added: `offsite restore` of the backup keeps 70:70 as well. The `db`
// container stopped during the backup needs Docker and is left out; offsite runs as a process,
// the volume is a directory under <tmp>/backup/postgres, so archive paths carry the <tmp> prefix.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { canInitdb, makePgData } from './pgdata.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `find DIR`: the directory itself and everything below it. */
function find(dir: string): string[] {
  const out = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...find(p));
    else out.push(p);
  }
  return out;
}

const asRoot = process.getuid?.() === 0;

test(
  'offen test/ownership: tar --same-owner restores every file of the postgres volume as 70:70',
  { skip: asRoot ? false : 'needs root: chown to 70:70 and tar --same-owner' },
  () => {
    const { dir, env } = isolatedEnv();
    dirs.push(dir);
    const pg = join(dir, 'backup', 'postgres'); // postgres_data:/backup/postgres:ro
    if (canInitdb()) makePgData(pg);
    else {
      mkdirSync(join(pg, 'base', '1'), { recursive: true });
      writeFileSync(join(pg, 'PG_VERSION'), '14\n');
      writeFileSync(join(pg, 'base', '1', '1259'), 'x');
    }
    execFileSync('chown', ['-R', '70:70', pg]);
    const local = join(dir, 'local'); // ${LOCAL_DIR}:/archive
    mkdirSync(local);
    const r = runCli(['backup'], { ...env, BACKUP_FILENAME: 'backup.tar.gz', BACKUP_SOURCES: join(dir, 'backup'), BACKUP_ARCHIVE: local });
    assert.equal(r.code, 0, r.stdout + r.stderr);

    const tmp = mkdtempSync(join(tmpdir(), 'offen-ownership-out-'));
    dirs.push(tmp);
    execFileSync('tar', ['--same-owner', '-xvf', join(local, 'backup.tar.gz'), '-C', tmp]);
    const restored = join(tmp, dir.slice(1), 'backup', 'postgres');
    assert.ok(existsSync(restored), 'Backup contains files at expected location');
    const files = find(restored);
    assert.ok(files.length > 2, `the volume has files (${files.length})`);
    for (const f of files) {
      const st = statSync(f);
      assert.equal(`${st.uid}:${st.gid}`, '70:70', `Unexpected file ownership for ${f}: ${st.uid}:${st.gid}`);
    }

    // offsite's own restore, as root, keeps the owners too
    const to = join(dir, 'restored');
    const rr = runCli(['restore', 'backup.tar.gz', '--from', 'Local', '--to', to], { ...env, BACKUP_SOURCES: join(dir, 'backup'), BACKUP_ARCHIVE: local });
    assert.equal(rr.code, 0, rr.stdout + rr.stderr);
    const again = find(join(to, dir.slice(1), 'backup', 'postgres'));
    assert.equal(again.length, files.length);
    for (const f of again) {
      const st = statSync(f);
      assert.equal(`${st.uid}:${st.gid}`, '70:70', `offsite restore: unexpected file ownership for ${f}: ${st.uid}:${st.gid}`);
    }
  },
);
