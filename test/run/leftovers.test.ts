// Leftovers of interrupted runs: which temporary names are stale (the lock proves runs
// sharing it have ended; others only once old), removal on the local destination and in
// BACKUP_TMP_DIR, and a server that cannot list unfinished multipart uploads (s3rver).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createLocalDestination } from '../../src/destinations/local.ts';
import { createS3Destination } from '../../src/destinations/s3.ts';
import {
  isStaleLeftover,
  leftoverPolicy,
  offsiteTempName,
  parseTempName,
  setWriterIdentity,
  writerTag,
  LEFTOVER_MAX_AGE_MS,
} from '../../src/destinations/leftovers.ts';
import { isTemporaryName } from '../../src/retention/index.ts';
import { cleanupLeftovers } from '../../src/run/leftovers.ts';
import { silentLogger } from '../../src/log.ts';
import { startS3rver, S3RVER_CREDENTIALS } from '../servers/s3rver.ts';

const log = silentLogger();
const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});
const dir = async () => {
  const r = await mkdtemp(join(tmpdir(), 'offsite-leftovers-'));
  roots.push(r);
  return r;
};

describe('temporary names', () => {
  test('carry offsite, the writer and a time stamp; retention never takes them for backups', () => {
    setWriterIdentity('/tmp/some.lock');
    const at = new Date('2026-03-04T05:06:07.089Z');
    const n = offsiteTempName('backup-2026-03-04.tar.gz', at);
    assert.match(n, /^backup-2026-03-04\.tar\.gz\.offsite-[0-9a-f]{8}-20260304T050607089Z-[0-9a-f]{8}\.tmp$/);
    assert.deepEqual(parseTempName(n), { backup: 'backup-2026-03-04.tar.gz', writer: writerTag(), created: at });
    assert.deepEqual(parseTempName(`.${n}`)?.created, at);
    assert.ok(isTemporaryName(n));
    // names of earlier versions are still recognised (writer unknown)
    assert.deepEqual(parseTempName('b.tar.gz.tmp-0123456789ab'), { backup: 'b.tar.gz', writer: null, created: null });
    assert.deepEqual(parseTempName('.b.tar.gz.0123456789abcdef.tmp'), { backup: 'b.tar.gz', writer: null, created: null });
    assert.deepEqual(parseTempName('.offsite-b.tar.gz.0123456789ab.tmp'), { backup: 'b.tar.gz', writer: null, created: null });
    for (const n2 of ['backup.tar.gz', '.keep', 'x.tmp', 'backup.tar.gz.manifest.json']) assert.equal(parseTempName(n2), null, n2);
  });

  test('stale: own writer before the lock was taken, anyone once older than the age limit', () => {
    setWriterIdentity('/tmp/a.lock');
    const lock = new Date('2026-03-04T12:00:00.000Z');
    const policy = leftoverPolicy(lock);
    const before = offsiteTempName('b', new Date(lock.getTime() - 5));
    const afterLock = offsiteTempName('b', new Date(lock.getTime() + 5));
    const fresh = new Date(lock.getTime() - 60_000);
    const old = new Date(lock.getTime() - LEFTOVER_MAX_AGE_MS - 1);
    assert.equal(isStaleLeftover(before, fresh, policy), true, 'own, made before the lock');
    assert.equal(isStaleLeftover(afterLock, fresh, policy), false, 'own, this run');
    setWriterIdentity('/tmp/other.lock');
    const other = offsiteTempName('b', new Date(lock.getTime() - 3_600_000));
    setWriterIdentity('/tmp/a.lock');
    assert.equal(isStaleLeftover(other, fresh, policy), false, 'another writer, recently modified: may still be uploading');
    assert.equal(isStaleLeftover(other, old, policy), true, 'another writer, untouched for longer than the limit');
    assert.equal(isStaleLeftover(other, null, policy), false, 'unknown age');
    assert.equal(isStaleLeftover('b.tmp-0123456789ab', fresh, policy), false);
    assert.equal(isStaleLeftover('b.tmp-0123456789ab', old, policy), true);
    assert.equal(isStaleLeftover('backup.tar.gz', old, policy), false, 'never a backup');
  });
});

describe('cleanupLeftovers', () => {
  test("local destination and BACKUP_TMP_DIR: removes stale leftovers only, never backups or this run's files", async () => {
    const out = await dir();
    const tmp = await dir();
    setWriterIdentity('/tmp/run.lock');
    const lockAt = new Date();
    const crashed = `.${offsiteTempName('backup-1.tar.gz', new Date(lockAt.getTime() - 2000))}`;
    const mine = `.${offsiteTempName('backup-2.tar.gz', new Date(lockAt.getTime() + 1))}`;
    setWriterIdentity('/tmp/elsewhere.lock');
    const othersRecent = `.${offsiteTempName('backup-3.tar.gz', new Date(lockAt.getTime() - 2000))}`;
    const othersOld = `.${offsiteTempName('backup-4.tar.gz', new Date(lockAt.getTime() - 2000))}`;
    setWriterIdentity('/tmp/run.lock');
    const legacyOld = '.backup-5.tar.gz.0123456789abcdef.tmp';
    const stagedCrashed = `.${offsiteTempName('backup-1.tar.gz', new Date(lockAt.getTime() - 2000))}`;
    for (const n of [crashed, mine, othersRecent, othersOld, legacyOld, 'backup-0.tar.gz', '.keep']) await writeFile(join(out, n), 'x');
    for (const n of [stagedCrashed, '.unrelated', 'other.tmp']) await writeFile(join(tmp, n), 'x');
    const old = new Date(lockAt.getTime() - LEFTOVER_MAX_AGE_MS - 60_000);
    await utimes(join(out, othersOld), old, old);
    await utimes(join(out, legacyOld), old, old);
    let text = '';
    const clog = pino(
      { level: 'info' },
      new Writable({
        write(c, _e, cb) {
          text += c;
          cb();
        },
      }),
    );
    const warnings = await cleanupLeftovers([createLocalDestination({ dir: out, latestSymlink: null }, log)], tmp, leftoverPolicy(lockAt), clog);
    assert.deepEqual(warnings, []);
    assert.deepEqual((await readdir(out)).sort(), ['.keep', 'backup-0.tar.gz', mine, othersRecent].sort());
    assert.deepEqual((await readdir(tmp)).sort(), ['.unrelated', 'other.tmp']);
    assert.match(text, /removed 3 leftover\(s\) of interrupted runs from Local/);
    assert.match(text, /removed 1 leftover\(s\) of interrupted runs from BACKUP_TMP_DIR/);
  });

  test('a destination whose cleanup fails is a warning, and a missing directory has nothing to clean', async () => {
    const broken = {
      ...createLocalDestination({ dir: await dir(), latestSymlink: null }, log),
      async cleanupLeftovers(): Promise<never> {
        throw new Error('server said no');
      },
    };
    const missing = createLocalDestination({ dir: join(await dir(), 'gone'), latestSymlink: null }, log);
    const warnings = await cleanupLeftovers([broken, missing], join(await dir(), 'no-tmp'), leftoverPolicy(new Date()), log);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Local: could not remove leftovers of interrupted runs from .*: server said no/);
  });

  test('S3 on a server without ListMultipartUploads (s3rver): noted, not a failure', async () => {
    const s3 = await startS3rver({ buckets: ['leftovers'] });
    try {
      const d = createS3Destination(
        {
          bucket: 'leftovers',
          path: 'p/',
          region: 'us-east-1',
          endpoint: s3.endpoint,
          credentials: S3RVER_CREDENTIALS,
          partSize: 5 << 20,
          checksum: 'when_required',
          insecure: false,
        } as never,
        {},
        log,
      );
      const r = await d.cleanupLeftovers!(leftoverPolicy(new Date()));
      assert.deepEqual(r.removed, []);
      assert.match(r.note ?? '', /ListMultipartUploads not implemented/);
      assert.deepEqual(await cleanupLeftovers([d], join(await dir(), 'none'), leftoverPolicy(new Date()), log), []);
      await d.close();
    } finally {
      await s3.close();
    }
  });
});
