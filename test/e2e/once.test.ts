/**
 * A failure is printed once, with the hint naming the variable to check: `offsite backup`
 * as a process, on a terminal (a pseudo-terminal through script(1)) and as JSON logs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, isolatedEnv, runCli } from '../helpers/cli.ts';
import { startS3rver } from '../servers/s3rver.ts';

const s3 = await startS3rver({ buckets: ['once-bucket'] });
after(() => s3.close());

const count = (text: string, needle: string) => text.split(needle).length - 1;
// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

function setup(extra: Record<string, string>) {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'a');
  return { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: '', BACKUP_RETRY_ATTEMPTS: '1', ...extra };
}

const hasScript = spawnSync('script', ['--version']).status === 0;

test(
  'on a terminal: a refused S3 key is printed once, with a hint naming AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY',
  { skip: !hasScript && 'script(1) is not installed' },
  () => {
    const env = setup({
      AWS_S3_BUCKET_NAME: 'once-bucket',
      AWS_ENDPOINT: `127.0.0.1:${s3.port}`,
      AWS_ENDPOINT_PROTO: 'http',
      AWS_ACCESS_KEY_ID: 'NOTAKNOWNKEY',
      AWS_SECRET_ACCESS_KEY: 'not-the-secret-key',
    });
    delete (env as Record<string, string>).LOG_FORMAT; // readable logs, as a user at a terminal gets them
    const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} backup`, '/dev/null'], { env, encoding: 'utf8', timeout: 120_000 });
    const out = plain(`${r.stdout}${r.stderr}`);
    assert.equal(r.status, 1, out);
    const m = /error: (.*InvalidAccessKeyId.*|.*403.*|.*[Aa]ccess [Kk]ey.*)/.exec(out);
    assert.ok(m, `the error is shown:\n${out}`);
    // the distinctive part of the error text, whatever its wording
    const key = /InvalidAccessKeyId|AWS Access Key Id you provided does not exist|403/.exec(m[1]!)![0];
    assert.equal(count(out, key), 1, `"${key}" printed ${count(out, key)} times:\n${out}`);
    assert.match(out, /hint: S3: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
    assert.equal(count(out, 'hint:'), 1, out);
  },
);

test('as JSON logs: an unreachable endpoint is logged once, with a hint naming AWS_ENDPOINT', () => {
  const env = setup({
    AWS_S3_BUCKET_NAME: 'b',
    AWS_ENDPOINT: '127.0.0.1:9',
    AWS_ENDPOINT_PROTO: 'http',
    AWS_ACCESS_KEY_ID: 'AKIAONCETEST',
    AWS_SECRET_ACCESS_KEY: 'once-secret-value',
  });
  const r = runCli(['backup'], env);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 1, out);
  assert.equal(count(out, 'ECONNREFUSED'), 1, out);
  const failed = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => String(l.msg).startsWith('backup failed'));
  assert.ok(failed, out);
  assert.match(String(failed.msg), /ECONNREFUSED/);
  assert.match(JSON.stringify(failed.hints), /AWS_ENDPOINT/);
});
