/**
 * The fault matrix, destination by destination, against the real servers behind the
 * fault proxy (test/servers/fault-proxy.ts): down at start, connection cut mid-upload,
 * credentials refused, stalled (at once, and mid-upload) past BACKUP_DESTINATION_TIMEOUT,
 * out of space; and list / download / remove against a stalled server.
 *
 * For each: the operation ends within the bound (attempts × deadline, generously), the
 * error names the destination and the cause, no secret is in it, nothing is under the
 * final name, the older backup is byte-identical, and no temporary file is left where
 * the test can see the server's storage (WebDAV, SFTP, local).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { Destination } from '../../src/destinations/types.ts';
import { createS3Destination } from '../../src/destinations/s3.ts';
import { createAzureDestination } from '../../src/destinations/azure.ts';
import { createWebdavDestination } from '../../src/destinations/webdav.ts';
import { createSftpDestination } from '../../src/destinations/sftp.ts';
import { createDropboxDestination } from '../../src/destinations/dropbox.ts';
import { normaliseDropboxPath } from '../../src/destinations/dropbox.def.ts';
import { DEFAULT_RETRY, withRetry, type RetrySettings } from '../../src/destinations/retry.ts';
import { silentLogger } from '../../src/log.ts';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../servers/fault-proxy.ts';
import { startS3rver, S3RVER_CREDENTIALS } from '../servers/s3rver.ts';
import { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY } from '../servers/azurite.ts';
import { startApache } from '../servers/apache.ts';
import { startSshd, SFTP_USER } from '../servers/sshd.ts';
import { startDropboxFake } from '../servers/dropbox-fake.ts';
import { createGoogleDriveDestination } from '../../src/destinations/gdrive.ts';
import { startDriveFake, makeServiceAccount } from '../servers/gdrive-fake.ts';
import { digest, generated } from './streams.ts';

const log = silentLogger();
const MiB = 1 << 20;
const TIMEOUT = 2000;
const TIMED_OUT = /timed out after 2s with no progress/;
const retry: RetrySettings = { ...DEFAULT_RETRY, attempts: 2, initialDelayMs: 50, maxDelayMs: 100, timeoutMs: TIMEOUT };
/** attempts × (a stalled operation + a stalled cleanup/connect) + backoff, and a generous margin for a busy machine. */
const BOUND_MS = retry.attempts * 3 * TIMEOUT + 6000;
const XML_507 = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InsufficientStorage</Code><Message>quota exceeded</Message></Error>';

interface Target {
  kind: string;
  /** The real server's port (the proxy forwards there). */
  port: number;
  /** A destination reaching the server through 127.0.0.1:proxyPort, rooted at `path` ('' or 'a/b/'). */
  make(proxyPort: number, path: string): Destination;
  /** Same, with credentials the server refuses; `secret` is the refused secret. */
  badAuth(proxyPort: number, path: string): { d: Destination; secret: string };
  /** Secrets of the good configuration (never in an error). */
  secrets: string[];
  /** How the server says "out of space", or null when tested otherwise (SFTP: a full file system). */
  full: FaultMode | null;
  /** Names in the server's storage for `path` (temporary files included), or null when the storage is not visible. */
  stored(path: string): string[] | null;
  stop(): Promise<void>;
}

async function s3Target(): Promise<Target> {
  const server = await startS3rver({ buckets: ['backups'] });
  const cfg = (port: number, path: string, creds = S3RVER_CREDENTIALS) => ({
    bucket: 'backups',
    path,
    credentials: creds,
    iamRoleEndpoint: null,
    endpoint: `http://127.0.0.1:${port}`,
    insecure: false,
    caCert: null,
    storageClass: null,
    partSize: 5 * MiB,
    region: 'us-east-1',
    checksum: 'when_required' as const,
  });
  return {
    kind: 'S3',
    port: server.port,
    secrets: [S3RVER_CREDENTIALS.secretAccessKey],
    make: (port, path) => createS3Destination(cfg(port, path), { retry }, log),
    badAuth: (port, path) => {
      const secret = `bad-secret-${randomBytes(6).toString('hex')}`;
      return { d: createS3Destination(cfg(port, path, { accessKeyId: 'NOSUCHKEY', secretAccessKey: secret }), { retry }, log), secret };
    },
    full: { kind: 'http', status: 507, match: /^PUT /, afterBytes: 256 * 1024, body: XML_507 },
    stored: () => null,
    stop: () => server.close(),
  };
}

async function azureTarget(): Promise<Target> {
  const server = await startAzurite();
  const svc = new BlobServiceClient(server.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  await svc.getContainerClient('backups').createIfNotExists();
  const cfg = (port: number, path: string, key = AZURITE_KEY) => ({
    accountName: AZURITE_ACCOUNT,
    auth: { kind: 'key' as const, accountKey: key },
    container: 'backups',
    path,
    endpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}/`,
    accessTier: null,
  });
  return {
    kind: 'Azure',
    port: server.port,
    secrets: [AZURITE_KEY],
    make: (port, path) => createAzureDestination(cfg(port, path), { retry }, log),
    badAuth: (port, path) => {
      const secret = randomBytes(64).toString('base64');
      return { d: createAzureDestination(cfg(port, path, secret), { retry }, log), secret };
    },
    full: { kind: 'http', status: 507, match: /^PUT /, afterBytes: 256 * 1024, body: XML_507 },
    stored: () => null,
    stop: () => server.stop(),
  };
}

async function webdavTarget(): Promise<Target> {
  const server = await startApache();
  const port = Number(new URL(server.url).port);
  const cfg = (p: number, path: string, password = server.password) => ({
    url: `http://127.0.0.1:${p}`,
    path: path ? `/${path.replace(/\/$/, '')}` : '/',
    username: server.username,
    password,
    insecure: false,
  });
  return {
    kind: 'WebDAV',
    port,
    secrets: [server.password],
    make: (p, path) => createWebdavDestination(cfg(p, path), log, { requestTimeoutMs: TIMEOUT }),
    badAuth: (p, path) => {
      const secret = `bad-dav-${randomBytes(6).toString('hex')}`;
      return { d: createWebdavDestination(cfg(p, path, secret), log, { requestTimeoutMs: TIMEOUT }), secret };
    },
    full: { kind: 'http', status: 507, match: /^PUT /, afterBytes: 256 * 1024 },
    stored: (path) => {
      const dir = join(server.root, path);
      return existsSync(dir) ? readdirSync(dir) : [];
    },
    stop: () => server.stop(),
  };
}

async function sftpTarget(): Promise<Target & { home: string; run: string }> {
  const sshd = await startSshd();
  const key = sshd.addKey('id_faults');
  const run = `faults-${randomBytes(4).toString('hex')}`;
  const cfg = (port: number, path: string, password = '') => ({
    host: '127.0.0.1',
    port,
    remotePath: `${run}/${path}`,
    user: sshd.user,
    password,
    identityFile: password ? '/nonexistent/key' : key,
    identityFileExplicit: !password,
    identityPassphrase: '',
    knownHosts: '',
    hostKeyFingerprints: [sshd.fingerprint],
  });
  return {
    kind: 'SSH',
    port: sshd.port,
    secrets: [sshd.password],
    home: sshd.home,
    run,
    make: (port, path) => createSftpDestination(cfg(port, path), log, { timeoutMs: TIMEOUT }),
    badAuth: (port, path) => {
      const secret = `bad-ssh-${randomBytes(6).toString('hex')}`;
      const c = { ...cfg(port, path, secret), identityFileExplicit: false };
      return { d: createSftpDestination(c, log, { timeoutMs: TIMEOUT }), secret };
    },
    full: null,
    stored: (path) => {
      const dir = join(sshd.home, run, path);
      return existsSync(dir) ? readdirSync(dir) : [];
    },
    stop: async () => {
      rmSync(join(sshd.home, run), { recursive: true, force: true });
      await sshd.stop();
    },
  };
}

async function dropboxTarget(): Promise<Target> {
  const fake = await startDropboxFake();
  const port = Number(new URL(fake.origin).port);
  const cfg = (p: number, path: string, refreshToken = fake.refreshToken) => ({
    refreshToken,
    appKey: fake.appKey,
    appSecret: fake.appSecret,
    remotePath: normaliseDropboxPath(`/${path}`),
    concurrency: 2,
    endpoint: `http://127.0.0.1:${p}/`,
    oauth2Endpoint: `http://127.0.0.1:${p}/`,
  });
  const opts = { requestTimeoutMs: TIMEOUT, retryBaseMs: 20, chunkSize: 4 * MiB };
  return {
    kind: 'Dropbox',
    port,
    secrets: [fake.appSecret, fake.refreshToken],
    make: (p, path) => createDropboxDestination(cfg(p, path), log, opts),
    badAuth: (p, path) => {
      const secret = `bad-refresh-${randomBytes(8).toString('hex')}`;
      return { d: createDropboxDestination(cfg(p, path, secret), log, opts), secret };
    },
    // what Dropbox answers when the account is full
    full: {
      kind: 'http',
      status: 409,
      match: /upload_session\/(append_v2|finish)|files\/upload$/,
      body: JSON.stringify({ error_summary: 'path/insufficient_space/..', error: { '.tag': 'path', path: { '.tag': 'insufficient_space' } } }),
      headers: { 'content-type': 'application/json' },
    },
    stored: () => null,
    stop: () => fake.stop(),
  };
}

async function gdriveTarget(): Promise<Target> {
  const subject = 'owner@example.com';
  const fake = await startDriveFake({ subjects: [subject] });
  const port = Number(new URL(fake.origin).port);
  const folders = new Map<string, string>();
  const folderOf = (path: string) => {
    let id = folders.get(path);
    if (!id) {
      id = fake.mkdir(path.replace(/\/$/, '') || 'root-case');
      folders.set(path, id);
    }
    return id;
  };
  // a Destination is created synchronously here: the factory only loads the client
  const lazy = (make: () => Promise<Destination>): Destination => {
    const p = make();
    p.catch(() => {});
    return {
      name: 'GoogleDrive' as Destination['name'],
      location: 'gdrive',
      upload: async (n, s, o) => (await p).upload(n, s, o),
      list: async (x) => (await p).list(x),
      remove: async (n) => (await p).remove(n),
      download: async (n) => (await p).download(n),
      close: async () => (await p).close(),
    };
  };
  const cfg = (p: number, path: string, credentialsJson = fake.account.json) => ({
    credentialsJson,
    folderId: folderOf(path),
    impersonateSubject: subject,
    endpoint: `http://127.0.0.1:${p}/`,
    tokenUrl: `http://127.0.0.1:${p}/token`,
    teamDriveId: '',
  });
  // chunks larger than the proxy's cut/stall point: a chunk never gets through
  const opts = { retry, chunkSize: 4 * MiB };
  return {
    kind: 'Google Drive',
    port,
    secrets: [fake.account.privateKeyPem],
    make: (p, path) => lazy(() => createGoogleDriveDestination(cfg(p, path), log, opts)),
    badAuth: (p, path) => {
      const other = makeServiceAccount(fake.account.clientEmail);
      return { d: lazy(() => createGoogleDriveDestination(cfg(p, path, other.json), log, opts)), secret: other.privateKeyPem };
    },
    // what Drive answers when the owner's storage is full
    full: {
      kind: 'http',
      status: 403,
      match: /^PUT \/upload\/drive\/v3\/files/,
      body: JSON.stringify({
        error: {
          code: 403,
          message: "The user's Drive storage quota has been exceeded.",
          errors: [{ domain: 'usageLimits', reason: 'storageQuotaExceeded', message: "The user's Drive storage quota has been exceeded." }],
        },
      }),
      headers: { 'content-type': 'application/json' },
    },
    stored: (path) => fake.namesIn(folderOf(path)),
    stop: () => fake.stop(),
  };
}

const targets: [string, () => Promise<Target>][] = [
  ['S3 (s3rver)', s3Target],
  ['Azure (azurite)', azureTarget],
  ['WebDAV (Apache mod_dav)', webdavTarget],
  ['SFTP (OpenSSH sshd)', sftpTarget],
  ['Dropbox (fake API)', dropboxTarget],
  ['Google Drive (local Drive v3 server)', gdriveTarget],
];

for (const [label, start] of targets) {
  describe(`fault matrix: ${label}`, () => {
    let t: Target;
    let proxy: FaultProxy;
    let seq = 0;
    const opened: Destination[] = [];
    before(async () => {
      t = await start();
      proxy = await startFaultProxy({ port: t.port });
    });
    after(async () => {
      const t0 = Date.now();
      for (const d of opened) await d.close().catch(() => {});
      const t1 = Date.now();
      await proxy?.close();
      const t2 = Date.now();
      await t?.stop();
      if (process.env.FAULTS_DEBUG) console.error(`teardown: close ${t1 - t0} ms, proxy ${t2 - t1} ms, server ${Date.now() - t2} ms`);
    });

    /** A fresh path holding one older backup (uploaded with no fault). */
    async function withOlder(): Promise<{ d: Destination; path: string; oldSha: string }> {
      await proxy.setMode({ kind: 'pass' });
      const path = `c${++seq}-${randomBytes(3).toString('hex')}/`;
      const d = t.make(proxy.port, path);
      opened.push(d);
      const old = generated(1 * MiB);
      await d.upload('backup-1-older.tar.gz', old.stream);
      return { d, path, oldSha: await old.sha256 };
    }

    async function uploadFails(d: Destination, mode: FaultMode | null, cause: RegExp, secrets: string[] = []): Promise<number> {
      if (mode) await proxy.setMode(mode);
      const started = Date.now();
      const err = await withRetry(() => d.upload('backup-2-new.tar.gz', generated(6 * MiB, { chunk: 256 * 1024 }).stream), {
        settings: retry,
        log,
        what: `upload to ${t.kind}`,
      }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      const elapsed = Date.now() - started;
      assert.ok(err, 'the upload failed');
      assert.ok(elapsed < BOUND_MS, `ended within ${BOUND_MS} ms (took ${elapsed} ms)`);
      const name = t.kind === 'SSH' ? 'SFTP' : t.kind;
      assert.match(err.message, new RegExp(name), `the error names the destination: ${err.message}`);
      assert.match(err.message, cause, `the error names the cause: ${err.message}`);
      for (const s of [...t.secrets, ...secrets])
        assert.ok(!err.message.includes(s) && !String((err as { hint?: string }).hint ?? '').includes(s), 'no secret in the error');
      return elapsed;
    }

    async function intact(d: Destination, path: string, oldSha: string): Promise<void> {
      await proxy.setMode({ kind: 'pass' });
      // as a run would: retried (a connection the fault broke may fail the first request)
      const again = <T>(fn: () => Promise<T>) => withRetry(fn, { settings: retry, log, what: 'check' }).then((r) => r.value);
      const names = (await again(() => d.list(''))).map((o) => o.name);
      assert.deepEqual(names, ['backup-1-older.tar.gz'], 'nothing under the final name; the older backup listed');
      assert.equal((await again(async () => digest(await d.download('backup-1-older.tar.gz')))).sha256, oldSha, 'the older backup is byte-identical');
      // the temporary file is removed (when the storage is visible to the test)
      for (let i = 0; i < 40; i++) {
        const stored = t.stored(path);
        if (!stored || stored.length <= 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const stored = t.stored(path);
      if (stored) assert.deepEqual(stored, ['backup-1-older.tar.gz'], 'no temporary file is left');
    }

    test('down at start (connection refused)', async () => {
      const { d, path, oldSha } = await withOlder();
      await uploadFails(d, { kind: 'refuse' }, /connection refused|ECONNREFUSED/);
      await intact(d, path, oldSha);
    });

    test('connection cut mid-upload', async () => {
      const { d, path, oldSha } = await withOlder();
      await uploadFails(d, { kind: 'cut', afterBytes: 2 * MiB }, /reset|closed|lost|aborted|ECONNRESET|EPIPE/i);
      await intact(d, path, oldSha);
    });

    test('credentials refused', async () => {
      const { d, path, oldSha } = await withOlder();
      const bad = t.badAuth(proxy.port, path);
      opened.push(bad.d);
      await uploadFails(bad.d, null, /refused|denied|401|403|authentication|InvalidAccessKeyId|invalid_grant/i, [bad.secret]);
      await intact(d, path, oldSha);
    });

    test('stalled at once (accepts, never answers) past the timeout', async () => {
      const { d, path, oldSha } = await withOlder();
      await uploadFails(d, { kind: 'stall', afterBytes: 0 }, TIMED_OUT);
      await intact(d, path, oldSha);
    });

    test('stalled mid-upload past the timeout', async () => {
      const { d, path, oldSha } = await withOlder();
      await uploadFails(d, { kind: 'stall', afterBytes: 2 * MiB }, TIMED_OUT);
      await intact(d, path, oldSha);
    });

    test('out of space', async (ctx) => {
      if (!t.full) {
        ctx.skip("tested by 'fault matrix: SFTP server with a full disk' below, against a real full tmpfs on the server instead of an injected fault");
        return;
      }
      const { d, path, oldSha } = await withOlder();
      await uploadFails(d, t.full, /507 Insufficient Storage|out of space|insufficient_space|full/i);
      await intact(d, path, oldSha);
    });

    test('list, download and remove against a stalled server end with a timeout', async () => {
      const { d, path, oldSha } = await withOlder();
      const fresh = t.make(proxy.port, path); // no open connection: every request meets the stall
      opened.push(fresh);
      await proxy.setMode({ kind: 'stall', afterBytes: 0 });
      for (const [what, op] of [
        ['list', () => fresh.list('')],
        ['download', async () => digest(await fresh.download('backup-1-older.tar.gz'))],
        ['remove', () => fresh.remove(['backup-1-older.tar.gz'])],
      ] as const) {
        const started = Date.now();
        await assert.rejects(
          op(),
          (err: Error) => {
            assert.ok(err instanceof Error, `${what} fails`);
            assert.match(err.message, TIMED_OUT, `${what}: ${err.message}`);
            return true;
          },
          `${what} fails against a stalled server`,
        );
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 3 * TIMEOUT + 3000, `${what} ended within the bound (took ${elapsed} ms)`);
      }
      await intact(d, path, oldSha);
    });

    test('download stalled mid-body ends with a timeout', async () => {
      const { d, path, oldSha } = await withOlder();
      const big = generated(12 * MiB);
      await d.upload('big.tar.gz', big.stream);
      const fresh = t.make(proxy.port, path);
      opened.push(fresh);
      // the request goes out; the server's answer stops after its head and what the socket buffers held
      await proxy.setMode({ kind: 'pass' });
      const stream = await fresh.download('big.tar.gz');
      await proxy.setMode({ kind: 'stall', afterBytes: 0 });
      const started = Date.now();
      await assert.rejects(digest(stream), TIMED_OUT);
      assert.ok(Date.now() - started < 3 * TIMEOUT + 3000);
      await proxy.setMode({ kind: 'pass' });
      await withRetry(() => d.remove(['big.tar.gz']), { settings: retry, log, what: 'remove' });
      await intact(d, path, oldSha);
    });
  });
}

describe('fault matrix: SFTP server with a full disk', () => {
  let t: Awaited<ReturnType<typeof sftpTarget>>;
  let mnt = '';
  before(async () => {
    t = await sftpTarget();
  });
  after(async () => {
    if (mnt)
      try {
        execFileSync('umount', ['-l', mnt]);
      } catch {
        /* not mounted */
      }
    await t?.stop();
  });

  test('a write refused for lack of space stops the upload before the rename (nothing truncated under the final name)', async (ctx) => {
    mnt = join(t.home, t.run, 'full');
    mkdirSync(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0755', 'tmpfs', mnt]);
      execFileSync('chown', [`${SFTP_USER}:`, mnt]);
    } catch (err) {
      ctx.skip(`cannot mount a small tmpfs here: ${(err as Error).message}`);
      return;
    }
    const d = t.make(t.port, 'full/');
    try {
      const old = generated(1 * MiB);
      await d.upload('backup-1-older.tar.gz', old.stream);
      const oldSha = await old.sha256;
      const started = Date.now();
      const err = await withRetry(() => d.upload('backup-2-new.tar.gz', generated(6 * MiB, { chunk: 256 * 1024 }).stream), {
        settings: retry,
        log,
        what: 'upload to SSH',
      }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      assert.ok(err, 'the upload failed');
      assert.ok(Date.now() - started < BOUND_MS);
      assert.match(err.message, /SFTP .*(SSH_FX_FAILURE|holds \d+ bytes of the \d+ sent|stopped taking data after \d+ bytes)/, err.message);
      assert.match(err.message, /full disk|quota/);
      assert.deepEqual(readdirSync(mnt).sort(), ['backup-1-older.tar.gz'], 'no truncated backup under the final name, no temporary file');
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['backup-1-older.tar.gz'],
      );
      assert.equal((await digest(await d.download('backup-1-older.tar.gz'))).sha256, oldSha);
    } finally {
      await d.close();
    }
  });
});
