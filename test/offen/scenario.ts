// Steps the translations of offen's compose scenarios (test/offen/<scenario>.test.ts) share, run
// without Docker: each test gets an isolated environment (test/helpers/cli.ts isolatedEnv) whose
// volume, e.g. app_data, is a directory <tmp>/backup/app_data and whose /archive is a directory
// <tmp>/local; `docker compose exec backup backup` is `offsite backup` run as a process; an archive
// is checked by extracting it with GNU tar, where its paths carry the <tmp> prefix (offsite archives
// the sources' absolute paths, stored without the leading slash). The scenarios that need Docker
// containers or Swarm services talk to the Docker Engine API stand-in (test/servers/docker-fake.ts)
// through DOCKER_HOST; the ones with an S3 server use s3rver with its own access key.
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { DockerFake } from '../servers/docker-fake.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';
import { cli, type CliResult } from './destination-scenario.ts';

/** The "never" cron offen's compose files give the backup service (backups are run by hand). */
export const NEVER = '0 0 5 31 2 ?';

/** A list of directories removed after the file's tests. */
export function removedAfter(): string[] {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return dirs;
}

export interface Volume {
  /** The isolated environment's directory (in `dirs`). */
  dir: string;
  env: Record<string, string>;
  /** The volume: <dir>/backup/<volume> holding offen.db ("db"). */
  appData: string;
  /** /archive: <dir>/<archive>, created unless archive is null. */
  local: string;
}

/** isolatedEnv() with offen's volume (app_data:/backup/app_data, holding offen.db) and its /archive. */
export function offenVolume(dirs: string[], { volume = 'app_data', archive = 'local' as string | null } = {}): Volume {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', volume);
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  const local = join(dir, archive ?? 'local');
  if (archive !== null) mkdirSync(local);
  return { dir, env, appData, local };
}

/** `offsite backup` with env; asserts it exits 0 (the output is the message otherwise). */
export function backupOk(env: Record<string, string>): ReturnType<typeof runCli> {
  const r = runCli(['backup'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r;
}

/**
 * The backup of offen's encryption scenarios (age-passphrase, age-publickey, gpg, gpg-asym): the
 * literal BACKUP_FILENAME test.tar.gz (offsite appends `.<suffix>`), the latest symlink
 * test-latest.tar.gz.<suffix>, retention 7, the "never" cron, and the scenario's encryption
 * variables; asserts it exits 0.
 */
export function encryptedBackupOk(vol: Volume, suffix: 'age' | 'gpg', encryption: Record<string, string>): void {
  backupOk({
    ...vol.env,
    BACKUP_CRON_EXPRESSION: NEVER,
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_LATEST_SYMLINK: `test-latest.tar.gz.${suffix}`,
    BACKUP_RETENTION_DAYS: '7',
    ...encryption,
    BACKUP_SOURCES: join(vol.dir, 'backup'),
    BACKUP_ARCHIVE: vol.local,
  });
}

/**
 * offen's checks after decrypting to /archive/decrypted.tar.gz: tar extracts it to
 * backup/app_data/offen.db (`what` adds to the message), it is removed again, and the latest
 * symlink test-latest.tar.gz.<suffix> is a symlink.
 */
export function assertDecryptedHoldsOffenDb(vol: Volume, dirs: string[], suffix: 'age' | 'gpg', what = ''): void {
  const extracted = untar(join(vol.local, 'decrypted.tar.gz'), dirs);
  assert.ok(existsSync(extracted(join(vol.appData, 'offen.db'))), `Could not find expected file in untared archive${what}.`);
  rmSync(join(vol.local, 'decrypted.tar.gz'));
  assert.ok(lstatSync(join(vol.local, `test-latest.tar.gz.${suffix}`)).isSymbolicLink(), 'Could not find local symlink to latest encrypted backup.');
}

/**
 * Extracts `archive` with GNU tar (`tar <args> <archive> -C <new dir>`, the new directory in
 * `dirs`); returns where an absolute path archived by offsite is found in the extracted tree.
 */
export function untar(archive: string, dirs: string[], args: string[] = ['-xf']): (path: string) => string {
  const out = mkdtempSync(join(tmpdir(), 'offen-out-'));
  dirs.push(out);
  execFileSync('tar', [...args, archive, '-C', out]);
  return (path) => join(out, path.slice(1));
}

/** The S3 variables for s3rver on 127.0.0.1:port (plain http, its own key), bucket `backup`. */
export function s3rverEnv(port: number): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT: `127.0.0.1:${port}`,
    AWS_ENDPOINT_PROTO: 'http',
    AWS_S3_BUCKET_NAME: 'backup',
  };
}

/** s3rver with the bucket `backup` (offen: mkdir -p /data/backup), started before the file's tests and closed after them. */
export function s3rverWithBucket(): { readonly server: S3rverHandle } {
  let server: S3rverHandle | undefined;
  before(async () => {
    server = await startS3rver({ buckets: ['backup'] });
  });
  after(async () => {
    await server?.close();
  });
  return {
    get server() {
      return server!;
    },
  };
}

/**
 * The backup service's environment in offen's Swarm stacks backing up pg_data to MinIO
 * (test/services, test/swarm): test.tar.gz to bucket backup, retention 7 days, leeway 5s, no /archive.
 */
export function swarmStackS3Env(env: Record<string, string>, dir: string, port: number): Record<string, string> {
  return {
    ...env,
    ...s3rverEnv(port),
    BACKUP_FILENAME: 'test.tar.gz',
    BACKUP_CRON_EXPRESSION: NEVER,
    BACKUP_RETENTION_DAYS: '7',
    BACKUP_PRUNING_LEEWAY: '5s',
    BACKUP_SOURCES: join(dir, 'backup'),
    BACKUP_ARCHIVE: '',
  };
}

/** The Docker Engine API stand-in, started before the file's tests and closed after them with `dirs`. */
export function dockerStandIn(): { readonly fake: DockerFake; dirs: string[] } {
  let fake: DockerFake | undefined;
  const dirs = removedAfter();
  before(async () => {
    fake = await DockerFake.start();
  });
  after(async () => {
    await fake?.close();
  });
  return {
    get fake() {
      return fake!;
    },
    dirs,
  };
}

/** The labels Swarm gives a task container of a service. */
export function swarmTaskLabels(serviceId: string, serviceName: string): Record<string, string> {
  return { 'com.docker.swarm.service.id': serviceId, 'com.docker.swarm.service.name': serviceName };
}

/** `offsite backup` with env, talking to the stand-in through DOCKER_HOST (not blocking it). */
export function backupWithDocker(fake: DockerFake, env: Record<string, string>): Promise<CliResult> {
  return cli(['backup'], { ...env, DOCKER_HOST: `unix://${fake.socketPath}` });
}
