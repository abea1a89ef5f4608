// The three steps offen's destination scenarios (test/s3, webdav, ssh, azure, dropbox,
// googledrive) share, for test/offen/<scenario>.test.ts: `docker compose exec backup backup`
// becomes `offsite backup` run as a process with the scenario's environment (HOSTNAME
// hostnametoken, BACKUP_FILENAME test-$HOSTNAME.tar.gz expanded, the "never" cron
// `0 0 5 31 2 ?`, BACKUP_PRUNING_LEEWAY 5s, BACKUP_PRUNING_PREFIX test), the volume app_data is
// a directory <tmp>/backup/app_data holding offen.db, and the store is read by the test
// itself (the server's data directory or a client independent of offsite), as offen's run.sh
// reads the server's volume with `docker run -v ..._backup_data`:
//  1. backup with BACKUP_RETENTION_DAYS 7; the stored archive extracts with tar to
//     backup/app_data/offen.db ("Found relevant files in untared remote backups.")
//  2. backup with BACKUP_RETENTION_DAYS 0: still exactly one backup ("Remote backups have not
//     been deleted.": retention 0 never deletes every backup)
//  3. backup with 7, an old backup test-hostnametoken-old.tar.gz 14 days old is put into the
//     store (offen: `touch -d@$(( $(date +%s) - 1209600 ))` in the server's volume), backup with
//     7 again: the old one is gone, the new one is present ("Old remote backup has been pruned,
//     new one is still present.").
// The `offen` container stopped during the backup (expect_running_containers) needs Docker and
// is left out. Deliberate difference (README, "offen's own test scenarios"): offsite writes a
// manifest `<archive>.manifest.json` beside each backup, so offen's `find ... -type f | wc -l`
// counts archives only here.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';

export const NAME = 'test-hostnametoken.tar.gz';
export const OLD = 'test-hostnametoken-old.tar.gz';
export const FOURTEEN_DAYS_AGO = () => new Date(Date.now() - 1_209_600_000);

export interface Store {
  /** Names of the files in the backup folder, read without offsite. */
  names(): Promise<string[]>;
  /** The bytes of a stored file, read without offsite. */
  read(name: string): Promise<Buffer>;
  /** Puts an (empty) file of that name into the backup folder, last modified 14 days ago. */
  putOld(name: string): Promise<void>;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  out: string;
}

/** Runs the CLI without blocking this process (in-process fakes keep answering); out is stdout then stderr. */
export async function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const r = await runCliAsync(args, env);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr };
}

/** offen's backup service environment (less the destination's variables) and its app_data volume. */
export function offenSetup(destinationEnv: Record<string, string>): {
  dir: string;
  env: (days: string) => Record<string, string>;
  cleanup: () => void;
} {
  const { dir, env: base } = isolatedEnv();
  const appData = join(dir, 'backup', 'app_data'); // app_data:/backup/app_data:ro
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  return {
    dir,
    env: (days) => ({
      ...base,
      HOSTNAME: 'hostnametoken',
      BACKUP_FILENAME_EXPAND: 'true',
      BACKUP_FILENAME: 'test-$HOSTNAME.tar.gz',
      BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
      BACKUP_RETENTION_DAYS: days,
      BACKUP_PRUNING_LEEWAY: '5s',
      BACKUP_PRUNING_PREFIX: 'test',
      BACKUP_SOURCES: join(dir, 'backup'),
      BACKUP_ARCHIVE: '', // no /archive volume in these compose files
      ...destinationEnv,
    }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Error-level lines of offsite's JSON log (offen's run.sh: `grep -q "ERROR"`). */
export function errorLines(out: string): string[] {
  return out.split('\n').filter((l) => {
    try {
      return (JSON.parse(l) as { level?: number }).level! >= 50;
    } catch {
      return false;
    }
  });
}

export function archivesOf(names: string[]): string[] {
  return names.filter((n) => !n.endsWith('.manifest.json')).sort();
}

/** Extracts an archive's bytes with GNU tar and says whether backup/app_data/offen.db is in it. */
export function hasOffenDb(archive: Buffer, dir: string): boolean {
  const tmp = mkdtempSync(join(tmpdir(), 'offen-scenario-out-'));
  try {
    const file = join(tmp, 'archive.tar.gz');
    writeFileSync(file, archive);
    execFileSync('tar', ['-xf', file, '-C', tmp]);
    // offsite runs as a process: the volume is <dir>/backup/app_data, stored without its leading slash
    return existsSync(join(tmp, dir.slice(1), 'backup', 'app_data', 'offen.db'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The runs' logs say the last one pruned the old backup from `destination` (offen: "Pruning failed, ..."), no run before it pruned. */
export function assertOnlyLastRunPruned(runs: CliResult[], destination: string): void {
  const last = runs.at(-1)!;
  assert.match(last.out, new RegExp(`pruned 1 file\\(s\\) from ${destination} [^"]*, kept 1 backup\\(s\\)`), 'Pruning failed, old backup has not been pruned');
  for (const r of runs.slice(0, -1)) assert.doesNotMatch(r.out, /pruned \d+ file/, 'only the last run prunes');
}

/** offen's three steps against `store`; returns each run's output for scenario-specific checks. */
export async function runOffenDestinationScenario(store: Store, setup: ReturnType<typeof offenSetup>): Promise<CliResult[]> {
  const runs: CliResult[] = [];
  const backup = async (days: string) => {
    const r = await cli(['backup'], setup.env(days));
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(errorLines(r.out), [], 'Backup failed, errors reported');
    runs.push(r);
  };

  await backup('7');
  assert.deepEqual(archivesOf(await store.names()), [NAME]);
  assert.ok(hasOffenDb(await store.read(NAME), setup.dir), 'Found relevant files in untared remote backups.');

  // retention 0 would mean deleting every backup: nothing is deleted
  await backup('0');
  assert.deepEqual(archivesOf(await store.names()), [NAME], 'Remote backups have not been deleted.');

  // retention 7 prunes a 14 days old backup and keeps the new one
  await backup('7');
  await store.putOld(OLD);
  assert.deepEqual(archivesOf(await store.names()), [OLD, NAME]);
  await backup('7');
  assert.deepEqual(archivesOf(await store.names()), [NAME], 'Old remote backup has been pruned, new one is still present.');
  assert.ok(hasOffenDb(await store.read(NAME), setup.dir), 'the remaining backup is the new one, whole');
  return runs;
}
