import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

// No Docker engine runs on the build machines: scripts/image-check.sh performs the
// Dockerfile's install and start steps outside Docker and checks the result.
test('the image install and start steps work outside Docker', { timeout: 240_000 }, () => {
  const script = fileURLToPath(new URL('../../scripts/image-check.sh', import.meta.url));
  const r = spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  assert.equal(r.status, 0, `image-check failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /image-check: ok/);
});

test('the build context leaves out node_modules, .cache and .git, and compose builds the image', () => {
  const script = fileURLToPath(new URL('../../scripts/image-check.sh', import.meta.url));
  const r = spawnSync('bash', [script, '--static'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `image-check --static failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /image-check \(static\): ok/);
});

test('the image does not create /archive or /backup (they are mount points)', () => {
  const dockerfile = readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8');
  const made = dockerfile.split('\n').filter((l) => !l.trim().startsWith('#') && /mkdir/.test(l) && /\s\/(archive|backup)(\s|$)/.test(l));
  assert.deepEqual(made, []);
});
