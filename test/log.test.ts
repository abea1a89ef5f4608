/** The process logger masks secrets everywhere, including inside error objects, and never drops an error's message. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/log.ts';
import { registerSecret } from '../src/redact.ts';

const dir = mkdtempSync(join(tmpdir(), 'offsite-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function capture(fn: (log: ReturnType<typeof createLogger>) => void): string {
  const file = join(dir, `${Math.random().toString(16).slice(2)}.log`);
  const fd = openSync(file, 'w');
  try {
    fn(createLogger({ fd, format: 'json', level: 'debug' }));
  } finally {
    closeSync(fd);
  }
  return readFileSync(file, 'utf8');
}

test('an error nested in a log object keeps its message, with secrets masked', () => {
  const secret = 'nested-err-secret-0815';
  registerSecret(secret);
  const err = Object.assign(new Error(`request to https://u:${secret}@host/x failed`), { code: 'ECONNRESET' });
  const out = capture((log) => {
    log.error({ err, destination: 'S3' }, 'upload failed');
    log.warn({ detail: { cause: err } }, 'nested deeper');
    log.error(err);
  });
  assert.ok(!out.includes(secret), out);
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
  assert.match(lines[0]!.err.message, /request to https:\/\/u:\*\*\*@host\/x failed/);
  assert.equal(lines[0]!.err.code, 'ECONNRESET');
  assert.match(lines[1]!.detail.cause.message, /failed/);
  assert.match(JSON.stringify(lines[2]), /request to/);
});
