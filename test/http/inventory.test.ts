// The backups inventory (status page, /api/v1/backups) reads each backup's manifest for its file
// count under the same bound as the listing (BACKUP_DESTINATION_TIMEOUT): a destination that
// answers its listing but stalls on the manifests does not delay the backups list beyond it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { str } from 'envalid';
import pino from 'pino';
import { defineDestination } from '../../src/destinations/definition.ts';
import { registerDestination } from '../../src/destinations/registry.ts';
import { parseJob } from '../../src/config/index.ts';
import { Inventory } from '../../src/http/inventory.ts';
import { buildManifest, buildSidecar, encodeManifest, sidecarName } from '../../src/manifest/index.ts';
import type { Destination, BackupObject } from '../../src/destinations/types.ts';
import type { ConfigIssue } from '../../src/errors.ts';

const TIMEOUT_S = 2;
/** Start-up and scheduling noise on a loaded machine, on top of the bound. */
const SLACK_MS = 1500;

const names = ['backup-2026-03-03T02-00-00.tar.gz', 'backup-2026-03-02T02-00-00.tar.gz', 'backup-2026-03-01T02-00-00.tar.gz'];
let stallAfter = 1; // manifests answered before the destination stalls
let reads = 0;

function sidecarOf(name: string, files: number): Buffer {
  const m = buildManifest({
    job: 'default',
    created: new Date('2026-03-01T02:00:00Z'),
    sources: ['/backup'],
    counts: { files, directories: 1, symlinks: 0 },
    bytes: 10,
    compression: 'gz',
    encryption: 'none',
  });
  return encodeManifest(
    buildSidecar(m, { name, size: 100, sha256: 'ab'.repeat(32) }, { files, directories: 1, symlinks: 0, bytes: 10, skipped: 0, unreadable: 0 }),
  );
}

const stall = defineDestination<{ bucket: string }>({
  kind: 'Stall',
  title: 'Stalling test destination',
  variables: { STALL_BUCKET: str({ default: '', desc: 'enables the stalling destination' }) },
  secrets: [],
  trigger: 'STALL_BUCKET',
  parse: (env) => (env.STALL_BUCKET ? { bucket: env.STALL_BUCKET } : null),
  async create(config) {
    const objects: BackupObject[] = names.flatMap((name) => [
      { name, size: 100, modified: new Date('2026-03-03T02:00:00Z') },
      { name: sidecarName(name), size: 500, modified: new Date('2026-03-03T02:00:00Z') },
    ]);
    const d: Destination = {
      name: 'Stall',
      location: `stall://${config.bucket}`,
      async upload() {},
      async list(prefix) {
        return objects.filter((o) => o.name.startsWith(prefix));
      },
      async remove() {},
      async download(name) {
        // the manifests: the first ones answer, then the stream never ends (a stalled connection)
        if (reads++ < stallAfter) return Readable.from([sidecarOf(name.replace(/\.manifest\.json$/, ''), 42)]);
        return new Readable({ read() {} });
      },
      async close() {},
    };
    return d;
  },
});

function job() {
  const issues: ConfigIssue[] = [];
  const j = parseJob(
    'default',
    'environment',
    { STALL_BUCKET: 'b', BACKUP_DESTINATION_TIMEOUT: `${TIMEOUT_S}s`, BACKUP_RETENTION_DAYS: '7' },
    issues,
    () => false,
  );
  assert.deepEqual(issues, []);
  return j!;
}

test('a destination that stalls on its manifests: the backups list comes within BACKUP_DESTINATION_TIMEOUT, without the counts it could not read', async (t) => {
  t.after(registerDestination(stall));
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void warnings.push((JSON.parse(l) as { msg: string }).msg) });
  const inv = new Inventory([job()], '/nonexistent-state', log);
  const started = Date.now();
  let guard: NodeJS.Timeout | undefined;
  const items = await Promise.race([
    inv.job('default', true),
    new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error('the backups list did not come within 4 times the bound')), TIMEOUT_S * 4000);
    }),
  ]).finally(() => clearTimeout(guard));
  const ms = Date.now() - started;
  assert.ok(ms <= TIMEOUT_S * 1000 + SLACK_MS, `the list took ${ms} ms`);
  assert.equal(items.length, 1);
  const d = items[0]!;
  assert.equal(d.error, null, 'the listing itself succeeded');
  assert.deepEqual(
    d.backups.map((b) => [b.name, b.files]),
    [
      [names[0], 42],
      [names[1], null],
      [names[2], null],
    ],
  );
  assert.match(
    warnings.join('\n'),
    /reading the backups' manifests on Stall took longer than BACKUP_DESTINATION_TIMEOUT \(2s\); 2 backups are listed without a file count/,
  );
});

test('a destination that answers: every count read, no warning', async (t) => {
  t.after(registerDestination(stall));
  stallAfter = Infinity;
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) });
  const items = await new Inventory([job()], '/nonexistent-state', log).job('default', true);
  assert.deepEqual(
    items[0]!.backups.map((b) => b.files),
    [42, 42, 42],
  );
  assert.deepEqual(warnings, []);
});
