// `offsite prune`: in-process against real Local destinations, and once as a process.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { runPrune } from '../../src/retention/command.ts';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const log = createLogger({ level: 'silent' });
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const DAY = 86_400_000;
const nameAt = (ms: number) => `backup-${new Date(ms).toISOString().slice(0, 19).replace(/:/g, '-')}.tar.gz`;
const SERIES = Array.from({ length: 60 }, (_, i) => Date.parse('2026-01-01T02:00:00Z') + i * DAY);

/** A local archive with the 60-day series (every 10th with a sidecar), a stray file, all modified now. */
function archiveDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'offsite-prune-cmd-'));
  roots.push(root);
  const dir = join(root, 'archive');
  mkdirSync(dir);
  mkdirSync(join(root, 'src'));
  mkdirSync(join(root, 'none'));
  SERIES.forEach((t, i) => {
    writeFileSync(join(dir, nameAt(t)), 'x');
    if (i % 10 === 0) writeFileSync(join(dir, `${nameAt(t)}.manifest.json`), '{}');
  });
  writeFileSync(join(dir, 'notes.txt'), 'not a backup');
  utimesSync(join(dir, 'notes.txt'), new Date('2020-01-01'), new Date('2020-01-01'));
  return dir;
}

function configFor(dir: string, env: Record<string, string>) {
  const root = join(dir, '..');
  return loadConfig({
    env: {
      BACKUP_ARCHIVE: dir,
      BACKUP_SOURCES: join(root, 'src'),
      OFFSITE_CONF_DIR: join(root, 'none'),
      OFFSITE_DOTENV: '/dev/null',
      OFFSITE_LOCK_FILE: join(root, 'lock'),
      ...env,
    },
    cwd: root,
  });
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      out: (s: string) => {
        out.push(s);
      },
      err: (s: string) => {
        err.push(s);
      },
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

const RULES = { BACKUP_RETENTION_KEEP_DAILY: '7', BACKUP_RETENTION_KEEP_WEEKLY: '4', BACKUP_RETENTION_KEEP_MONTHLY: '3' };

describe('offsite prune', () => {
  test('--dry-run prints every backup with keep/remove and why, and deletes nothing', async () => {
    const dir = archiveDir();
    const before = readdirSync(dir).sort();
    const c = capture();
    const code = await runPrune(configFor(dir, RULES), log, { dryRun: true }, c.io);
    assert.equal(code, 0);
    assert.deepEqual(readdirSync(dir).sort(), before);
    const out = c.out();
    assert.match(out, /job default: keep daily 7, weekly 4, monthly 3/);
    assert.match(out, /Local .*: 60 backup\(s\), keep 11, would remove 49/);
    assert.match(out, /keep {4}backup-2026-03-01T02-00-00\.tar\.gz +2026-03-01 02:00:00 UTC +daily 1\/7, weekly 1\/4, monthly 1\/3/);
    assert.match(out, /keep {4}backup-2026-01-31T02-00-00\.tar\.gz +2026-01-31 02:00:00 UTC +monthly 3\/3/);
    assert.match(out, /remove {2}backup-2026-01-30T02-00-00\.tar\.gz +2026-01-30 02:00:00 UTC +no rule keeps it/);
    assert.match(out, /would also remove 5 sidecar file\(s\)/); // Jan 31's stays with it
    assert.match(out, /dry run: nothing was deleted/);
    assert.doesNotMatch(out, /notes\.txt/);
  });

  test('without --dry-run it removes what the plan says, and a second prune removes nothing more', async () => {
    const dir = archiveDir();
    const config = configFor(dir, RULES);
    assert.equal(await runPrune(config, log, {}, capture().io), 0);
    const left = readdirSync(dir).sort();
    assert.deepEqual(left, [
      'backup-2026-01-31T02-00-00.tar.gz',
      'backup-2026-01-31T02-00-00.tar.gz.manifest.json',
      'backup-2026-02-08T02-00-00.tar.gz',
      'backup-2026-02-15T02-00-00.tar.gz',
      'backup-2026-02-22T02-00-00.tar.gz',
      'backup-2026-02-23T02-00-00.tar.gz',
      'backup-2026-02-24T02-00-00.tar.gz',
      'backup-2026-02-25T02-00-00.tar.gz',
      'backup-2026-02-26T02-00-00.tar.gz',
      'backup-2026-02-27T02-00-00.tar.gz',
      'backup-2026-02-28T02-00-00.tar.gz',
      'backup-2026-03-01T02-00-00.tar.gz',
      'notes.txt',
    ]);
    const c = capture();
    assert.equal(await runPrune(config, log, { json: true }, c.io), 0);
    const j = JSON.parse(c.out()) as {
      dryRun: boolean;
      jobs: Array<{ destinations: Array<{ kept: number; remove: string[]; backups: Array<{ keep: boolean; reasons: string[] }> }> }>;
    };
    assert.equal(j.dryRun, false);
    assert.equal(j.jobs[0]!.destinations[0]!.kept, 11);
    assert.deepEqual(j.jobs[0]!.destinations[0]!.remove, []);
    assert.deepEqual(readdirSync(dir).sort(), left);
  });

  test('BACKUP_RETENTION_DAYS is planned too (by modification time)', async () => {
    const dir = archiveDir();
    const c = capture();
    assert.equal(await runPrune(configFor(dir, { BACKUP_RETENTION_DAYS: '7' }), log, { dryRun: true }, c.io), 0);
    assert.match(c.out(), /remove backups older than 7 day\(s\)/);
    assert.match(c.out(), /60 backup\(s\), keep 60, would remove 0/);
  });

  test('retention off says how to turn it on; destinations in BACKUP_SKIP_BACKENDS_FROM_PRUNE are left alone', async () => {
    const dir = archiveDir();
    const off = capture();
    assert.equal(await runPrune(configFor(dir, {}), log, {}, off.io), 0);
    assert.match(off.out(), /retention is off: set BACKUP_RETENTION_KEEP_\* or BACKUP_RETENTION_DAYS/);
    const skip = capture();
    assert.equal(await runPrune(configFor(dir, { ...RULES, BACKUP_SKIP_BACKENDS_FROM_PRUNE: 'local' }), log, {}, skip.io), 0);
    assert.match(skip.out(), /Local .*: skipped \(BACKUP_SKIP_BACKENDS_FROM_PRUNE\)/);
    assert.equal(readdirSync(dir).length, 60 + 6 + 1);
  });

  test('an unknown --job is a user error naming the jobs', async () => {
    const dir = archiveDir();
    await assert.rejects(runPrune(configFor(dir, RULES), log, { job: 'nope' }, capture().io), /--job nope: no such job/);
  });

  test('as a process: `offsite prune --dry-run` prints the plan, exit 0', () => {
    const dir = archiveDir();
    const { env } = isolatedEnv({ BACKUP_ARCHIVE: dir, BACKUP_SOURCES: join(dir, '..', 'src'), BACKUP_RETENTION_KEEP_LAST: '10' });
    const r = runCli(['prune', '--dry-run'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /job default: keep last 10/);
    assert.match(r.stdout, /60 backup\(s\), keep 10, would remove 50/);
    assert.match(r.stdout, /keep {4}backup-2026-03-01T02-00-00\.tar\.gz +2026-03-01 02:00:00 UTC +last 1\/10/);
    assert.equal(readdirSync(dir).length, 60 + 6 + 1);
    const bad = runCli(['prune', '--dry-runn'], env);
    assert.equal(bad.code, 5);
  });

  test('`offsite list` shows the same reasons in a RETENTION column (and in --json); without retention no column', () => {
    const dir = archiveDir();
    const { env } = isolatedEnv({
      BACKUP_ARCHIVE: dir,
      BACKUP_SOURCES: join(dir, '..', 'src'),
      BACKUP_RETENTION_KEEP_LAST: '2',
      BACKUP_RETENTION_KEEP_MONTHLY: '2',
      LOG_LEVEL: 'error',
    });
    const r = runCli(['list'], env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /LAST VERIFIED +RETENTION$/);
    assert.match(r.stdout, /backup-2026-03-01T02-00-00\.tar\.gz .* never +keep: last 1\/2, monthly 1\/2\n/);
    assert.match(r.stdout, /backup-2026-02-28T02-00-00\.tar\.gz .* never +keep: last 2\/2, monthly 2\/2\n/);
    assert.match(r.stdout, /backup-2026-02-27T02-00-00\.tar\.gz .* never +remove: no rule keeps it\n/);
    const j = JSON.parse(runCli(['list', '--json'], env).stdout) as Array<{ name: string; retention: { keep: boolean; reasons: string[] } | null }>;
    assert.deepEqual(j.find((x) => x.name === 'backup-2026-03-01T02-00-00.tar.gz')!.retention, { keep: true, reasons: ['last 1/2', 'monthly 1/2'] });
    const off = runCli(['list'], { ...env, BACKUP_RETENTION_KEEP_LAST: '', BACKUP_RETENTION_KEEP_MONTHLY: '' });
    assert.match(off.stdout.split('\n')[0]!, /LAST VERIFIED$/);
  });
});
