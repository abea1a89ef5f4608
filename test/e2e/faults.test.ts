/**
 * The fault matrix through the CLI: `offsite backup` with a healthy local destination
 * beside S3 (s3rver) and SFTP (sshd) behind the fault proxy, and `list`, `verify`,
 * `restore` against a stalled server. Each run must end within the bound, exit 3
 * (partial) with the local copy complete, keep the older backup on the faulty
 * destination, put nothing under the new name there, notify naming the destination and
 * the cause, and print no secret.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../servers/fault-proxy.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';
import { startSshd, type SshdServer } from '../servers/sshd.ts';

// 3 s, not 1-2: an SSH handshake in a process busy archiving takes over 2 s on a loaded 2-core machine
const TIMEOUT_S = 3;
const ATTEMPTS = 2;
/** attempts × (stalled upload + stalled cleanup) + backoff + process start and the archive, generously. */
const BOUND_MS = ATTEMPTS * 2 * TIMEOUT_S * 1000 + 20_000;

interface Remote {
  kind: string;
  /** The environment that points the destination at 127.0.0.1:port. */
  env(port: number): Record<string, string>;
  /** Backup names stored on the server (temporary files included). */
  stored(): Promise<string[]>;
  secrets: string[];
}

let rec: HttpRecorder;
let s3: S3rverHandle;
let sshd: SshdServer;
const dirs: string[] = [];
before(async () => {
  rec = await startRecorder();
  s3 = await startS3rver({ buckets: ['faults'] });
  sshd = await startSshd();
});
after(async () => {
  await rec?.close();
  await s3?.close();
  await sshd?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sftpRun = `e2e-faults-${randomBytes(3).toString('hex')}`;
const remotes: [string, () => Remote][] = [
  [
    'S3 (s3rver)',
    () => ({
      kind: 'S3',
      env: (port) => ({
        AWS_S3_BUCKET_NAME: 'faults',
        AWS_ENDPOINT: `127.0.0.1:${port}`,
        AWS_ENDPOINT_PROTO: 'http',
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        AWS_S3_PATH: sftpRun,
        // multipart (5 MB parts): s3rver writes a single PUT to its disk as it arrives and keeps
        // what it got when the connection breaks (real S3 never shows a partial PUT)
        AWS_PART_SIZE: '5',
      }),
      async stored() {
        const dir = join(s3.directory, 'faults', sftpRun);
        return existsSync(dir)
          ? readdirSync(dir)
              .map((n) => n.replace(/\._S3rver_.*$/, ''))
              .filter((n, i, a) => a.indexOf(n) === i)
              .sort()
          : [];
      },
      secrets: [],
    }),
  ],
  [
    'SFTP (sshd)',
    () => ({
      kind: 'SSH',
      env: (port) => ({
        SSH_HOST_NAME: '127.0.0.1',
        SSH_PORT: String(port),
        SSH_USER: sshd.user,
        SSH_PASSWORD: sshd.password,
        SSH_REMOTE_PATH: sftpRun,
        SSH_HOST_KEY_FINGERPRINT: sshd.fingerprint,
      }),
      async stored() {
        const dir = join(sshd.home, sftpRun);
        return existsSync(dir) ? readdirSync(dir).sort() : [];
      },
      secrets: [sshd.password],
    }),
  ],
];

for (const [label, make] of remotes) {
  describe(`offsite backup with a faulty ${label} beside a healthy local destination`, () => {
    let r: Remote;
    let proxy: FaultProxy;
    let env: Record<string, string>;
    let archive: string;
    let older: string[] = [];
    before(async () => {
      r = make();
      proxy = await startFaultProxy({ port: r.kind === 'S3' ? s3.port : sshd.port });
      const iso = isolatedEnv();
      dirs.push(iso.dir);
      const src = join(iso.dir, 'src');
      mkdirSync(src);
      // big enough that a cut or a stall happens in the middle of the upload (random: gzip cannot shrink it)
      writeFileSync(join(src, 'data.bin'), randomBytes(6 << 20));
      archive = join(iso.dir, 'archive');
      mkdirSync(archive);
      env = {
        ...iso.env,
        ...r.env(proxy.port),
        BACKUP_SOURCES: src,
        BACKUP_ARCHIVE: archive,
        BACKUP_DESTINATION_TIMEOUT: `${TIMEOUT_S}s`,
        BACKUP_RETRY_ATTEMPTS: String(ATTEMPTS),
        BACKUP_RETRY_INITIAL_DELAY: '1s',
        BACKUP_FILENAME: 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}',
        NOTIFICATION_URLS: `generic+${rec.url.replace(/\/$/, '')}/hook?template=json`,
      };
      const first = await runCliAsync(['backup'], env);
      assert.equal(first.code, 0, first.out);
      older = await r.stored();
      assert.equal(older.filter((n) => n.endsWith('.tar.gz')).length, 1, `one older backup on ${r.kind}: ${older.join(', ')}`);
    });
    after(async () => {
      await proxy?.close();
    });

    async function faulty(mode: FaultMode, cause: RegExp): Promise<void> {
      await proxy.setMode(mode);
      const backups = () => readdirSync(archive).filter((n) => n.endsWith('.tar.gz'));
      const localBefore = backups().length;
      rec.reset();
      // a new name each run (the local destination never overwrites)
      await new Promise((res) => setTimeout(res, 1100));
      const res = await runCliAsync(['backup'], env);
      await proxy.setMode({ kind: 'pass' });
      assert.equal(res.code, 3, `exit 3 (partial): ${res.out}`);
      assert.ok(res.elapsed < BOUND_MS, `ended within ${BOUND_MS} ms (took ${res.elapsed} ms)`);
      assert.equal(backups().length, localBefore + 1, 'the healthy local destination has the new backup');
      assert.deepEqual(
        readdirSync(archive).filter((n) => n.startsWith('.')),
        [],
        'no temporary file in the local directory',
      );
      assert.deepEqual(await r.stored(), older, `only the older backup on ${r.kind}, nothing under the new name, no temporary file`);
      assert.match(res.out, cause, 'the output names the cause');
      const name = r.kind === 'SSH' ? /SSH|SFTP/ : new RegExp(r.kind);
      assert.equal(rec.requests.length, 1, 'one notification');
      const note = rec.requests[0]!.body;
      assert.match(note, name, 'the notification names the destination');
      assert.match(note, cause, 'the notification names the cause');
      for (const s of r.secrets) {
        assert.ok(!res.out.includes(s), 'no secret in the output');
        assert.ok(!note.includes(s), 'no secret in the notification');
      }
    }

    test('down at start', () => faulty({ kind: 'refuse' }, /connection refused/));
    test('connection cut mid-upload', () => faulty({ kind: 'cut', afterBytes: 1 << 20 }, /reset|closed|lost|ECONNRESET|EPIPE/));
    test('stalled past the timeout', () => faulty({ kind: 'stall', afterBytes: 1 << 20 }, /timed out after 3s with no progress/));
    if (label.startsWith('S3')) {
      test('out of space (HTTP 507 on the upload)', () =>
        faulty(
          {
            kind: 'http',
            status: 507,
            match: /^PUT /,
            afterBytes: 256 << 10,
            body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InsufficientStorage</Code><Message>quota exceeded</Message></Error>',
          },
          /HTTP 507 Insufficient Storage \(InsufficientStorage\): the destination is out of space/,
        ));
    }

    test('list, verify and restore against a stalled server end within the bound', async () => {
      await proxy.setMode({ kind: 'stall', afterBytes: 0 });
      try {
        for (const args of [
          ['list'],
          ['verify'],
          ['restore', 'latest', '--from', r.kind === 'SSH' ? 'ssh' : 's3', '--to', join(archive, '..', `restored-${randomBytes(3).toString('hex')}`)],
        ]) {
          const res = await runCliAsync(args, env);
          assert.ok(res.elapsed < BOUND_MS, `${args[0]} ended within ${BOUND_MS} ms (took ${res.elapsed} ms): ${res.out}`);
          assert.notEqual(res.code, 0, `${args[0]} reports the failure: ${res.out}`);
          assert.match(res.out, /timed out after 3s with no progress/, `${args[0]} says what happened`);
        }
      } finally {
        await proxy.setMode({ kind: 'pass' });
      }
    });
  });
}
