import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import pino from 'pino';
import { createDropboxDestination, type DropboxDestinationOptions } from '../../src/destinations/dropbox.ts';
import { parseDropbox, type DropboxConfig } from '../../src/destinations/dropbox.def.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { UserError } from '../../src/errors.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { startDropboxFake, type DropboxFake } from '../servers/dropbox-fake.ts';
import { freePort } from '../servers/util.ts';
import { failingSource, endlessSource, patterned, streamOf } from './more-helpers.ts';
import { runDestinationContract, viaFaultProxy } from './contract.ts';
import { normaliseDropboxPath } from '../../src/destinations/dropbox.def.ts';

type Classified = Error & { code?: string; status?: number; transient?: boolean; hint?: string };
const MiB = 1 << 20;

function capture(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  return {
    log: pino({ level: 'debug' }, stream),
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

runDestinationContract('Dropbox (local API fake)', async () => {
  const fake = await startDropboxFake({ pageSize: 500 });
  const cfg = (path: string, endpoint = 'https://api.dropbox.com/'): DropboxConfig => ({
    refreshToken: fake.refreshToken,
    appKey: fake.appKey,
    appSecret: fake.appSecret,
    remotePath: normaliseDropboxPath(path),
    concurrency: 6,
    endpoint,
    oauth2Endpoint: endpoint,
  });
  return {
    create: async (path) => createDropboxDestination(cfg(path), silentLogger(), { fetch: fake.fetch }),
    unreachable: async (path, timeoutMs) => {
      const down = `http://127.0.0.1:${await freePort()}/`;
      return createDropboxDestination(cfg(path, down), silentLogger(), { retryBaseMs: 10, requestTimeoutMs: timeoutMs });
    },
    failing: (path) =>
      viaFaultProxy(
        Number(new URL(fake.origin).port),
        (port) => createDropboxDestination(cfg(path, `http://127.0.0.1:${port}/`), silentLogger(), { retryBaseMs: 10, requestTimeoutMs: 5000 }),
        () => [...fake.files.keys()].filter((k) => k.startsWith(normaliseDropboxPath(path).toLowerCase() + '/')).map((k) => k.slice(k.lastIndexOf('/') + 1)),
      ),
    teardown: () => fake.stop(),
  };
});

describe('Dropbox config', () => {
  const parse = (env: Record<string, string>) => {
    const issues: ConfigIssue[] = [];
    return { cfg: parseDropbox(env, issues), issues };
  };
  const creds = { DROPBOX_REFRESH_TOKEN: 'rt', DROPBOX_APP_KEY: 'key', DROPBOX_APP_SECRET: 'secret' };
  it('is disabled when none of token, key and secret is set', () => {
    assert.deepEqual(parse({ DROPBOX_REMOTE_PATH: '/x' }), { cfg: null, issues: [] });
  });
  it('a partial set is an error naming what is missing', () => {
    const { cfg, issues } = parse({ DROPBOX_APP_KEY: 'key' });
    assert.equal(cfg, null);
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['DROPBOX_APP_SECRET', 'DROPBOX_REFRESH_TOKEN']);
    assert.match(issues[0]!.message, /set: DROPBOX_APP_KEY/);
  });
  it('reads every variable with defaults', () => {
    assert.deepEqual(parse(creds), {
      issues: [],
      cfg: {
        refreshToken: 'rt',
        appKey: 'key',
        appSecret: 'secret',
        remotePath: '',
        concurrency: 6,
        endpoint: 'https://api.dropbox.com/',
        oauth2Endpoint: 'https://api.dropbox.com/',
      },
    });
    const b = parse({
      ...creds,
      DROPBOX_REMOTE_PATH: 'backups/daily/',
      DROPBOX_CONCURRENCY_LEVEL: '2',
      DROPBOX_ENDPOINT: 'http://127.0.0.1:9',
      DROPBOX_OAUTH2_ENDPOINT: 'http://127.0.0.1:8/',
    });
    assert.equal(b.cfg?.remotePath, '/backups/daily');
    assert.equal(b.cfg?.concurrency, 2);
    assert.equal(b.cfg?.endpoint, 'http://127.0.0.1:9/');
    assert.equal(b.cfg?.oauth2Endpoint, 'http://127.0.0.1:8/');
  });
  it('reports bad values by name', () => {
    const { issues } = parse({ ...creds, DROPBOX_CONCURRENCY_LEVEL: '0', DROPBOX_ENDPOINT: 'not a url' });
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['DROPBOX_CONCURRENCY_LEVEL', 'DROPBOX_ENDPOINT']);
  });
});

describe('Dropbox against the local API fake', () => {
  let fake: DropboxFake;
  before(async () => {
    fake = await startDropboxFake({ pageSize: 7 });
  });
  after(async () => {
    await fake?.stop();
  });
  beforeEach(() => {
    fake.calls.clear();
    fake.statuses.clear();
    fake.maxConcurrentAppends = 0;
    fake.maxBody = 0;
    fake.appendDelayMs = 5;
    fake.tokenLifetime = 14_400;
  });

  const cfgFor = (remotePath: string, extra: Partial<DropboxConfig> = {}): DropboxConfig => ({
    refreshToken: fake.refreshToken,
    appKey: fake.appKey,
    appSecret: fake.appSecret,
    remotePath,
    concurrency: 3,
    endpoint: 'https://api.dropbox.com/',
    oauth2Endpoint: 'https://api.dropbox.com/',
    ...extra,
  });
  const dest = (remotePath: string, extra: Partial<DropboxConfig> = {}, opts: DropboxDestinationOptions = {}, log: Logger = silentLogger()) =>
    createDropboxDestination(cfgFor(remotePath, extra), log, { fetch: fake.fetch, retryBaseMs: 5, ...opts });
  const stored = (path: string) => fake.files.get(path.toLowerCase())?.data;

  it('round-trips small files (one files/upload) to a new path with spaces and unicode, including 0 and 1 byte', async () => {
    const d = dest('/new/deep path/ünï');
    assert.deepEqual(await d.list(''), []);
    await d.upload('backup 2026 ü.tar.gz', Readable.from([Buffer.from('hello')]));
    await d.upload('empty', Readable.from([]));
    await d.upload('one', Readable.from([Buffer.from('1')]));
    assert.equal(stored('/new/deep path/ünï/backup 2026 ü.tar.gz')?.toString(), 'hello');
    assert.equal(stored('/new/deep path/ünï/empty')?.length, 0);
    assert.deepEqual((await d.list('')).map((o) => [o.name, o.size]).sort(), [
      ['backup 2026 ü.tar.gz', 5],
      ['empty', 0],
      ['one', 1],
    ]);
    assert.equal((await buffer(await d.download('backup 2026 ü.tar.gz'))).toString(), 'hello');
    assert.equal((await buffer(await d.download('empty'))).length, 0);
    assert.equal(fake.calls.get('files/upload'), 3);
    assert.equal(fake.calls.get('files/upload_session/start'), undefined);
    assert.equal(d.location, 'dropbox:/new/deep path/ünï');
  });

  it('uploads 50 MiB through a concurrent session: 8 MiB chunks, bounded concurrency, atomic finish', async () => {
    fake.appendDelayMs = 40;
    const d = dest('/big');
    const data = patterned(50 * MiB, 5);
    await d.upload('big.bin', streamOf(data));
    assert.ok(stored('/big/big.bin')?.equals(data));
    assert.equal(fake.calls.get('files/upload_session/start'), 1);
    assert.equal(fake.calls.get('files/upload_session/append_v2'), 7);
    assert.equal(fake.calls.get('files/upload_session/finish'), 1);
    assert.ok(fake.maxConcurrentAppends >= 2, `appends overlapped (${fake.maxConcurrentAppends})`);
    assert.ok(fake.maxConcurrentAppends <= 3, `at most DROPBOX_CONCURRENCY_LEVEL appends at once (${fake.maxConcurrentAppends})`);
    assert.equal(fake.maxBody, 8 * MiB);
    assert.ok((await buffer(await d.download('big.bin'))).equals(data));
  });

  it('concurrency 1 uploads chunk after chunk', async () => {
    const d = dest('/seq', { concurrency: 1 }, { chunkSize: 4 * MiB });
    const data = patterned(13 * MiB, 6);
    await d.upload('s.bin', streamOf(data));
    assert.ok(stored('/seq/s.bin')?.equals(data));
    assert.equal(fake.maxConcurrentAppends, 1);
    assert.equal(fake.calls.get('files/upload_session/append_v2'), 4);
  });

  it('a name conflict is a clear error and never an overwrite (single and session uploads)', async () => {
    const d = dest('/conflict', {}, { chunkSize: 4 * MiB });
    await d.upload('a.tar', Readable.from([Buffer.from('first')]));
    await d.upload('b.tar', streamOf(patterned(9 * MiB, 1)));
    for (const [name, source] of [
      ['a.tar', Readable.from([Buffer.from('first')])],
      ['b.tar', streamOf(patterned(9 * MiB, 2))],
    ] as const) {
      await assert.rejects(d.upload(name, source), (err: Classified) => {
        assert.ok((err as unknown) instanceof UserError);
        assert.match(err.message, /already exists.*refusing to overwrite/);
        assert.equal(err.status, 409);
        assert.equal(err.transient, false);
        return true;
      });
    }
    assert.equal(stored('/conflict/a.tar')?.toString(), 'first');
    assert.ok(stored('/conflict/b.tar')?.equals(patterned(9 * MiB, 1)));
  });

  it('an expired access token is refreshed and the call retried', async () => {
    const d = dest('/expired', {}, { chunkSize: 4 * MiB });
    await d.list(''); // first token
    fake.inject('files/upload_session/append_v2', { kind: 'expire-token' });
    const data = patterned(10 * MiB, 3);
    await d.upload('e.bin', streamOf(data));
    assert.ok(stored('/expired/e.bin')?.equals(data));
    assert.equal(fake.calls.get('oauth2/token'), 2);
    assert.ok((fake.statuses.get(401) ?? 0) >= 1);
  });

  it('refreshes the token before it expires (no 401)', async () => {
    fake.tokenLifetime = 2;
    const d = dest('/proactive', {}, { tokenRefreshMarginMs: 1_500 });
    await d.list('');
    await new Promise((r) => setTimeout(r, 700));
    await d.list('');
    assert.equal(fake.calls.get('oauth2/token'), 2);
    assert.equal(fake.statuses.get(401), undefined);
  });

  it('concurrent requests share one token refresh', async () => {
    const d = dest('/shared');
    await Promise.all([d.list(''), d.list(''), d.list(''), d.list('')]);
    assert.equal(fake.calls.get('oauth2/token'), 1);
  });

  it('honours 429 Retry-After', async () => {
    const { log, lines } = capture();
    const d = dest('/ratelimit', {}, {}, log);
    await d.upload('r.tar', Readable.from([Buffer.from('r')]));
    fake.inject('files/list_folder', { kind: 'status', status: 429, retryAfter: 1 });
    assert.deepEqual(
      (await d.list('')).map((o) => o.name),
      ['r.tar'],
    );
    assert.equal(fake.statuses.get(429), 1);
    const waits = lines().filter((l) => /Retry-After/.test(String(l.msg)));
    assert.equal(waits.length, 1);
    assert.equal(waits[0]!.waitMs, 1000);
  });

  it('retries a 5xx', async () => {
    const d = dest('/flaky', {}, { chunkSize: 4 * MiB });
    fake.inject('files/upload_session/start', { kind: 'status', status: 503 });
    fake.inject('files/upload_session/finish', { kind: 'status', status: 500 });
    const data = patterned(5 * MiB, 4);
    await d.upload('f.bin', streamOf(data));
    assert.ok(stored('/flaky/f.bin')?.equals(data));
  });

  it('an offset mismatch abandons the upload: nothing is committed', async () => {
    const d = dest('/offset', {}, { chunkSize: 4 * MiB });
    await d.upload('old.bin', Readable.from([Buffer.from('old')]));
    fake.inject('files/upload_session/append_v2', { kind: 'incorrect-offset', correctOffset: 0 });
    await assert.rejects(d.upload('new.bin', streamOf(patterned(12 * MiB, 8))), (err: Classified) => {
      assert.equal(err.code, 'incorrect_offset');
      assert.match(err.message, /went out of step.*nothing was written/);
      return true;
    });
    assert.equal(fake.calls.get('files/upload_session/finish'), undefined);
    assert.deepEqual(
      (await d.list('')).map((o) => o.name),
      ['old.bin'],
    );
  });

  it('a lost append response is retried and recognised as done (incorrect_offset pointing past the chunk)', async () => {
    const d = dest('/lost', {}, { chunkSize: 4 * MiB });
    fake.inject('files/upload_session/append_v2', { kind: 'drop-response' });
    const data = patterned(9 * MiB, 10);
    await d.upload('l.bin', streamOf(data));
    assert.ok(stored('/lost/l.bin')?.equals(data));
    assert.equal(fake.calls.get('files/upload_session/append_v2'), 4);
  });

  it('a failing source or an abort commits nothing', async () => {
    const d = dest('/failing', {}, { chunkSize: 4 * MiB });
    await assert.rejects(d.upload('f1.bin', failingSource(9 * MiB)), /source broke/);
    await assert.rejects(d.upload('f2.bin', failingSource(1000)), /source broke/);
    const ac = new AbortController();
    await assert.rejects(
      d.upload(
        'f3.bin',
        endlessSource(6 * MiB, () => ac.abort()),
        { signal: ac.signal },
      ),
      { name: 'AbortError' },
    );
    assert.equal(fake.calls.get('files/upload_session/finish'), undefined);
    assert.equal(fake.calls.get('files/upload'), undefined);
    assert.deepEqual(await d.list(''), []);
  });

  it('lists every page, files only, by prefix', async () => {
    for (let i = 0; i < 20; i++) fake.put(`/paged/backup-${String(i).padStart(2, '0')}.tar`, Buffer.from([i]));
    fake.put('/paged/other.txt', Buffer.from('o'));
    fake.put('/paged/sub/backup-nested.tar', Buffer.from('n'));
    const d = dest('/paged');
    const names = (await d.list('backup-')).map((o) => o.name).sort();
    assert.equal(names.length, 20);
    assert.equal(names[0], 'backup-00.tar');
    assert.ok((fake.calls.get('files/list_folder/continue') ?? 0) >= 2);
  });

  it('removes more than 1000 names in batches of at most 1000, ignoring missing ones', async () => {
    const names = Array.from({ length: 1205 }, (_, i) => `b-${i}.tar`);
    for (const n of names) fake.put(`/many/${n}`, Buffer.from('x'));
    fake.put('/many/keep.tar', Buffer.from('k'));
    const d = dest('/many');
    await d.remove([...names, 'missing.tar']);
    assert.deepEqual(
      (await d.list('')).map((o) => o.name),
      ['keep.tar'],
    );
    assert.equal(fake.calls.get('files/delete_batch'), 2);
    assert.ok((fake.calls.get('files/delete_batch/check') ?? 0) >= 4);
  });

  it('the root folder works (DROPBOX_REMOTE_PATH unset)', async () => {
    const d = dest('');
    await d.upload('at-root.tar', Readable.from([Buffer.from('r')]));
    assert.equal(stored('/at-root.tar')?.toString(), 'r');
    assert.ok((await d.list('at-root')).some((o) => o.name === 'at-root.tar'));
  });

  it('a missing file cannot be downloaded (ENOENT)', async () => {
    const d = dest('/nothing');
    await assert.rejects(d.download('nope'), (err: Classified) => err.code === 'ENOENT');
  });

  it('a revoked refresh token or wrong app secret is a non-transient UserError', async () => {
    const bad = dest('/x', { refreshToken: 'revoked' });
    await assert.rejects(bad.list(''), (err: Classified) => {
      assert.ok((err as unknown) instanceof UserError);
      assert.match(err.message, /Dropbox refused DROPBOX_REFRESH_TOKEN \(invalid_grant/);
      assert.equal(err.transient, false);
      return true;
    });
    const secret = dest('/x', { appSecret: 'wrong' });
    await assert.rejects(secret.upload('a', Readable.from([Buffer.from('a')])), (err: Classified) => {
      assert.ok((err as unknown) instanceof UserError);
      assert.match(err.hint ?? '', /DROPBOX_APP_KEY and DROPBOX_APP_SECRET/);
      assert.doesNotMatch(err.message, /wrong/);
      return true;
    });
  });

  it('DROPBOX_ENDPOINT and DROPBOX_OAUTH2_ENDPOINT send every request to an alternate server', async () => {
    const d = createDropboxDestination(cfgFor('/alt', { endpoint: `${fake.origin}/`, oauth2Endpoint: `${fake.origin}/` }), silentLogger());
    const data = patterned(9 * MiB, 11);
    await d.upload('alt.bin', streamOf(data));
    assert.ok(stored('/alt/alt.bin')?.equals(data));
    assert.ok((await buffer(await d.download('alt.bin'))).equals(data));
    assert.equal(fake.calls.get('oauth2/token'), 1);
  });
});

describe('Dropbox with the server down', () => {
  it('fails with the connection error after a few quick retries', async () => {
    const port = await freePort();
    const d = createDropboxDestination(
      {
        refreshToken: 'rt',
        appKey: 'k',
        appSecret: 's',
        remotePath: '/x',
        concurrency: 2,
        endpoint: `http://127.0.0.1:${port}/`,
        oauth2Endpoint: `http://127.0.0.1:${port}/`,
      },
      silentLogger(),
      { retryBaseMs: 5 },
    );
    await assert.rejects(d.upload('a', Readable.from([Buffer.from('a')])), (err: Classified) => {
      assert.equal(err.code, 'ECONNREFUSED');
      assert.match(err.message, /cannot reach Dropbox/);
      return true;
    });
  });
});
