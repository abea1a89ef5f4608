/**
 * The destination contract (src/destinations/types.ts), checked the same way on
 * every destination against a real server. Each destination's test file calls
 * runDestinationContract() once:
 *
 *   runDestinationContract('S3', async () => ({
 *     create: async (path) => createS3Destination({ ...config, path }, log),
 *     unreachable: async (path, timeoutMs) => ...,   // pointing at a stopped server
 *     teardown: async () => server.close(),
 *   }), { 'upload refuses to overwrite': 'S3 has no conditional put on s3rver' });
 *
 * Every case gets its own fresh path (which does not exist yet on the server), so cases
 * never see each other's objects. A skipped case needs a reason a reader can check.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Destination } from '../../src/destinations/types.ts';
import { bytes, digest, generated } from './streams.ts';
import { startFaultProxy } from '../servers/fault-proxy.ts';

export interface ContractHarness {
  /**
   * A destination rooted at `path`: relative, '/'-separated, ending in '/', fresh (it does
   * not exist yet on the server). Map it onto the destination's path setting
   * (AWS_S3_PATH, AZURE_STORAGE_PATH, WEBDAV_PATH, SSH_REMOTE_PATH, ...) below a test root.
   */
  create(path: string): Promise<Destination>;
  /**
   * A destination configured like create() whose server is stopped (or a port where nothing
   * listens), with its connect/request timeout set to `timeoutMs`.
   */
  unreachable?(path: string, timeoutMs: number): Promise<Destination>;
  /**
   * A destination configured like create() whose server side can be made to fail in the
   * middle of an upload: `breakAfter(bytes)` makes the server fail once that much more was
   * sent (a connection reset, a write refused for lack of space); `heal()` undoes it.
   * `stored()` lists the names in the server's storage for the path (temporary files
   * included), or null when the test cannot see the storage.
   */
  failing?(path: string): Promise<FailingServer>;
  /** Stop servers, remove temp dirs. */
  teardown?(): Promise<void>;
}

export interface FailingServer {
  d: Destination;
  breakAfter(bytes: number): Promise<void>;
  heal(): Promise<void>;
  stored(): string[] | null;
  close?(): Promise<void>;
}

/**
 * failing() for a network destination: the destination reaches its server through a
 * fault proxy, and breakAfter() cuts the connection (a reset) once that many bytes passed.
 */
export async function viaFaultProxy(
  upstreamPort: number,
  make: (port: number) => Destination | Promise<Destination>,
  stored: () => string[] | null = () => null,
): Promise<FailingServer> {
  const proxy = await startFaultProxy({ port: upstreamPort });
  return {
    d: await make(proxy.port),
    breakAfter: (bytes) => proxy.setMode({ kind: 'cut', afterBytes: bytes }),
    heal: () => proxy.setMode({ kind: 'pass' }),
    stored,
    close: () => proxy.close(),
  };
}

export const CONTRACT_CASES = [
  'round trip 0 bytes',
  'round trip 1 byte',
  'round trip 50 MiB streamed',
  'names with spaces and unicode',
  'path that does not exist yet',
  'list with a prefix pages past 1000 objects',
  'remove more than 1000 in one call',
  'failed source leaves nothing and keeps older backup',
  'aborted upload leaves nothing',
  'server failing mid-upload leaves nothing and keeps older backup',
  'upload to a stopped server fails clearly',
  'list of an empty or missing path returns nothing',
  'remove of missing names is not an error',
  'download of a missing name fails',
  'an existing name is refused without replace',
  'replace swaps an existing backup for the new one',
  'failed replacement keeps the old backup intact',
  'server failing mid-replacement keeps the old backup intact',
  'names with a separator or .. are refused by upload, remove and download',
] as const;

export type ContractCase = (typeof CONTRACT_CASES)[number];

export interface ContractOptions {
  /** Objects created for the pagination and bulk-remove cases (> 1000). */
  manyCount?: number;
  /** Upload concurrency used to create them. */
  manyConcurrency?: number;
  /** Connect/request timeout given to unreachable(). */
  unreachableTimeoutMs?: number;
}

const MiB = 1 << 20;

export function runDestinationContract(
  name: string,
  setup: () => Promise<ContractHarness>,
  skip: Partial<Record<ContractCase, string>> = {},
  options: ContractOptions = {},
): void {
  for (const [c, reason] of Object.entries(skip)) {
    if (!(CONTRACT_CASES as readonly string[]).includes(c)) throw new Error(`contract: unknown case in skip list: ${c}`);
    if (!reason || reason.trim().length < 10) throw new Error(`contract: skip of "${c}" needs a reason`);
  }
  const manyCount = options.manyCount ?? 1005;
  const manyConcurrency = options.manyConcurrency ?? 16;
  const unreachableTimeoutMs = options.unreachableTimeoutMs ?? 2000;

  describe(`${name} destination contract`, () => {
    let harness: ContractHarness;
    const opened: Destination[] = [];
    const closers: (() => Promise<void>)[] = [];
    let seq = 0;
    const run = randomBytes(3).toString('hex');

    const fresh = async (label = 'case'): Promise<Destination> => {
      const d = await harness.create(`contract-${run}/${++seq}-${label}/`);
      opened.push(d);
      return d;
    };

    before(async () => {
      harness = await setup();
    });
    after(async () => {
      for (const d of opened) await d.close().catch(() => {});
      for (const c of closers) await c().catch(() => {});
      await harness?.teardown?.();
    });

    const cas = (c: ContractCase, fn: () => Promise<void>, timeout?: number) => {
      const reason = skip[c];
      if (reason) test(c, { skip: reason }, () => {});
      else test(c, { timeout: timeout ?? 120_000 }, fn);
    };

    async function roundTrip(d: Destination, objectName: string, size: number): Promise<void> {
      const g = size <= 1 ? bytes(randomBytes(size)) : generated(size);
      await d.upload(objectName, g.stream, {});
      const want = await g.sha256;
      const listed = await d.list(objectName);
      const entry = listed.find((o) => o.name === objectName);
      assert.ok(entry, `list(${JSON.stringify(objectName)}) should contain the object, got ${JSON.stringify(listed.map((o) => o.name))}`);
      assert.equal(entry.size, size);
      assert.ok(entry.modified instanceof Date && !Number.isNaN(entry.modified.getTime()), 'modified is a valid Date');
      assert.ok(Math.abs(entry.modified.getTime() - Date.now()) < 24 * 3600_000, 'modified is about now');
      const got = await digest(await d.download(objectName));
      assert.equal(got.size, size);
      assert.equal(got.sha256, want);
    }

    cas('round trip 0 bytes', async () => {
      await roundTrip(await fresh('zero'), 'backup-empty.tar.gz', 0);
    });

    cas('round trip 1 byte', async () => {
      await roundTrip(await fresh('one'), 'backup-one.tar.gz', 1);
    });

    cas('round trip 50 MiB streamed', async () => {
      await roundTrip(await fresh('big'), 'backup-big.tar.gz', 50 * MiB);
    });

    cas('names with spaces and unicode', async () => {
      const d = await harness.create(`contract-${run}/${++seq} spaced ünï dir/`);
      opened.push(d);
      const n = 'backup 2026-01-02 ünïcødé – 日本語 😀.tar.gz';
      await roundTrip(d, n, 1234);
      const all = await d.list('backup ');
      assert.deepEqual(
        all.map((o) => o.name),
        [n],
      );
      await d.remove([n]);
      assert.deepEqual(await d.list(''), []);
    });

    cas('path that does not exist yet', async () => {
      const d = await harness.create(`contract-${run}/${++seq}-deep/a/b/c/`);
      opened.push(d);
      assert.deepEqual(await d.list(''), []);
      await roundTrip(d, 'backup-deep.tar', 4096);
    });

    // Shared by the two bulk cases; created once, by whichever runs first.
    let many: { d: Destination; names: string[] } | null = null;
    async function ensureMany(): Promise<{ d: Destination; names: string[] }> {
      if (many) return many;
      const d = await fresh('many');
      const names = Array.from({ length: manyCount }, (_, i) => `many-${String(i).padStart(5, '0')}.tar.gz`);
      const others = ['other-1.tar.gz', 'other-2.tar.gz', 'man.tar.gz'];
      const queue = [...names, ...others];
      await Promise.all(
        Array.from({ length: manyConcurrency }, async () => {
          for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
            await d.upload(n, Readable.from([Buffer.from(n)]), {});
          }
        }),
      );
      many = { d, names };
      return many;
    }

    cas(
      'list with a prefix pages past 1000 objects',
      async () => {
        const { d, names } = await ensureMany();
        const listed = await d.list('many-');
        assert.equal(listed.length, names.length);
        assert.deepEqual(listed.map((o) => o.name).sort(), [...names].sort());
        for (const o of listed) assert.equal(o.size, o.name.length);
        const all = await d.list('');
        assert.equal(all.length, names.length + 3);
      },
      300_000,
    );

    cas(
      'remove more than 1000 in one call',
      async () => {
        const { d, names } = await ensureMany();
        await d.remove(names);
        assert.deepEqual(await d.list('many-'), []);
        assert.deepEqual((await d.list('')).map((o) => o.name).sort(), ['man.tar.gz', 'other-1.tar.gz', 'other-2.tar.gz']);
      },
      300_000,
    );

    cas('failed source leaves nothing and keeps older backup', async () => {
      const d = await fresh('fail');
      const old = generated(3 * MiB);
      await d.upload('backup-2026-01-01.tar.gz', old.stream, {});
      const oldSha = await old.sha256;
      const bad = generated(20 * MiB, { failAfter: 5 * MiB + 123 });
      await assert.rejects(d.upload('backup-2026-01-02.tar.gz', bad.stream, {}));
      const listed = await d.list('backup-');
      assert.deepEqual(
        listed.map((o) => o.name),
        ['backup-2026-01-01.tar.gz'],
      );
      assert.equal(listed[0]!.size, 3 * MiB);
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['backup-2026-01-01.tar.gz'],
        'no temporary object is listed',
      );
      assert.equal((await digest(await d.download('backup-2026-01-01.tar.gz'))).sha256, oldSha);
      await assert.rejects(async () => digest(await d.download('backup-2026-01-02.tar.gz')));
    });

    cas('aborted upload leaves nothing', async () => {
      const d = await fresh('abort');
      const ac = new AbortController();
      const slow = generated(64 * MiB, {
        chunk: 256 * 1024,
        delayMs: 5,
        onBytes: (n) => {
          if (n >= 2 * MiB && !ac.signal.aborted) ac.abort(new Error('aborted by test'));
        },
      });
      await assert.rejects(d.upload('backup-aborted.tar.gz', slow.stream, { signal: ac.signal }));
      assert.deepEqual(await d.list(''), []);
    });

    cas('server failing mid-upload leaves nothing and keeps older backup', async () => {
      assert.ok(harness.failing, 'harness.failing() is required unless this case is skipped');
      const f = await harness.failing(`contract-${run}/${++seq}-srvfail/`);
      opened.push(f.d);
      if (f.close) closers.push(f.close);
      const old = generated(1 * MiB);
      await f.d.upload('backup-2026-01-01.tar.gz', old.stream, {});
      const oldSha = await old.sha256;
      await f.breakAfter(2 * MiB);
      try {
        await assert.rejects(f.d.upload('backup-2026-01-02.tar.gz', generated(8 * MiB, { chunk: 256 * 1024 }).stream, {}));
      } finally {
        await f.heal();
      }
      // the destination recovers: listing may need a retry after its connection was broken
      let names: string[] = [];
      for (let i = 0; i < 3; i++) {
        try {
          names = (await f.d.list('')).map((o) => o.name);
          break;
        } catch (err) {
          if (i === 2) throw err;
        }
      }
      assert.deepEqual(names, ['backup-2026-01-01.tar.gz'], 'nothing under the final name, no temporary object listed');
      assert.equal((await digest(await f.d.download('backup-2026-01-01.tar.gz'))).sha256, oldSha, 'the older backup is intact');
      let stored = f.stored();
      for (let i = 0; i < 40 && stored && stored.length > 1; i++) {
        await new Promise((r) => setTimeout(r, 50));
        stored = f.stored();
      }
      if (stored) assert.deepEqual(stored, ['backup-2026-01-01.tar.gz'], 'the temporary file is gone');
    });

    cas(
      'upload to a stopped server fails clearly',
      async () => {
        assert.ok(harness.unreachable, 'harness.unreachable() is required unless this case is skipped');
        const d = await harness.unreachable(`contract-${run}/${++seq}-down/`, unreachableTimeoutMs);
        opened.push(d);
        const g = generated(1 * MiB);
        await assert.rejects(d.upload('backup-down.tar.gz', g.stream, {}), (err: unknown) => {
          assert.ok(err instanceof Error, 'an Error');
          assert.match(err.message, /refused|ECONNREFUSED|unreachable|timed? ?out|timeout|connect|socket|closed|reset/i);
          return true;
        });
      },
      unreachableTimeoutMs * 10 + 30_000,
    );

    cas('list of an empty or missing path returns nothing', async () => {
      const d = await fresh('empty');
      assert.deepEqual(await d.list(''), []);
      assert.deepEqual(await d.list('backup-'), []);
      await d.upload('x-only.tar', bytes('x').stream, {});
      assert.deepEqual(await d.list('backup-'), []);
    });

    cas('remove of missing names is not an error', async () => {
      const d = await fresh('rm-missing');
      await d.remove([]);
      await d.remove(['backup-never-existed.tar.gz']);
      await d.upload('keep.tar', bytes('keep').stream, {});
      await d.remove(['backup-never-existed.tar.gz']);
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['keep.tar'],
      );
    });

    cas('download of a missing name fails', async () => {
      const d = await fresh('dl-missing');
      await assert.rejects(async () => digest(await d.download('backup-none.tar.gz')));
    });

    // BACKUP_FILENAME without time tokens (issue 13): each run replaces the previous backup of
    // that name, atomically; with time tokens an existing name is refused.
    cas('an existing name is refused without replace', async () => {
      const d = await fresh('refuse');
      const old = generated(64 * 1024);
      await d.upload('fixed.tar.gz', old.stream, {});
      const oldSha = await old.sha256;
      await assert.rejects(d.upload('fixed.tar.gz', generated(1000).stream, {}), /already exists/);
      // a larger upload of known size too (multipart, chunked or block uploads take another path)
      await assert.rejects(d.upload('fixed.tar.gz', generated(9 * MiB).stream, { size: 9 * MiB }), /already exists/);
      const listed = await d.list('');
      assert.deepEqual(
        listed.map((o) => [o.name, o.size]),
        [['fixed.tar.gz', 64 * 1024]],
      );
      assert.equal((await digest(await d.download('fixed.tar.gz'))).sha256, oldSha);
    });

    cas('replace swaps an existing backup for the new one', async () => {
      const d = await fresh('replace');
      await d.upload('fixed.tar.gz', generated(2 * MiB).stream, {});
      const next = generated(3 * MiB + 17);
      await d.upload('fixed.tar.gz', next.stream, { replace: true });
      const listed = await d.list('');
      assert.deepEqual(
        listed.map((o) => [o.name, o.size]),
        [['fixed.tar.gz', 3 * MiB + 17]],
        'one object, the new one; no temporary or previous copy listed',
      );
      assert.equal((await digest(await d.download('fixed.tar.gz'))).sha256, await next.sha256);
      // replace with nothing there yet is a plain upload
      await d.upload('first.tar.gz', bytes('first').stream, { replace: true });
      assert.equal((await digest(await d.download('first.tar.gz'))).size, 5);
    });

    cas('failed replacement keeps the old backup intact', async () => {
      const d = await fresh('replace-fail');
      const old = generated(3 * MiB);
      await d.upload('fixed.tar.gz', old.stream, {});
      const oldSha = await old.sha256;
      const bad = generated(20 * MiB, { failAfter: 5 * MiB + 123 });
      await assert.rejects(d.upload('fixed.tar.gz', bad.stream, { replace: true }));
      const ac = new AbortController();
      const slow = generated(64 * MiB, {
        chunk: 256 * 1024,
        delayMs: 5,
        onBytes: (n) => {
          if (n >= 2 * MiB && !ac.signal.aborted) ac.abort(new Error('aborted by test'));
        },
      });
      await assert.rejects(d.upload('fixed.tar.gz', slow.stream, { signal: ac.signal, replace: true }));
      const listed = await d.list('');
      assert.deepEqual(
        listed.map((o) => [o.name, o.size]),
        [['fixed.tar.gz', 3 * MiB]],
        'the old backup, nothing else',
      );
      assert.equal((await digest(await d.download('fixed.tar.gz'))).sha256, oldSha, 'the old backup is intact');
    });

    cas('server failing mid-replacement keeps the old backup intact', async () => {
      assert.ok(harness.failing, 'harness.failing() is required unless this case is skipped');
      const f = await harness.failing(`contract-${run}/${++seq}-replace-srvfail/`);
      opened.push(f.d);
      if (f.close) closers.push(f.close);
      const old = generated(1 * MiB);
      await f.d.upload('fixed.tar.gz', old.stream, {});
      const oldSha = await old.sha256;
      await f.breakAfter(2 * MiB);
      try {
        await assert.rejects(f.d.upload('fixed.tar.gz', generated(8 * MiB, { chunk: 256 * 1024 }).stream, { replace: true }));
      } finally {
        await f.heal();
      }
      let names: string[] = [];
      for (let i = 0; i < 3; i++) {
        try {
          names = (await f.d.list('')).map((o) => o.name);
          break;
        } catch (err) {
          if (i === 2) throw err;
        }
      }
      assert.deepEqual(names, ['fixed.tar.gz'], 'the old backup, no temporary object listed');
      assert.equal((await digest(await f.d.download('fixed.tar.gz'))).sha256, oldSha, 'the old backup is intact');
    });

    cas('names with a separator or .. are refused by upload, remove and download', async () => {
      const d = await fresh('bad-names');
      await d.upload('keep.tar', bytes('keep').stream, {});
      for (const bad of ['sub/backup.tar', '../backup.tar', '..', '.', 'a\\b.tar', '', 'nul\0.tar']) {
        const what = JSON.stringify(bad);
        await assert.rejects(d.upload(bad, bytes('x').stream, {}), /plain file name|separator/, `upload ${what}`);
        await assert.rejects(d.remove(['keep.tar', bad]), /plain file name|separator/, `remove ${what}`);
        await assert.rejects(async () => digest(await d.download(bad)), /plain file name|separator/, `download ${what}`);
      }
      // a refused remove removes nothing, not even the good names given with a bad one
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['keep.tar'],
      );
    });
  });
}
