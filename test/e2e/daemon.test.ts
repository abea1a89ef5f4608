import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { once } from 'node:events';
import { isolatedEnv, startCli, runCli, collect, waitFor } from '../helpers/cli.ts';
import { isLocalTempName } from '../../src/destinations/local.ts';

test('daemon: a schedule every second produces at least two archives, SIGTERM exits 0', async (t) => {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'a');
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const child = startCli(['daemon'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_CRON_EXPRESSION: '* * * * * *' });
  const log = collect(child);
  t.after(() => {
    child.kill('SIGKILL');
  });
  const archives = () => readdirSync(archiveDir).filter((n) => /^backup-.*\.tar\.gz$/.test(n));
  await waitFor(() => archives().length >= 2, 20_000, 'two archives', log);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, log());
  assert.match(log(), /job scheduled/);
  assert.deepEqual(
    readdirSync(archiveDir).filter((n) => n.startsWith('.')),
    [],
    'no temporary files left',
  );
});

test('daemon: SIGTERM during a run leaves no partial file and exits 0', async (t) => {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  // enough incompressible data that the run is still going when the signal arrives
  const fd = openSync(join(src, 'big.bin'), 'w');
  for (let i = 0; i < 48; i++) writeSync(fd, randomBytes(4 << 20));
  closeSync(fd);
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const child = startCli(['daemon'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_CRON_EXPRESSION: '* * * * * *' });
  const log = collect(child);
  t.after(() => {
    child.kill('SIGKILL');
  });
  await waitFor(() => readdirSync(archiveDir).some(isLocalTempName), 20_000, 'a temporary file', log);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, log());
  assert.deepEqual(readdirSync(archiveDir), [], `nothing may remain after an aborted run:\n${log()}`);
});

test('daemon: healthcheck fails with one readable line while every scheduled run fails, and passes once runs succeed', async (t) => {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'a');
  // nothing listens on port 9: every upload is refused
  const failing = {
    ...env,
    BACKUP_SOURCES: src,
    BACKUP_CRON_EXPRESSION: '* * * * * *',
    BACKUP_RETRY_ATTEMPTS: '1',
    AWS_S3_BUCKET_NAME: 'bucket',
    AWS_ENDPOINT: '127.0.0.1:9',
    AWS_ENDPOINT_PROTO: 'http',
    AWS_ACCESS_KEY_ID: 'AKIAHEALTHTEST',
    AWS_SECRET_ACCESS_KEY: 'health-secret-value',
  };
  const child = startCli(['daemon'], failing);
  const log = collect(child);
  t.after(() => {
    child.kill('SIGKILL');
  });
  const health = () => runCli(['healthcheck'], env);
  await waitFor(() => /backup failed/.test(log()), 30_000, 'a failed run', log);
  await waitFor(() => health().code !== 0 && /last run failed/.test(health().stderr), 10_000, 'an unhealthy healthcheck', log);
  const h = health();
  assert.equal(h.code, 1, h.stderr);
  const lines = h.stderr.trim().split('\n');
  assert.equal(lines.length, 1, h.stderr);
  assert.match(lines[0]!, /^unhealthy: failing: default: last run failed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: .*ECONNREFUSED/);
  assert.doesNotMatch(h.stderr, /health-secret-value/);
  child.kill('SIGTERM');
  await once(child, 'exit');

  // after a restart the failure is remembered (OFFSITE_STATE_DIR), until a run succeeds
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const good = startCli(['daemon'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_CRON_EXPRESSION: '@every 8s' });
  const log2 = collect(good);
  t.after(() => {
    good.kill('SIGKILL');
  });
  await waitFor(() => /job scheduled/.test(log2()), 10_000, 'the second daemon', log2);
  const remembered = health();
  assert.equal(remembered.code, 1, `${remembered.stderr}\n${log2()}`);
  assert.match(remembered.stderr, /last run failed/);
  await waitFor(
    () => health().code === 0,
    30_000,
    'a healthy healthcheck',
    () => `${log2()}\n${health().stderr}`,
  );
  assert.match(health().stdout, /^ok: default: last run succeeded at /);
  good.kill('SIGTERM');
  await once(good, 'exit');
  // the daemon is gone: unhealthy, in words
  const gone = health();
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^unhealthy: the daemon \(pid \d+\) is not running any more/);
  assert.doesNotMatch(gone.stderr, /ESRCH/);
});
