// A signal ends a run within OFFSITE_STOP_TIMEOUT, through the real CLI: during an SFTP
// connect to a server that accepts and never speaks SSH, during an upload to a server that
// stops reading, a second signal, and the daemon mid-run. After each: the process is gone
// within the bound, the lock file is released, no temporary or staged file is left, nothing
// partial carries a final name, and the run is reported failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { once } from 'node:events';
import { isolatedEnv, runCli, startCli, collect, waitFor } from '../helpers/cli.ts';

/** Accepts connections and never answers (never speaks SSH / HTTP); reads and drops what it gets unless `stall`. */
async function silentServer(opts: { stall?: boolean } = {}): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    // stall: read the request head, then never read again (the sender's buffers fill up)
    if (opts.stall) s.once('data', () => s.pause());
    else s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const STOP_MS = 4000;
/** Process start-up and scheduling noise on a loaded 2-core machine, on top of the bound. */
const SLACK_MS = 1500;

function setup(extra: Record<string, string> = {}) {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'data.bin'), randomBytes(2 << 20));
  const archive = join(dir, 'archive');
  mkdirSync(archive);
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  return {
    dir,
    archive,
    tmp,
    lockFile: env.OFFSITE_LOCK_FILE!,
    env: {
      ...env,
      BACKUP_SOURCES: src,
      BACKUP_ARCHIVE: archive,
      BACKUP_TMP_DIR: tmp,
      OFFSITE_STOP_TIMEOUT: `${STOP_MS / 1000}s`,
      BACKUP_DESTINATION_TIMEOUT: '10m',
      ...extra,
    },
  };
}

/** Send `sig` and measure how long the process takes to exit. */
async function stopAndTime(
  child: ReturnType<typeof startCli>,
  sig: NodeJS.Signals = 'SIGTERM',
): Promise<{ code: number | null; signal: string | null; ms: number }> {
  const t0 = Date.now();
  const exited = once(child, 'exit');
  child.kill(sig);
  // a guard so a hanging process fails the test instead of hanging it
  const guard = setTimeout(() => child.kill('SIGKILL'), STOP_MS + 20_000);
  const [code, signal] = await exited;
  clearTimeout(guard);
  return { code: code as number | null, signal: signal as string | null, ms: Date.now() - t0 };
}

function assertClean(s: { archive: string; tmp: string; lockFile: string }, log: string) {
  assert.equal(existsSync(s.lockFile), false, `the lock file is released\n${log}`);
  assert.deepEqual(readdirSync(s.tmp), [], `no staged archive is left in BACKUP_TMP_DIR\n${log}`);
  const left = readdirSync(s.archive);
  assert.deepEqual(
    left.filter((n) => n.startsWith('.')),
    [],
    `no temporary file is left in the local destination\n${log}`,
  );
  // whatever carries a final name is a complete backup (the local copy may have finished before the signal)
  for (const n of left) assert.ok(statSync(join(s.archive, n)).size > 2 << 20, `${n} is complete`);
}

test('SIGTERM during an SFTP connect to a server that never speaks SSH: exits within OFFSITE_STOP_TIMEOUT, clean, reported failed', async (t) => {
  const ssh = await silentServer();
  t.after(() => ssh.close());
  const s = setup({ SSH_HOST_NAME: '127.0.0.1', SSH_PORT: String(ssh.port), SSH_USER: 'u', SSH_PASSWORD: 'p', SSH_REMOTE_PATH: '/backups' });
  const child = startCli(['backup'], s.env);
  const log = collect(child);
  t.after(() => {
    child.kill('SIGKILL');
  });
  await waitFor(() => ssh.connections() > 0, 90_000, 'the SFTP connect', log);
  const r = await stopAndTime(child);
  assert.ok(r.ms <= STOP_MS + SLACK_MS, `exited ${r.ms} ms after SIGTERM (bound ${STOP_MS} ms)\n${log()}`);
  assert.equal(r.code, 1, `the run is reported failed\n${log()}`);
  assert.match(log(), /stopping \(SIGTERM\)/);
  assert.match(log(), /"status":"failure"/);
  assertClean(s, log());
  // the lock is free: the next run starts at once
  const next = runCli(['backup'], { ...s.env, SSH_HOST_NAME: '', LOCK_TIMEOUT: '0s' });
  assert.equal(next.code, 0, next.stdout + next.stderr);
});

test('SIGTERM during an upload to a server that stopped reading: exits within the bound, clean', async (t) => {
  const dav = await silentServer({ stall: true });
  t.after(() => dav.close());
  const s = setup({ WEBDAV_URL: `http://127.0.0.1:${dav.port}`, WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: 'p' });
  const child = startCli(['backup'], s.env);
  const log = collect(child);
  t.after(() => {
    child.kill('SIGKILL');
  });
  await waitFor(() => dav.connections() > 0, 90_000, 'the upload', log);
  await new Promise((r) => setTimeout(r, 500)); // let the upload's buffers fill up
  const r = await stopAndTime(child);
  assert.ok(r.ms <= STOP_MS + SLACK_MS, `exited ${r.ms} ms after SIGTERM (bound ${STOP_MS} ms)\n${log()}`);
  assert.equal(r.code, 1, `the run is reported failed\n${log()}`);
  assertClean(s, log());
});

test('a second signal exits at once, still releasing the lock', async (t) => {
  const dav = await silentServer({ stall: true });
  t.after(() => dav.close());
  const s = setup({ WEBDAV_URL: `http://127.0.0.1:${dav.port}`, WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: 'p', OFFSITE_STOP_TIMEOUT: '120s' });
  const child = startCli(['backup'], s.env);
  const log = collect(child);
  t.after(() => {
    child.kill('SIGKILL');
  });
  await waitFor(() => dav.connections() > 0, 90_000, 'the upload', log);
  child.kill('SIGTERM');
  await waitFor(() => /stopping \(SIGTERM\)/.test(log()), 5000, 'the first signal to be seen', log);
  const r = await stopAndTime(child, 'SIGINT');
  assert.ok(r.ms <= SLACK_MS + 1000, `exited ${r.ms} ms after the second signal\n${log()}`);
  assert.ok(r.code === 1 || r.signal === 'SIGKILL', `a failure status (${r.code}/${r.signal})\n${log()}`);
  assert.equal(existsSync(s.lockFile), false, `the lock file is released\n${log()}`);
  // the lock is free: the next run starts at once
  const next = runCli(['backup'], { ...s.env, WEBDAV_URL: '', LOCK_TIMEOUT: '0s' });
  assert.equal(next.code, 0, next.stdout + next.stderr);
});

test('daemon: SIGTERM mid-run (SFTP connecting) exits within the bound, clean', async (t) => {
  const ssh = await silentServer();
  t.after(() => ssh.close());
  const s = setup({ SSH_HOST_NAME: '127.0.0.1', SSH_PORT: String(ssh.port), SSH_USER: 'u', SSH_PASSWORD: 'p', BACKUP_CRON_EXPRESSION: '* * * * * *' });
  const child = startCli(['daemon'], s.env);
  const log = collect(child);
  t.after(() => {
    child.kill('SIGKILL');
  });
  // (the daemon's start-up check connects too: wait for a run)
  await waitFor(() => /backup started/.test(log()) && ssh.connections() > 0, 90_000, 'a run connecting to SFTP', log);
  const r = await stopAndTime(child);
  assert.ok(r.ms <= STOP_MS + SLACK_MS, `exited ${r.ms} ms after SIGTERM (bound ${STOP_MS} ms)\n${log()}`);
  assert.equal(r.code, 0, `the daemon stopped as asked\n${log()}`);
  assert.match(log(), /"status":"failure"/, 'the interrupted run is reported failed');
  assertClean(s, log());
});

test('OFFSITE_STOP_TIMEOUT reached: what cannot be cancelled is abandoned; failure status, a log line, lock and staged archive removed', async (t) => {
  const dav = await silentServer({ stall: true });
  t.after(() => dav.close());
  const s = setup({ WEBDAV_URL: `http://127.0.0.1:${dav.port}`, WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: 'p', OFFSITE_STOP_TIMEOUT: '300ms' });
  const child = startCli(['backup'], s.env);
  const log = collect(child);
  t.after(() => {
    child.kill('SIGKILL');
  });
  await waitFor(() => dav.connections() > 0 && readdirSync(s.tmp).length > 0, 90_000, 'the upload from the staged archive', log);
  const r = await stopAndTime(child);
  assert.ok(r.ms <= 300 + SLACK_MS, `exited ${r.ms} ms after SIGTERM (bound 300 ms)\n${log()}`);
  assert.ok(r.code === 1 || r.signal === 'SIGKILL', `a failure status (${r.code}/${r.signal})\n${log()}`);
  assert.match(log(), /did not stop within OFFSITE_STOP_TIMEOUT \(0.3s\): exiting anyway/);
  assert.equal(existsSync(s.lockFile), false, `the lock file is released\n${log()}`);
  assert.deepEqual(readdirSync(s.tmp), [], `the staged archive is removed\n${log()}`);
  // the next run starts at once and removes whatever the abandoned run left in the local destination
  const next = runCli(['backup'], { ...s.env, WEBDAV_URL: '', LOCK_TIMEOUT: '0s' });
  assert.equal(next.code, 0, next.stdout + next.stderr);
  assert.deepEqual(
    readdirSync(s.archive).filter((n) => n.startsWith('.')),
    [],
    next.stdout,
  );
});
