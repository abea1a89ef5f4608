// A real database: pg_dump runs before the archive (BACKUP_PRE_COMMAND, or an
// archive-pre exec label run as the postgres user through the Docker fake),
// offsite backs the tree up, GNU tar restores it and the dump loads into a fresh
// database with the same rows.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { isolatedEnv, startCli } from '../helpers/cli.ts';
import { DockerFake } from '../servers/docker-fake.ts';
import { archiveAvailable, collect, NO_ARCHIVE } from './e2e-helpers.ts';
import { findPostgresBin, startPostgres, type Postgres } from './postgres-server.ts';

const bin = findPostgresBin();
const skip = !bin
  ? 'PostgreSQL server binaries are not installed (Debian package postgresql; .ci/system-packages.sh installs it)'
  : !(await archiveAvailable())
    ? NO_ARCHIVE
    : false;

const ROWS = `SELECT id, name, price, tags, created, note FROM items ORDER BY id`;
let pg: Postgres;
let work: string;

before(() => {
  if (skip) return;
  pg = startPostgres(bin!);
  pg.psql('postgres', 'CREATE DATABASE app');
  pg.psql(
    'app',
    `
    CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags text[], created timestamptz, note text);
    INSERT INTO items (name, price, tags, created, note)
      SELECT 'item ' || g, g * 1.25, ARRAY['t' || (g % 7), 'all'], timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
             CASE WHEN g % 10 = 0 THEN NULL ELSE repeat('x', g % 50) END
      FROM generate_series(1, 2000) g;
    INSERT INTO items (name, price, tags, note) VALUES ('ünïcödé ✓ "quoted" \\ back', 0, '{}', E'line1\\nline2\\ttab');
  `,
  );
  work = mkdtempSync(join(tmpdir(), 'offsite-pgtest-'));
  chmodSync(work, 0o755); // the postgres user writes the exec label's dump below it
});
after(() => {
  if (skip) return;
  pg.stop();
  rmSync(work, { recursive: true, force: true });
});

/**
 * Back up `tree` with the CLI, restore the archive with GNU tar, return the
 * restore dir (the archive holds each source under its path without the leading slash, as offen). The CLI runs asynchronously: the Docker fake answers from this process.
 */
async function backupAndRestore(tree: string, extraEnv: Record<string, string>): Promise<{ restore: string; archive: string }> {
  const { dir, env } = isolatedEnv();
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const child = startCli(['backup'], { ...env, BACKUP_SOURCES: tree, BACKUP_ARCHIVE: archiveDir, ...extraEnv });
  const log = collect(child);
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, `offsite backup failed:\n${log()}`);
  const archives = readdirSync(archiveDir).filter((n) => n.endsWith('.tar.gz'));
  assert.equal(archives.length, 1, readdirSync(archiveDir).join(', '));
  const restore = join(dir, 'restore');
  mkdirSync(restore);
  const tar = spawnSync('tar', ['-xzf', join(archiveDir, archives[0]!), '-C', restore], { encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
  return { restore, archive: join(archiveDir, archives[0]!) };
}

function loadAndCompare(dump: string, dbName: string): void {
  pg.psql('postgres', `CREATE DATABASE ${dbName}`);
  pg.psqlFile(dbName, dump);
  const original = pg.psql('app', ROWS);
  const restored = pg.psql(dbName, ROWS);
  assert.equal(pg.psql('app', 'SELECT count(*) FROM items').trim(), '2001');
  assert.equal(restored, original);
  assert.equal(pg.psql(dbName, 'SELECT count(*) FROM items').trim(), '2001');
}

test('BACKUP_PRE_COMMAND pg_dump into the backed-up tree; the restored dump gives the same rows', { skip }, async () => {
  const tree = join(work, 'volume1');
  mkdirSync(join(tree, 'db'), { recursive: true });
  writeFileSync(join(tree, 'uploads.txt'), 'other data\n');
  const { restore, archive } = await backupAndRestore(tree, {
    BACKUP_PRE_COMMAND:
      `${join(pg.bin, 'pg_dump')} -h ${pg.sockDir} -p ${pg.port} -U postgres --no-owner -d app -f ${join(tree, 'db', 'app.sql')}` +
      ` && echo "$COMMAND_RUNTIME_ARCHIVE_FILEPATH" > ${join(tree, 'archive-path.txt')}`,
  });
  loadAndCompare(join(restore, tree.slice(1), 'db', 'app.sql'), 'app_from_pre_command');
  assert.equal(readFileSync(join(restore, tree.slice(1), 'archive-path.txt'), 'utf8'), `${archive}\n`, 'COMMAND_RUNTIME_ARCHIVE_FILEPATH names the archive');
});

test('archive-pre exec label runs pg_dump as the postgres user (Docker fake); stop label honoured', { skip }, async () => {
  const fake = await DockerFake.start();
  try {
    const tree = join(work, 'volume2');
    mkdirSync(join(tree, 'db'), { recursive: true });
    chownSync(join(tree, 'db'), pg.uid, pg.gid);
    const dump = join(tree, 'db', 'app.sql');
    fake.addContainer({
      name: 'database',
      env: { PATH: `${pg.bin}:/usr/bin:/bin` },
      labels: {
        'docker-volume-backup.archive-pre': `pg_dump -h ${pg.sockDir} -p ${pg.port} -U postgres --no-owner -d app -f ${dump}`,
        'docker-volume-backup.archive-pre.user': 'postgres',
      },
    });
    fake.addContainer({ name: 'web', labels: { 'docker-volume-backup.stop-during-backup': 'true' } });
    const { restore } = await backupAndRestore(tree, { DOCKER_HOST: `unix://${fake.socketPath}` });
    assert.equal(statSync(dump).uid, pg.uid, 'the dump was written by the postgres user');
    assert.equal(fake.container('web').State, 'running');
    assert.equal(fake.callsTo('POST', /^\/containers\/[^/]+\/stop$/).length, 1);
    assert.equal(fake.callsTo('POST', /^\/containers\/[^/]+\/start$/).length, 1);
    loadAndCompare(join(restore, tree.slice(1), 'db', 'app.sql'), 'app_from_exec_label');
  } finally {
    await fake.close();
  }
});
