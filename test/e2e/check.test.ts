/**
 * `offsite check` and the daemon's check at start: each destination is reachable, accepts
 * the credentials and takes a probe file (written and removed). One line per destination,
 * exit 1 when one fails; the daemon warns and keeps running.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { isolatedEnv, runCli, startCli } from '../helpers/cli.ts';
import { startS3rver, S3RVER_CREDENTIALS } from '../servers/s3rver.ts';

const s3 = await startS3rver({ buckets: ['check-bucket'] });
after(() => s3.close());

function setup(extra: Record<string, string>) {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'a');
  const archive = join(dir, 'archive');
  mkdirSync(archive);
  return { archive, env: { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archive, BACKUP_RETRY_ATTEMPTS: '1', ...extra } };
}

const s3env = (key: string, secret: string) => ({
  AWS_S3_BUCKET_NAME: 'check-bucket',
  AWS_ENDPOINT: `127.0.0.1:${s3.port}`,
  AWS_ENDPOINT_PROTO: 'http',
  AWS_ACCESS_KEY_ID: key,
  AWS_SECRET_ACCESS_KEY: secret,
});

test('check: every destination passes, one line each, the probe files are gone', () => {
  const { archive, env } = setup(s3env(S3RVER_CREDENTIALS.accessKeyId, S3RVER_CREDENTIALS.secretAccessKey));
  const r = runCli(['check'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2, r.stdout);
  assert.match(lines[0]!, /^ok {4}Local .*archive \(\d+\.\ds\)$/);
  assert.match(lines[1]!, /^ok {4}S3 s3:\/\/check-bucket\/ \(\d+\.\ds\)$/);
  assert.deepEqual(readdirSync(archive), [], 'the Local probe was removed');
  assert.deepEqual(
    readdirSync(join(s3.directory, 'check-bucket')).filter((n) => !n.startsWith('.') || n.includes('offsite-check')),
    [],
    'the S3 probe was removed',
  );
});

test('check: refused credentials fail with the variable to check, exit 1', () => {
  const { env } = setup(s3env('NOTAKNOWNKEY', 'not-the-secret-key'));
  const r = runCli(['check'], env);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok {4}Local /m);
  assert.match(r.stdout, /^FAIL {2}S3 s3:\/\/check-bucket\/: .+\n {6}hint: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/m);
  assert.match(r.stderr, /1 of 2 destinations failed the check/);
  assert.doesNotMatch(r.stdout + r.stderr, /not-the-secret-key/);
});

test('check --help does nothing else', () => {
  const { env } = setup({});
  const r = runCli(['check', '--help'], env);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /probe file/);
});

test("daemon: logs each job's destinations at start, warns about one that fails the check, keeps running", async (t) => {
  const { env } = setup({
    AWS_S3_BUCKET_NAME: 'b',
    AWS_ENDPOINT: '127.0.0.1:9',
    AWS_ENDPOINT_PROTO: 'http',
    AWS_ACCESS_KEY_ID: 'AKIACHECK',
    AWS_SECRET_ACCESS_KEY: 'check-secret-value',
    BACKUP_CRON_EXPRESSION: '0 0 1 1 *',
  });
  const child = startCli(['daemon'], env);
  t.after(() => {
    child.kill('SIGKILL');
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const end = Date.now() + 60_000;
  while (!/destination check failed: S3/.test(out)) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`no failed check logged:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const lines = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const stores = lines.find((l) => /stores its backups on/.test(String(l.msg)));
  assert.ok(stores, out);
  assert.match(String(stores.msg), /Local .*archive, S3 s3:\/\/b\//);
  const failed = lines.find((l) => /destination check failed: S3/.test(String(l.msg)))!;
  assert.equal(failed.level, 40, 'a warning');
  assert.match(String(failed.msg), /ECONNREFUSED/);
  assert.match(String(failed.hint), /AWS_ENDPOINT/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(child.exitCode, null, 'the daemon keeps running');
  assert.doesNotMatch(out, /check-secret-value/);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, out);
});
