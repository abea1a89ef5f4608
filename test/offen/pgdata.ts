// A PostgreSQL data directory for offen's scenarios that back up a postgres volume (secrets,
// ownership): made by the real initdb (PostgreSQL from .ci/system-packages.sh) as the postgres
// user when running as root with PostgreSQL installed, else a directory holding PG_VERSION.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';

export function findInitdb(): string | undefined {
  try {
    return readdirSync('/usr/lib/postgresql')
      .map((v) => join('/usr/lib/postgresql', v, 'bin', 'initdb'))
      .find((p) => existsSync(p));
  } catch {
    return undefined;
  }
}

/** true when makePgData runs the real initdb. */
export function canInitdb(): boolean {
  return !!findInitdb() && process.getuid?.() === 0 && spawnSync('id', ['postgres'], { stdio: 'ignore' }).status === 0;
}

/** A postgres data directory: the real initdb as the postgres user when possible, else PG_VERSION alone. */
export function makePgData(pgData: string): void {
  const initdb = findInitdb();
  if (initdb && canInitdb()) {
    mkdirSync(pgData, { recursive: true });
    // the postgres user must reach the directory through the test's private (0700) ones
    for (let p = dirname(pgData); p !== dirname(p) && p.startsWith(tmpdir() + '/'); p = dirname(p)) chmodSync(p, 0o711);
    execFileSync('chown', ['postgres:postgres', pgData]);
    const r = spawnSync('runuser', ['-u', 'postgres', '--', initdb, '-D', pgData, '--auth=trust', '--no-sync'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `initdb: ${r.stdout}${r.stderr}`);
    return;
  }
  mkdirSync(pgData, { recursive: true });
  writeFileSync(join(pgData, 'PG_VERSION'), '14\n');
}
