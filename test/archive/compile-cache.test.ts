import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

test('the archive worker uses the compile cache directory of the process, not a second one nested in it', () => {
  const { dir, env } = isolatedEnv();
  const data = join(dir, 'data');
  mkdirSync(data);
  mkdirSync(join(dir, 'archive'));
  writeFileSync(join(data, 'a.txt'), 'a');
  const cache = mkdtempSync(join(tmpdir(), 'offsite-compile-cache-'));
  const r = runCli(['backup'], { ...env, BACKUP_SOURCES: data, BACKUP_ARCHIVE: join(dir, 'archive'), NODE_COMPILE_CACHE: cache });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const versions = readdirSync(cache);
  assert.equal(versions.length, 1, `one version directory: ${versions.join(', ')}`);
  const nested = readdirSync(join(cache, versions[0]!)).filter((n) => /^v\d+\./.test(n));
  assert.deepEqual(nested, [], 'no version directory inside the version directory');
});
