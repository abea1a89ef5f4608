// The crash suite: `offsite backup` to local + S3 + SFTP + WebDAV, SIGKILLed 20 times at
// random moments during the run; the next run succeeds at once (no stale lock) and leaves no
// temporary file or staged archive anywhere, and nothing partial ever carries a final name.
// Then a daemon receiving SIGTERM mid-run exits within OFFSITE_STOP_TIMEOUT, clean.
//
// S3: s3rver implements neither ListMultipartUploads nor AbortMultipartUpload, so the
// unfinished multipart uploads of killed runs cannot be removed (nor listed) there; the
// cleanup notes it and goes on. On real S3 they are aborted once older than 24 h.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, openSync, readdirSync, statSync, writeSync, closeSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { isolatedEnv, startCli, collect, waitFor } from '../helpers/cli.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';
import { startSshd, SFTP_USER, SFTP_PASSWORD, type SshdServer } from '../servers/sshd.ts';
import { startWebdavServer, type InProcessDav } from '../servers/webdav-server.ts';
import { isTemporaryName } from '../../src/retention/index.ts';

const KILLS = 20;
const SOURCE_MIB = 12;
const STOP_MS = 5000;

let s3: S3rverHandle;
let sshd: SshdServer;
let dav: InProcessDav;
let work: { dir: string; env: Record<string, string>; archive: string; tmp: string; sftpDir: string; davDir: string };

before(async () => {
  [s3, sshd, dav] = await Promise.all([startS3rver({ buckets: ['crash'] }), startSshd(), startWebdavServer()]);
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  const fd = openSync(join(src, 'data.bin'), 'w');
  for (let i = 0; i < SOURCE_MIB; i++) writeSync(fd, randomBytes(1 << 20));
  closeSync(fd);
  const archive = join(dir, 'archive');
  const tmp = join(dir, 'tmp');
  mkdirSync(archive);
  mkdirSync(tmp);
  const sub = `crash-${randomBytes(4).toString('hex')}`;
  const sftpDir = join(sshd.home, sub);
  work = {
    dir,
    archive,
    tmp,
    sftpDir,
    davDir: join(dav.root, sub),
    env: {
      ...env,
      BACKUP_SOURCES: src,
      BACKUP_ARCHIVE: archive,
      BACKUP_TMP_DIR: tmp,
      BACKUP_COMPRESSION: 'none',
      OFFSITE_STOP_TIMEOUT: `${STOP_MS / 1000}s`,
      AWS_S3_BUCKET_NAME: 'crash',
      AWS_S3_PATH: sub,
      AWS_ENDPOINT: `127.0.0.1:${s3.port}`,
      AWS_ENDPOINT_PROTO: 'http',
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      SSH_HOST_NAME: '127.0.0.1',
      SSH_PORT: String(sshd.port),
      SSH_USER: SFTP_USER,
      SSH_PASSWORD: SFTP_PASSWORD,
      SSH_REMOTE_PATH: sftpDir,
      SSH_HOST_KEY_FINGERPRINT: sshd.fingerprint,
      WEBDAV_URL: dav.url,
      WEBDAV_USERNAME: dav.username,
      WEBDAV_PASSWORD: dav.password,
      WEBDAV_PATH: `/${sub}`,
    },
  };
});
after(async () => {
  await Promise.allSettled([s3?.close(), sshd?.stop(), dav?.stop()]);
  if (work) execFileSync('rm', ['-rf', work.dir, work.sftpDir]);
});

const list = (d: string) => (existsSync(d) ? readdirSync(d) : []);

/** Every temporary name offsite may have left, by place. */
function leftovers(): Record<string, string[]> {
  return {
    local: list(work.archive).filter((n) => n.startsWith('.')),
    tmp: list(work.tmp),
    sftp: list(work.sftpDir).filter(isTemporaryName),
    webdav: list(work.davDir).filter(isTemporaryName),
  };
}

/** Whatever carries a final name is a complete backup (the source is incompressible, compression off). */
function assertNoPartialUnderFinalName(where: string) {
  for (const [place, d] of [
    ['local', work.archive],
    ['sftp', work.sftpDir],
    ['webdav', work.davDir],
  ] as const) {
    for (const n of list(d)) {
      if (n.startsWith('.') || isTemporaryName(n) || n.endsWith('.manifest.json')) continue;
      assert.ok(
        statSync(join(d, n)).size >= SOURCE_MIB << 20,
        `${where}: ${place}/${n} is a partial file under a final name (${statSync(join(d, n)).size} bytes)`,
      );
    }
  }
}

test(`${KILLS} runs SIGKILLed at random moments: the next run succeeds and leaves nothing behind`, { timeout: 900_000 }, async () => {
  let seen = 0;
  const started = Date.now();
  for (let i = 0; i < KILLS; i++) {
    const child = startCli(['backup'], work.env);
    const log = collect(child);
    const exited = once(child, 'exit');
    try {
      await waitFor(() => /backup started/.test(log()) || child.exitCode !== null, 90_000, 'the run to start', log);
      await new Promise((r) => setTimeout(r, randomInt(0, 1500)));
    } finally {
      child.kill('SIGKILL');
    }
    await exited;
    if (process.env.CRASH_DEBUG) console.log(`kill ${i + 1} at ${Date.now() - started} ms`);
    const left = leftovers();
    seen += Object.values(left).reduce((n, l) => n + l.length, 0);
    assertNoPartialUnderFinalName(`after kill ${i + 1}`);
  }
  // the kills did leave something behind (else this test would prove nothing)
  assert.ok(seen > 0, 'the killed runs left temporary files');

  const loopMs = Date.now() - started;
  // not runCli: the WebDAV server runs in this process and must keep answering
  const child = startCli(['backup'], { ...work.env, LOCK_TIMEOUT: '0s' });
  const log = collect(child);
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, `the run after the kills succeeds at once\n${log()}`);
  assert.deepEqual(leftovers(), { local: [], tmp: [], sftp: [], webdav: [] }, `nothing is left behind\n${log()}`);
  console.log(`${KILLS} kills in ${loopMs} ms, ${seen} leftovers seen between runs, all removed`);
  assertNoPartialUnderFinalName('after the recovery run');
  assert.equal(existsSync(work.env.OFFSITE_LOCK_FILE!), false, 'the lock is released');
});

test('daemon: SIGTERM mid-run exits within OFFSITE_STOP_TIMEOUT with nothing partial under a final name', { timeout: 300_000 }, async () => {
  const child = startCli(['daemon'], { ...work.env, BACKUP_CRON_EXPRESSION: '* * * * * *' });
  const log = collect(child);
  const exited = once(child, 'exit');
  try {
    await waitFor(() => /backup started/.test(log()), 90_000, 'a run to start', log);
    await new Promise((r) => setTimeout(r, randomInt(100, 1000)));
    const t0 = Date.now();
    child.kill('SIGTERM');
    const [code] = await exited;
    const ms = Date.now() - t0;
    assert.ok(ms <= STOP_MS + 1500, `exited ${ms} ms after SIGTERM (bound ${STOP_MS} ms)\n${log()}`);
    assert.equal(code, 0, log());
  } finally {
    child.kill('SIGKILL');
  }
  assertNoPartialUnderFinalName('after the daemon stopped');
  assert.equal(existsSync(work.env.OFFSITE_LOCK_FILE!), false, 'the lock is released');
  const left = leftovers();
  assert.deepEqual({ local: left.local, tmp: left.tmp }, { local: [], tmp: [] }, log());
});
