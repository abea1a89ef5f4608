import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createWebdavDestination } from '../../src/destinations/webdav.ts';
import { parseWebdav, type WebdavConfig } from '../../src/destinations/webdav.def.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { UserError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { startApache, type ApacheServer } from '../servers/apache.ts';
import { startWebdavServer, type InProcessDav } from '../servers/webdav-server.ts';
import { freePort } from '../servers/util.ts';
import { filesUnder, failingSource, endlessSource, patterned, streamOf } from './more-helpers.ts';
import { runDestinationContract, viaFaultProxy } from './contract.ts';
import { existsSync, readdirSync } from 'node:fs';

/** Names in a directory of the server's storage ([] when it does not exist). */
const storedUnder = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).sort() : []);
import { normaliseDavPath } from '../../src/destinations/webdav.def.ts';

const log = silentLogger();

function cfgFor(s: { url: string; username: string; password: string }, path: string, extra: Partial<WebdavConfig> = {}): WebdavConfig {
  return { url: s.url, path, username: s.username, password: s.password, insecure: false, ...extra };
}

/** A destination whose server is down: nothing listens on the port. */
async function unreachable(path: string, timeoutMs: number) {
  const port = await freePort();
  return createWebdavDestination({ url: `http://127.0.0.1:${port}`, path: normaliseDavPath(path), username: 'u', password: 'p', insecure: false }, log, {
    requestTimeoutMs: timeoutMs,
  });
}

runDestinationContract('WebDAV (Apache httpd mod_dav)', async () => {
  const apache = await startApache();
  return {
    create: async (path) => createWebdavDestination(cfgFor(apache, normaliseDavPath(path)), log),
    failing: (path) =>
      viaFaultProxy(
        Number(new URL(apache.url).port),
        (port) => createWebdavDestination(cfgFor({ ...apache, url: `http://127.0.0.1:${port}` }, normaliseDavPath(path)), log),
        () => storedUnder(join(apache.root, path)),
      ),
    unreachable,
    teardown: () => apache.stop(),
  };
});

runDestinationContract('WebDAV (webdav-server, in process)', async () => {
  const dav = await startWebdavServer();
  return {
    create: async (path) => createWebdavDestination(cfgFor(dav, normaliseDavPath(path)), log),
    failing: (path) =>
      viaFaultProxy(
        Number(new URL(dav.url).port),
        (port) => createWebdavDestination(cfgFor({ ...dav, url: `http://127.0.0.1:${port}` }, normaliseDavPath(path)), log),
        () => storedUnder(join(dav.root, path)),
      ),
    unreachable,
    teardown: () => dav.stop(),
  };
});

describe('WebDAV config', () => {
  const parse = (env: Record<string, string>) => {
    const issues: ConfigIssue[] = [];
    return { cfg: parseWebdav(env, issues), issues };
  };
  it('is disabled without WEBDAV_URL', () => {
    assert.deepEqual(parse({ WEBDAV_USERNAME: 'u' }), { cfg: null, issues: [] });
  });
  it('reads every variable with defaults', () => {
    const { cfg, issues } = parse({ WEBDAV_URL: 'https://dav.example.com/remote.php/dav/files/me/', WEBDAV_USERNAME: 'me', WEBDAV_PASSWORD: 'pw' });
    assert.deepEqual(issues, []);
    assert.deepEqual(cfg, { url: 'https://dav.example.com/remote.php/dav/files/me', path: '/', username: 'me', password: 'pw', insecure: false });
    const b = parse({ WEBDAV_URL: 'http://h', WEBDAV_PATH: 'backups//daily/', WEBDAV_URL_INSECURE: 'true' });
    assert.equal(b.cfg?.path, '/backups/daily');
    assert.equal(b.cfg?.insecure, true);
  });
  it('takes credentials from the URL when the variables are unset', () => {
    const { cfg } = parse({ WEBDAV_URL: 'https://me:p%40ss@dav.example.com/dav' });
    assert.equal(cfg?.username, 'me');
    assert.equal(cfg?.password, 'p@ss');
    assert.equal(cfg?.url, 'https://dav.example.com/dav');
  });
  it('reports bad values by name', () => {
    const { cfg, issues } = parse({ WEBDAV_URL: 'ftp://h/x', WEBDAV_PASSWORD: 'pw', WEBDAV_URL_INSECURE: 'maybe' });
    assert.equal(cfg, null);
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['WEBDAV_URL', 'WEBDAV_URL_INSECURE', 'WEBDAV_USERNAME']);
  });
});

describe('WebDAV on Apache httpd mod_dav', () => {
  let apache: ApacheServer;
  before(async () => {
    apache = await startApache();
  });
  after(async () => {
    await apache?.stop();
  });

  it('creates a missing nested path and round-trips names with spaces and unicode', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/new/deep path/ünï'), log);
    try {
      assert.deepEqual(await d.list(''), []);
      const data = patterned(300_000);
      await d.upload('backup 2026 ü.tar.gz', streamOf(data, 10_000), { size: data.length });
      const listed = await d.list('backup');
      assert.deepEqual(
        listed.map((o) => [o.name, o.size]),
        [['backup 2026 ü.tar.gz', data.length]],
      );
      assert.ok(Math.abs(listed[0]!.modified.getTime() - Date.now()) < 120_000);
      assert.ok(readFileSync(join(apache.root, 'new/deep path/ünï/backup 2026 ü.tar.gz')).equals(data));
      assert.ok((await buffer(await d.download('backup 2026 ü.tar.gz'))).equals(data));
      assert.equal(d.location, `${apache.url}/new/deep path/ünï/`);
    } finally {
      await d.close();
    }
  });

  it('refuses to overwrite an existing backup (MOVE Overwrite: F) and cleans up the temporary file', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/conflict'), log);
    try {
      await d.upload('b.tar', Readable.from([Buffer.from('first')]));
      await assert.rejects(d.upload('b.tar', Readable.from([Buffer.from('second')])), (err: Error & { transient?: boolean }) => {
        assert.ok((err as unknown) instanceof UserError);
        assert.match(err.message, /already exists; refusing to overwrite/);
        assert.equal(err.transient, false);
        return true;
      });
      assert.equal(readFileSync(join(apache.root, 'conflict/b.tar'), 'utf8'), 'first');
      assert.deepEqual(filesUnder(join(apache.root, 'conflict')), ['b.tar']);
    } finally {
      await d.close();
    }
  });

  it('a source failing mid-upload leaves nothing, and the older backup untouched', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/failing'), log);
    try {
      await d.upload('old.tar', Readable.from([Buffer.from('old')]));
      await assert.rejects(d.upload('new.tar', failingSource(3 << 20)));
      assert.deepEqual(filesUnder(join(apache.root, 'failing')), ['old.tar']);
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['old.tar'],
      );
    } finally {
      await d.close();
    }
  });

  it('an aborted upload leaves nothing', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/aborted'), log);
    try {
      const ac = new AbortController();
      await assert.rejects(
        d.upload(
          'x.tar',
          endlessSource(1 << 20, () => ac.abort(new Error('stop'))),
          { signal: ac.signal },
        ),
        { name: 'AbortError' },
      );
      assert.deepEqual(filesUnder(join(apache.root, 'aborted')), []);
    } finally {
      await d.close();
    }
  });

  it('streams 50 MiB with chunked transfer encoding', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/big'), log);
    try {
      const data = patterned(50 << 20, 7);
      await d.upload('big.bin', streamOf(data));
      assert.ok(readFileSync(join(apache.root, 'big/big.bin')).equals(data));
      assert.ok((await buffer(await d.download('big.bin'))).equals(data));
    } finally {
      await d.close();
    }
  });

  it('a wrong password is a non-transient UserError naming the variables', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/x', { password: 'wrong' }), log);
    try {
      await assert.rejects(d.upload('a', Readable.from([Buffer.from('a')])), (err: Error & { status?: number; transient?: boolean; hint?: string }) => {
        assert.ok((err as unknown) instanceof UserError);
        assert.equal(err.status, 401);
        assert.equal(err.transient, false);
        assert.match(err.hint ?? '', /WEBDAV_USERNAME and WEBDAV_PASSWORD/);
        assert.doesNotMatch(err.message, /wrong/);
        return true;
      });
    } finally {
      await d.close();
    }
  });

  it('remove ignores missing names and deletes the rest', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/rm'), log);
    try {
      for (const n of ['a', 'b', 'c']) await d.upload(n, Readable.from([Buffer.from(n)]));
      await d.remove(['a', 'missing', 'c']);
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['b'],
      );
    } finally {
      await d.close();
    }
  });
});

describe('WebDAV over HTTPS with a self-signed certificate', () => {
  let apache: ApacheServer;
  before(async () => {
    apache = await startApache({ tls: true });
  });
  after(async () => {
    await apache?.stop();
  });

  it('refuses the certificate by default, with a hint to WEBDAV_URL_INSECURE', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/tls'), log);
    try {
      await assert.rejects(d.list(''), (err: Error & { hint?: string; transient?: boolean }) => {
        assert.ok((err as unknown) instanceof UserError);
        assert.match(err.message, /TLS certificate not trusted/);
        assert.match(err.hint ?? '', /WEBDAV_URL_INSECURE=true/);
        assert.equal(err.transient, false);
        return true;
      });
    } finally {
      await d.close();
    }
  });

  it('works with WEBDAV_URL_INSECURE=true', async () => {
    const d = createWebdavDestination(cfgFor(apache, '/tls', { insecure: true }), log);
    try {
      await d.upload('t.tar', Readable.from([Buffer.from('tls')]));
      assert.equal(readFileSync(join(apache.root, 'tls/t.tar'), 'utf8'), 'tls');
    } finally {
      await d.close();
    }
  });
});

describe('WebDAV on webdav-server (npm, in process)', () => {
  let dav: InProcessDav;
  before(async () => {
    dav = await startWebdavServer();
  });
  after(async () => {
    await dav?.stop();
  });

  it('round-trips, lists and refuses to overwrite', async () => {
    const d = createWebdavDestination(cfgFor(dav, '/a b/ü'), log);
    try {
      const data = patterned(2 << 20, 3);
      await d.upload('one.tar', streamOf(data));
      await assert.rejects(d.upload('one.tar', Readable.from([Buffer.from('x')])), /already exists/);
      assert.ok((await buffer(await d.download('one.tar'))).equals(data));
      assert.deepEqual(
        (await d.list('o')).map((o) => [o.name, o.size]),
        [['one.tar', data.length]],
      );
      assert.deepEqual(filesUnder(join(dav.root, 'a b/ü')), ['one.tar']);
      await d.remove(['one.tar']);
      assert.deepEqual(await d.list(''), []);
    } finally {
      await d.close();
    }
  });

  it('a temporary file left by someone else is not listed', async () => {
    const d = createWebdavDestination(cfgFor(dav, '/'), log);
    try {
      writeFileSync(join(dav.root, 'x.tar.tmp-0123456789ab'), 'partial');
      await d.upload('x.tar', Readable.from([Buffer.from('x')]));
      assert.deepEqual(
        (await d.list('x')).map((o) => o.name),
        ['x.tar'],
      );
    } finally {
      await d.close();
    }
  });
});

describe('WebDAV to a stopped server', () => {
  it('fails clearly and quickly with the connection error code', async () => {
    const port = await freePort();
    const d = createWebdavDestination({ url: `http://127.0.0.1:${port}`, path: '/x', username: 'u', password: 'p', insecure: false }, log);
    try {
      await assert.rejects(d.upload('a', Readable.from([Buffer.from('a')])), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ECONNREFUSED');
        assert.match(err.message, new RegExp(`WebDAV (MKCOL|PROPFIND) http://127.0.0.1:${port}/x failed: connection refused`));
        return true;
      });
    } finally {
      await d.close();
    }
  });
});

describe('WebDAV to a server that stops answering', () => {
  it('times out requests and a stalled upload, with ETIMEDOUT', async () => {
    const { createServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    // Accepts connections, reads nothing, answers nothing.
    const silent = createServer((s) => {
      sockets.add(s);
      s.pause();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const d = createWebdavDestination({ url: `http://127.0.0.1:${port}`, path: '/', username: 'u', password: 'p', insecure: false }, log, {
      requestTimeoutMs: 300,
      stallTimeoutMs: 500,
    });
    try {
      await assert.rejects(d.list(''), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ETIMEDOUT');
        assert.match(err.message, /WebDAV PROPFIND .*: timed out after 0.3s with no progress \(BACKUP_DESTINATION_TIMEOUT\)/);
        return true;
      });
      await assert.rejects(
        d.upload(
          'x.tar',
          endlessSource(0, () => {}),
        ),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'ETIMEDOUT');
          assert.match(err.message, /WebDAV PUT .*: timed out after 0.3s with no progress/);
          return true;
        },
      );
    } finally {
      await d.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
