/**
 * A private PostgreSQL cluster for tests: initdb in a temp dir, listening only
 * on a unix socket in that dir (no TCP port to collide with), trust auth.
 * initdb refuses to run as root, so as root the server runs as the `postgres`
 * system user (Debian's postgresql package creates it).
 */
import { execFileSync, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Postgres {
  bin: string;
  /** Directory holding the server's socket (use as host: `-h <sockDir>`). */
  sockDir: string;
  port: number;
  /** uid/gid the server runs as. */
  uid: number;
  gid: number;
  /** Run SQL with psql (-At, ON_ERROR_STOP) and return its stdout. */
  psql(db: string, sql: string): string;
  /** Load a SQL file into a database. */
  psqlFile(db: string, file: string): void;
  stop(): void;
}

/** The newest installed server's bin directory, or null. */
export function findPostgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

export function startPostgres(bin: string): Postgres {
  const root = process.getuid?.() === 0;
  const uid = root ? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()) : process.getuid!();
  const gid = root ? Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()) : process.getgid!();
  const base = mkdtempSync(join(tmpdir(), 'offsite-pg-'));
  chownSync(base, uid, gid);
  const data = join(base, 'data');
  const port = 5432;
  const asServer: SpawnSyncOptions = { uid, gid, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } };
  const run = (cmd: string, args: string[], opts: SpawnSyncOptions) => {
    const r = spawnSync(cmd, args, { timeout: 60_000, ...opts });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
    return String(r.stdout);
  };
  run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], asServer);
  run(
    join(bin, 'pg_ctl'),
    ['-D', data, '-l', join(base, 'server.log'), '-w', '-o', `-k ${base} -p ${port} -c listen_addresses= -c fsync=off`, 'start'],
    asServer,
  );
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    spawnSync(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], { ...asServer, timeout: 30_000 });
    rmSync(base, { recursive: true, force: true });
  };
  process.once('exit', stop);
  const client = (db: string, extra: string[]) =>
    run(join(bin, 'psql'), ['-h', base, '-p', String(port), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-X', '-q', '-At', ...extra], {
      encoding: 'utf8',
    });
  return {
    bin,
    sockDir: base,
    port,
    uid,
    gid,
    psql: (db, sql) => client(db, ['-c', sql]),
    psqlFile: (db, file) => {
      client(db, ['-f', file]);
    },
    stop,
  };
}
