// The control plane's configuration at start: a short BACKUP_KEY is a configuration error
// (exit 2, the key never printed); an HTTP port that is taken stops the daemon with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';

function setup(extra: Record<string, string>) {
  const { dir, env } = isolatedEnv();
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'archive'));
  return { ...env, BACKUP_SOURCES: join(dir, 'src'), BACKUP_ARCHIVE: join(dir, 'archive'), ...extra };
}

test('BACKUP_KEY shorter than 20 characters: configuration error, exit 2, the key not printed', async () => {
  const r = await runCliAsync(['daemon'], setup({ BACKUP_KEY: 'tooshort-secret', OFFSITE_HTTP_ADDR: '127.0.0.1:0' }));
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /BACKUP_KEY: is 15 characters long; it must be at least 20/);
  assert.ok(!r.out.includes('tooshort-secret'));
});

test('an OFFSITE_HTTP_ADDR whose port is taken stops the daemon with an error naming the variable', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const r = await runCliAsync(['daemon'], setup({ OFFSITE_HTTP_ADDR: `127.0.0.1:${port}` }));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(OFFSITE_HTTP_ADDR\\): .*EADDRINUSE`));
  } finally {
    blocker.close();
  }
});
