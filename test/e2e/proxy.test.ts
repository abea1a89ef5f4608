/**
 * HTTP_PROXY / HTTPS_PROXY / NO_PROXY against a real forward proxy (tinyproxy) on 127.0.0.1:
 * `offsite backup` to S3 (s3rver), WebDAV (Apache mod_dav, https and plain http), Azure (azurite) and Dropbox (the
 * API fake), with a notification to an HTTP service (generic webhook to the recorder), goes
 * through the proxy: the proxy's log holds the requests (or CONNECT tunnels) to each server.
 * The same backup with the proxy variables naming a port where nothing listens fails: the
 * servers are reached through the proxy only, not beside it. NO_PROXY lets a host bypass it.
 * Google Drive's client (in-process: gaxios reads the same variables) likewise.
 *
 * Plain-http WebDAV through tinyproxy: tinyproxy closes the client connection after each
 * relayed request without a `Connection: close` (pinned below with a raw socket; curl shows
 * the same: "Connection 0 seems to be dead" before its second request). Node's keep-alive
 * agent reused that connection for MKCOL right after PROPFIND and met a reset; offsite's
 * plain-http agents do not keep connections alive through an HTTP_PROXY (src/proxy.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startTinyproxy, type Tinyproxy } from '../servers/tinyproxy.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';
import { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteHandle } from '../servers/azurite.ts';
import { startApache, type ApacheServer } from '../servers/apache.ts';
import { startDropboxFake, type DropboxFake } from '../servers/dropbox-fake.ts';
import { startDriveFake, type DriveFake } from '../servers/gdrive-fake.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';
import { freePort } from '../servers/util.ts';
import { createGoogleDriveDestination } from '../../src/destinations/gdrive.ts';
import { DEFAULT_RETRY } from '../../src/destinations/retry.ts';
import { silentLogger } from '../../src/log.ts';
import { proxyAgentOptions } from '../../src/proxy.ts';

let proxy: Tinyproxy;
let s3: S3rverHandle;
let azurite: AzuriteHandle;
let dav: ApacheServer;
let davPlain: ApacheServer;
let dropbox: DropboxFake;
let rec: HttpRecorder;
let deadProxy: string;
const dirs: string[] = [];

before(async () => {
  [proxy, s3, azurite, dav, davPlain, dropbox, rec] = await Promise.all([
    startTinyproxy(),
    startS3rver({ buckets: ['proxied'] }),
    startAzurite(),
    startApache({ tls: true }),
    startApache({}),
    startDropboxFake(),
    startRecorder(),
  ]);
  await new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).getContainerClient('proxied').createIfNotExists();
  deadProxy = `http://127.0.0.1:${await freePort()}`;
});
after(async () => {
  await Promise.allSettled([proxy?.stop(), s3?.close(), azurite?.stop(), dav?.stop(), davPlain?.stop(), dropbox?.stop(), rec?.close()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Target {
  label: string;
  port: () => number;
  env: () => Record<string, string>;
}
const targets: Target[] = [
  {
    label: 'S3 (s3rver)',
    port: () => s3.port,
    env: () => ({
      AWS_S3_BUCKET_NAME: 'proxied',
      AWS_S3_PATH: 'p',
      AWS_ENDPOINT: `127.0.0.1:${s3.port}`,
      AWS_ENDPOINT_PROTO: 'http',
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_CHECKSUM: 'when_required',
    }),
  },
  {
    label: 'WebDAV over https (Apache mod_dav)',
    port: () => Number(new URL(dav.url).port),
    // https (a CONNECT tunnel, as WebDAV servers are reached in practice); the test certificate is self-signed.
    env: () => ({ WEBDAV_URL: dav.url, WEBDAV_URL_INSECURE: 'true', WEBDAV_PATH: 'p', WEBDAV_USERNAME: dav.username, WEBDAV_PASSWORD: dav.password }),
  },
  {
    label: 'WebDAV over plain http (Apache mod_dav)',
    port: () => Number(new URL(davPlain.url).port),
    // absolute-URI requests (PROPFIND, MKCOL, PUT, MOVE...) one connection each; no retry to hide a reset
    env: () => ({
      WEBDAV_URL: davPlain.url,
      WEBDAV_PATH: 'p',
      WEBDAV_USERNAME: davPlain.username,
      WEBDAV_PASSWORD: davPlain.password,
      BACKUP_RETRY_ATTEMPTS: '1',
    }),
  },
  {
    label: 'Azure (azurite)',
    port: () => azurite.port,
    env: () => ({
      AZURE_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
      AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: AZURITE_KEY,
      AZURE_STORAGE_CONTAINER_NAME: 'proxied',
      AZURE_STORAGE_PATH: 'p',
      AZURE_STORAGE_ENDPOINT: `http://127.0.0.1:${azurite.port}/{{ .AccountName }}/`,
    }),
  },
  {
    label: 'Dropbox (API fake)',
    port: () => Number(new URL(dropbox.origin).port),
    env: () => ({
      DROPBOX_REFRESH_TOKEN: dropbox.refreshToken,
      DROPBOX_APP_KEY: dropbox.appKey,
      DROPBOX_APP_SECRET: dropbox.appSecret,
      DROPBOX_REMOTE_PATH: 'p',
      DROPBOX_ENDPOINT: `${dropbox.origin}/`,
      DROPBOX_OAUTH2_ENDPOINT: `${dropbox.origin}/`,
    }),
  },
];

function setup(extra: Record<string, string>): Record<string, string> {
  const iso = isolatedEnv();
  dirs.push(iso.dir);
  const src = join(iso.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'data.txt'), 'through the proxy');
  return {
    ...iso.env,
    BACKUP_SOURCES: src,
    BACKUP_ARCHIVE: '',
    BACKUP_DESTINATION_TIMEOUT: '10s',
    BACKUP_RETRY_ATTEMPTS: '3',
    BACKUP_RETRY_INITIAL_DELAY: '1s',
    NOTIFICATION_URLS: `generic+${rec.url.replace(/\/$/, '')}/hook?template=json`,
    NOTIFICATION_LEVEL: 'info',
    ...extra,
  };
}

for (const t of targets) {
  describe(`offsite backup to ${t.label} through HTTP_PROXY`, () => {
    test('the backup and its notification go through the proxy', async () => {
      const before = proxy.requestsTo(t.port()).length;
      const notesBefore = proxy.requestsTo(Number(new URL(rec.url).port)).length;
      const recBefore = rec.requests.length;
      const r = await runCliAsync(['backup'], setup({ ...t.env(), HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url }));
      assert.equal(r.code, 0, r.out);
      const seen = proxy.requestsTo(t.port()).slice(before);
      assert.ok(
        seen.length > 0,
        `the proxy relayed requests to ${t.label} (port ${t.port()}); proxy log:\n${proxy
          .requests()
          .map((x) => `${x.method} ${x.target}`)
          .join('\n')}\n${r.out}`,
      );
      if (t.label.includes('plain http')) {
        // each WebDAV method as an absolute-URI request, not a tunnel
        const methods = new Set(seen.map((x) => x.method));
        for (const m of ['PROPFIND', 'MKCOL', 'PUT']) assert.ok(methods.has(m), `${m} through the proxy: ${[...methods].join(' ')}`);
        assert.ok(seen.every((x) => x.target.startsWith('http://')));
      }
      assert.ok(proxy.requestsTo(Number(new URL(rec.url).port)).length > notesBefore, 'the notification went through the proxy');
      assert.ok(rec.requests.length > recBefore, 'the notification arrived');
    });

    test('with the proxy variables naming a dead proxy the backup fails: the server is reached through the proxy only', async () => {
      const r = await runCliAsync(
        ['backup'],
        setup({ ...t.env(), http_proxy: deadProxy, https_proxy: deadProxy, NOTIFICATION_URLS: '', BACKUP_RETRY_ATTEMPTS: '1' }),
      );
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /refused|ECONNREFUSED|proxy/i);
    });
  });
}

test('NO_PROXY lets a host bypass the proxy (a dead proxy does not matter for it)', async () => {
  const s3t = targets[0]!;
  const r = await runCliAsync(
    ['backup'],
    setup({ ...s3t.env(), HTTP_PROXY: deadProxy, HTTPS_PROXY: deadProxy, NO_PROXY: '127.0.0.1', NOTIFICATION_URLS: '', BACKUP_RETRY_ATTEMPTS: '1' }),
  );
  assert.equal(r.code, 0, r.out);
});

test('an HTTP_PROXY that is not a URL is a configuration error naming the variable', async () => {
  const r = await runCliAsync(['backup'], setup({ ...targets[0]!.env(), HTTP_PROXY: 'proxy:3128', NOTIFICATION_URLS: '' }));
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /HTTP_PROXY/);
});

describe("Google Drive through HTTPS_PROXY (Google's client reads the variables itself)", () => {
  let fake: DriveFake;
  const saved: Record<string, string | undefined> = {};
  before(async () => {
    fake = await startDriveFake({ subjects: ['owner@example.com'] });
    for (const k of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy']) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await fake?.stop();
  });
  const dest = (folderId: string) =>
    createGoogleDriveDestination(
      {
        credentialsJson: fake.account.json,
        folderId,
        impersonateSubject: 'owner@example.com',
        endpoint: fake.endpoint,
        tokenUrl: fake.tokenUrl,
        teamDriveId: '',
      },
      silentLogger(),
      { retry: { ...DEFAULT_RETRY, attempts: 1, timeoutMs: 10_000 } },
    );
  const port = () => Number(new URL(fake.origin).port);

  test('token, upload, list and download go through the proxy', async () => {
    process.env.HTTPS_PROXY = proxy.url;
    try {
      const before = proxy.requestsTo(port()).length;
      const d = await dest(fake.mkdir('proxied'));
      await d.upload('b.tar', Readable.from([Buffer.from('via proxy')]));
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['b.tar'],
      );
      assert.equal((await buffer(await d.download('b.tar'))).toString(), 'via proxy');
      assert.ok(proxy.requestsTo(port()).length > before, 'the proxy relayed the requests');
    } finally {
      delete process.env.HTTPS_PROXY;
    }
  });

  test('a dead proxy fails the upload; NO_PROXY bypasses it', async () => {
    process.env.https_proxy = deadProxy;
    try {
      const d = await dest(fake.mkdir('dead'));
      await assert.rejects(d.upload('b.tar', Readable.from([Buffer.from('x')])), /refused|ECONNREFUSED/i);
      process.env.no_proxy = '127.0.0.1';
      const e = await dest(fake.mkdir('bypass'));
      await e.upload('b.tar', Readable.from([Buffer.from('x')]));
    } finally {
      delete process.env.https_proxy;
      delete process.env.no_proxy;
    }
  });
});

describe('plain http through tinyproxy: one connection per request', () => {
  test('tinyproxy closes the client connection after a relayed response without saying so (why keep-alive is off)', async () => {
    const sock = connect(proxy.port, '127.0.0.1');
    await once(sock, 'connect');
    let got = '';
    sock.on('data', (d) => {
      got += d;
    });
    // HTTP/1.1 without Connection: close: the client asks to keep the connection
    sock.write(`GET ${rec.url}/keepalive HTTP/1.1\r\nHost: ${rec.host}\r\n\r\n`);
    const closed = await Promise.race([once(sock, 'end').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    sock.destroy();
    const head = got.split('\r\n\r\n')[0]!;
    assert.match(head, /^HTTP\/1\.[01] 200/);
    assert.doesNotMatch(head, /^connection:\s*close/im, head);
    assert.ok(closed, 'tinyproxy ended the connection after the response');
  });

  test('the plain-http agents of S3 and WebDAV keep no connection alive through HTTP_PROXY (https ones do)', () => {
    assert.deepEqual(proxyAgentOptions({ HTTP_PROXY: proxy.url }, 'http'), { proxyEnv: { HTTP_PROXY: proxy.url }, keepAlive: false });
    assert.deepEqual(proxyAgentOptions({ http_proxy: proxy.url }, 'https'), { proxyEnv: { http_proxy: proxy.url } });
    // only HTTPS_PROXY: plain-http targets go direct, keep-alive stays
    assert.deepEqual(proxyAgentOptions({ HTTPS_PROXY: proxy.url }, 'http'), { proxyEnv: { HTTPS_PROXY: proxy.url } });
    assert.deepEqual(proxyAgentOptions({}, 'http'), {});
  });
});
