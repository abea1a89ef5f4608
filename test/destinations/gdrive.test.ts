import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGoogleDriveDestination, parseServiceAccount, type GoogleDriveConfig, type GoogleDriveOptions } from '../../src/destinations/gdrive.ts';
import { UserError } from '../../src/errors.ts';
import { DEFAULT_RETRY } from '../../src/destinations/retry.ts';
import { silentLogger } from '../../src/log.ts';
import { startDriveFake, makeServiceAccount, DRIVE_SCOPE, GOOGLE_TOKEN_AUD, type DriveFake } from '../servers/gdrive-fake.ts';
import { freePort } from '../servers/util.ts';
import { failingSource, endlessSource, patterned, streamOf } from './more-helpers.ts';
import { runDestinationContract, viaFaultProxy } from './contract.ts';
import { generated } from './streams.ts';

type Classified = Error & { code?: string; status?: number; transient?: boolean; hint?: string };
const MiB = 1 << 20;
const SUBJECT = 'backup-owner@example.com';
const fastRetry = { ...DEFAULT_RETRY, initialDelayMs: 10, maxDelayMs: 50 };

/** The folder chain for a contract path (`a/b/c/`) in the fake: its last folder's id. */
function folderFor(fake: DriveFake, path: string, parent = fake.rootId): string {
  let id = parent;
  for (const part of path.split('/').filter(Boolean)) id = fake.mkdir(part, id);
  return id;
}

runDestinationContract('GoogleDrive (local Drive v3 server)', async () => {
  const fake = await startDriveFake({ subjects: [SUBJECT] });
  const cfg = (folderId: string, endpoint = fake.endpoint, tokenUrl = fake.tokenUrl): GoogleDriveConfig => ({
    credentialsJson: fake.account.json,
    folderId,
    impersonateSubject: SUBJECT,
    endpoint,
    tokenUrl,
    teamDriveId: '',
  });
  const folders = new Map<string, string>();
  const idFor = (path: string) => {
    let id = folders.get(path);
    if (!id) {
      id = folderFor(fake, path);
      folders.set(path, id);
    }
    return id;
  };
  return {
    create: async (path) => createGoogleDriveDestination(cfg(idFor(path)), silentLogger(), { retry: fastRetry, chunkSize: 4 * MiB }),
    unreachable: async (path, timeoutMs) => {
      const down = `http://127.0.0.1:${await freePort()}`;
      return createGoogleDriveDestination(cfg(idFor(path), `${down}/`, `${down}/token`), silentLogger(), { retry: { ...fastRetry, timeoutMs } });
    },
    failing: (path) =>
      viaFaultProxy(
        Number(new URL(fake.origin).port),
        (port) =>
          createGoogleDriveDestination(cfg(idFor(path), `http://127.0.0.1:${port}/`, `http://127.0.0.1:${port}/token`), silentLogger(), {
            retry: { ...fastRetry, attempts: 1, timeoutMs: 5000 },
            chunkSize: 4 * MiB,
          }),
        () => fake.namesIn(idFor(path)),
      ),
    teardown: () => fake.stop(),
  };
});

describe('Google Drive service account key', () => {
  it('is checked without ever quoting the key', () => {
    const acct = makeServiceAccount();
    assert.equal(parseServiceAccount(acct.json).client_email, acct.clientEmail);
    for (const [bad, msg] of [
      ['not json', /not JSON/],
      ['[]', /not a JSON object/],
      [JSON.stringify({ type: 'authorized_user', client_email: 'x' }), /type "authorized_user"; expected a service account key/],
      [JSON.stringify({ type: 'service_account', private_key: 'x' }), /no client_email/],
      [JSON.stringify({ type: 'service_account', client_email: 'a@b', private_key: 'secret-not-pem' }), /no private_key in PEM form/],
    ] as const) {
      assert.throws(
        () => parseServiceAccount(bad),
        (err: Error) => {
          assert.match(err.message, msg);
          assert.ok(!err.message.includes('secret-not-pem'));
          return true;
        },
      );
    }
  });
});

describe('Google Drive against the local Drive v3 server', () => {
  let fake: DriveFake;
  before(async () => {
    fake = await startDriveFake({ subjects: [SUBJECT] });
  });
  after(async () => {
    await fake?.stop();
  });
  beforeEach(() => {
    fake.calls.clear();
    fake.statuses.clear();
    fake.maxBody = 0;
    fake.assertions.length = 0;
    fake.tokenLifetime = 3599;
  });
  const cfgFor = (folderId: string, extra: Partial<GoogleDriveConfig> = {}): GoogleDriveConfig => ({
    credentialsJson: fake.account.json,
    folderId,
    impersonateSubject: SUBJECT,
    endpoint: fake.endpoint,
    tokenUrl: fake.tokenUrl,
    teamDriveId: '',
    ...extra,
  });
  const dest = (folderId: string, extra: Partial<GoogleDriveConfig> = {}, opts: GoogleDriveOptions = {}) =>
    createGoogleDriveDestination(cfgFor(folderId, extra), silentLogger(), { retry: fastRetry, chunkSize: 1 * MiB, ...opts });

  it("signs a verifiable JWT (RS256) with the account, the drive scope, Google's audience and the subject", async () => {
    const d = await dest(fake.mkdir('jwt'));
    await d.list('');
    assert.equal(fake.calls.get('token'), 1);
    const a = fake.assertions[0]!;
    assert.equal((a.header as { alg: string }).alg, 'RS256');
    assert.equal(a.iss, fake.account.clientEmail);
    assert.equal(a.scope, DRIVE_SCOPE);
    assert.equal(a.aud, GOOGLE_TOKEN_AUD);
    assert.equal(a.sub, SUBJECT);
    assert.ok(Number(a.exp) - Number(a.iat) <= 3600);
    // the token is reused
    await d.list('');
    assert.equal(fake.calls.get('token'), 1);
  });

  it('uploads in chunks of the configured size through one resumable session; the file exists only after the last chunk', async () => {
    const folder = fake.mkdir('chunks');
    const d = await dest(folder);
    const data = patterned(5 * MiB + 123, 3);
    let seenMidway: string[] | null = null;
    const source = Readable.from(
      (async function* () {
        for (let at = 0; at < data.length; at += 256 * 1024) {
          if (seenMidway === null && at > 3 * MiB) seenMidway = fake.namesIn(folder);
          yield data.subarray(at, at + 256 * 1024);
        }
      })(),
    );
    await d.upload('big.bin', source);
    assert.deepEqual(seenMidway, [], 'nothing is listed while the upload runs');
    assert.equal(fake.calls.get('upload.start'), 1);
    assert.equal(fake.calls.get('upload.put'), 6);
    assert.ok(fake.maxBody <= 1 * MiB, `chunks of at most 1 MiB (largest body ${fake.maxBody})`);
    assert.equal(fake.statuses.get(308), 5);
    assert.deepEqual(fake.namesIn(folder), ['big.bin']);
    assert.ok((await buffer(await d.download('big.bin'))).equals(data));
    assert.equal(fake.openSessions, 0);
  });

  it('an upload whose name exists fails and leaves the existing file alone (Drive would keep both)', async () => {
    const folder = fake.mkdir('conflict');
    const d = await dest(folder);
    await d.upload('a.tar', Readable.from([Buffer.from('first')]));
    await assert.rejects(d.upload('a.tar', Readable.from([Buffer.from('second')])), (err: Classified) => {
      assert.ok((err as unknown) instanceof UserError);
      assert.match(err.message, /already exists.*refusing to overwrite/);
      assert.equal(err.transient, false);
      return true;
    });
    assert.deepEqual(fake.namesIn(folder), ['a.tar']);
    assert.equal((await buffer(await d.download('a.tar'))).toString(), 'first');
  });

  it('a name taken by another upload during ours: ours is deleted and fails', async () => {
    const folder = fake.mkdir('race');
    const d = await dest(folder);
    const payload = patterned(3 * MiB, 1);
    const src = Readable.from(
      (async function* () {
        fake.put('r.tar', folder, Buffer.from('theirs'));
        yield payload;
      })(),
    );
    await assert.rejects(d.upload('r.tar', src), /already exists/);
    assert.deepEqual(fake.namesIn(folder), ['r.tar']);
    assert.equal((await buffer(await d.download('r.tar'))).toString(), 'theirs');
  });

  it('a lost chunk answer is resumed from what Drive reports', async () => {
    const folder = fake.mkdir('lost');
    const d = await dest(folder);
    fake.inject('upload.put', { kind: 'drop-response' });
    const data = patterned(3 * MiB + 5, 7);
    await d.upload('l.bin', streamOf(data));
    assert.ok((await buffer(await d.download('l.bin'))).equals(data));
    assert.equal(fake.files.size > 0, true);
  });

  it('a 503 on a chunk is retried after a status query', async () => {
    const folder = fake.mkdir('flaky');
    const d = await dest(folder);
    fake.inject('upload.put', { kind: 'status', status: 503 });
    fake.inject('files.list', { kind: 'status', status: 500 });
    const data = patterned(2 * MiB + 9, 8);
    await d.upload('f.bin', streamOf(data));
    assert.ok((await buffer(await d.download('f.bin'))).equals(data));
  });

  it('honours 429 Retry-After on a listing', async () => {
    const d = await dest(fake.mkdir('rate'));
    fake.inject('files.list', { kind: 'status', status: 429, retryAfter: 1 });
    const t0 = Date.now();
    assert.deepEqual(await d.list(''), []);
    assert.ok(Date.now() - t0 >= 950, 'waited for Retry-After');
  });

  it('an expired token is refreshed once on the 401', async () => {
    const d = await dest(fake.mkdir('expired'));
    await d.list('');
    fake.inject('files.list', { kind: 'expire-token' });
    await d.list('');
    assert.equal(fake.calls.get('token'), 2);
  });

  it('a failing source or an abort commits nothing and cancels the session', async () => {
    const folder = fake.mkdir('failing');
    const d = await dest(folder);
    await assert.rejects(d.upload('f1.bin', failingSource(3 * MiB)), /source broke/);
    const ac = new AbortController();
    await assert.rejects(
      d.upload(
        'f2.bin',
        endlessSource(2 * MiB, () => ac.abort()),
        { signal: ac.signal },
      ),
      { name: 'AbortError' },
    );
    assert.deepEqual(fake.namesIn(folder), []);
    assert.deepEqual(await d.list(''), []);
    for (let i = 0; i < 40 && fake.openSessions > 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(fake.openSessions, 0, 'the sessions were cancelled');
  });

  it('lists every page, files only, by prefix; removes all files of a name, missing names ignored', async () => {
    const folder = fake.mkdir('paged');
    for (let i = 0; i < 1203; i++) fake.put(`backup-${String(i).padStart(4, '0')}.tar`, folder, Buffer.from([i & 0xff]));
    fake.put('other.txt', folder, Buffer.from('o'));
    fake.mkdir('backup-sub', folder);
    const d = await dest(folder);
    const names = (await d.list('backup-')).map((o) => o.name);
    assert.equal(names.length, 1203);
    assert.ok((fake.calls.get('files.list') ?? 0) >= 2);
    await d.remove([...names.slice(0, 1200), 'missing.tar']);
    assert.deepEqual((await d.list('')).map((o) => o.name).sort(), ['backup-1200.tar', 'backup-1201.tar', 'backup-1202.tar', 'other.txt']);
  });

  it('a name with quotes or backslashes is found by the query language', async () => {
    const folder = fake.mkdir('quotes');
    const d = await dest(folder);
    const n = "it's a 'quoted' name.tar";
    await d.upload(n, Readable.from([Buffer.from('q')]));
    assert.equal((await buffer(await d.download(n))).toString(), 'q');
    await d.remove([n]);
    assert.deepEqual(fake.namesIn(folder), []);
  });

  it('a shared drive (GOOGLE_DRIVE_TEAM_DRIVE_ID): supportsAllDrives, corpora=drive, driveId; its root when no folder is set', async () => {
    const driveId = fake.sharedDrive('Backups');
    const d = await dest('', { teamDriveId: driveId });
    await d.upload('s.tar', Readable.from([Buffer.from('shared')]));
    assert.deepEqual(fake.namesIn(driveId), ['s.tar']);
    assert.deepEqual(
      (await d.list('')).map((o) => o.name),
      ['s.tar'],
    );
    assert.equal((await buffer(await d.download('s.tar'))).toString(), 'shared');
    await d.remove(['s.tar']);
    assert.deepEqual(fake.namesIn(driveId), []);
    // without the shared-drive flags the folder is invisible
    const wrong = await dest(driveId);
    await assert.rejects(wrong.upload('x.tar', Readable.from([Buffer.from('x')])), /not found/);
  });

  it('no folder id: the root of My Drive', async () => {
    const d = await dest('');
    await d.upload('at-root.tar', Readable.from([Buffer.from('r')]));
    assert.ok(fake.namesIn(fake.rootId).includes('at-root.tar'));
    await d.remove(['at-root.tar']);
  });

  it('a key the server does not know, or a subject without delegation, is a UserError naming the variables, without the key', async () => {
    const other = makeServiceAccount(fake.account.clientEmail);
    const bad = await dest(fake.mkdir('badkey'), { credentialsJson: other.json });
    await assert.rejects(bad.list(''), (err: Classified) => {
      assert.ok((err as unknown) instanceof UserError);
      assert.match(err.message, /refused the service account's credentials \(invalid_grant: Invalid JWT Signature/);
      assert.match(err.hint ?? '', /GOOGLE_DRIVE_CREDENTIALS_JSON/);
      assert.equal(err.transient, false);
      assert.ok(!err.message.includes('PRIVATE KEY'));
      return true;
    });
    const sub = await dest(fake.mkdir('badsub'), { impersonateSubject: 'someone-else@example.com' });
    await assert.rejects(sub.upload('a', Readable.from([Buffer.from('a')])), (err: Classified) => {
      assert.match(err.message, /unauthorized_client/);
      assert.match(err.hint ?? '', /domain-wide delegation/);
      return true;
    });
  });

  it('a missing folder is a clear error; a missing file cannot be downloaded (ENOENT)', async () => {
    const d = await dest('no-such-folder-id');
    await assert.rejects(d.upload('a.tar', Readable.from([Buffer.from('a')])), /not found/);
    const e = await dest(fake.mkdir('empty'));
    await assert.rejects(e.download('nope'), (err: Classified) => err.code === 'ENOENT');
  });

  it('a full Drive (403 storageQuotaExceeded) is a UserError', async () => {
    const d = await dest(fake.mkdir('full'));
    fake.inject(
      'upload.put',
      { kind: 'status', status: 403, reason: 'storageQuotaExceeded', message: "The user's Drive storage quota has been exceeded." },
      10,
    );
    await assert.rejects(d.upload('x.bin', generated(2 * MiB).stream), (err: Classified) => {
      assert.ok((err as unknown) instanceof UserError);
      assert.match(err.message, /the Drive is full/);
      return true;
    });
  });

  it('names with a separator are refused by upload, remove and download', async () => {
    const d = await dest(fake.mkdir('sep'));
    await assert.rejects(d.upload('a/b', Readable.from([])), /not a plain file name/);
    await assert.rejects(d.remove(['..']), /not a plain file name/);
    await assert.rejects(d.download('x/../y'), /not a plain file name/);
    await assert.rejects(d.upload('a\\b', Readable.from([])), /not a plain file name/);
  });
});
