import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

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

// ssh2 builds its native crypto binding at `npm ci` where a C++ toolchain is (the image's build
// stage; this machine). Built against the wrong Node's headers it does not load and ssh2 quietly
// uses its JavaScript ciphers (~30 % more CPU per SFTP upload): .ci/node.sh points npm at Node 24's
// headers, and scripts/bundle.ts copies the binding into the bundle.
const toolchain = ['g++', 'make', 'python3'].every((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);
test(
  "ssh2's native crypto binding is built for this Node and loads",
  { skip: toolchain ? false : 'no C++ toolchain (g++, make, python3) on PATH: `npm ci` cannot build the binding here' },
  () => {
    const crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as { bindingAvailable: boolean };
    assert.equal(crypto.bindingAvailable, true, 'ssh2 runs without its crypto binding: run `. .ci/node.sh && npm rebuild ssh2`');
  },
);
