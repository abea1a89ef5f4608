// Deprecated variables offen still reads (cmd/backup/config.go resolve()): read the same way,
// each with a warning; DOCKER_API_VERSION reaches the Docker client.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';
import { connectDocker } from '../../src/containers/docker.ts';

function load(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-deprecated-'));
  mkdirSync(join(dir, 'conf.d'));
  return loadConfig({ env: { OFFSITE_CONF_DIR: join(dir, 'conf.d'), ...env }, cwd: dir });
}

function issues(env: Record<string, string>) {
  try {
    load(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.issues;
  }
  assert.fail('expected a configuration error');
}

describe('deprecated variables', () => {
  test('BACKUP_STOP_CONTAINER_LABEL is the stop label, with a warning', () => {
    const j = load({ BACKUP_STOP_CONTAINER_LABEL: 'nightly' }).jobs[0]!;
    assert.equal(j.containers.stopLabel, 'nightly');
    assert.match(j.warnings.join('\n'), /BACKUP_STOP_CONTAINER_LABEL is deprecated.*BACKUP_STOP_DURING_BACKUP_LABEL=nightly/);
    assert.equal(load({}).jobs[0]!.containers.stopLabel, 'true');
    assert.deepEqual(load({}).jobs[0]!.warnings, []);
  });

  test('BACKUP_STOP_CONTAINER_LABEL with BACKUP_STOP_DURING_BACKUP_LABEL is an error (as in offen)', () => {
    const i = issues({ BACKUP_STOP_CONTAINER_LABEL: 'a', BACKUP_STOP_DURING_BACKUP_LABEL: 'b' });
    assert.deepEqual(
      i.map((x) => x.variable),
      ['BACKUP_STOP_CONTAINER_LABEL'],
    );
  });

  test('BACKUP_FROM_SNAPSHOT is read, with a warning saying what offsite does', () => {
    const j = load({ BACKUP_FROM_SNAPSHOT: 'true' }).jobs[0]!;
    assert.match(j.warnings.join('\n'), /BACKUP_FROM_SNAPSHOT is deprecated.*copies the sources into BACKUP_TMP_DIR .*archives the copy/);
    assert.deepEqual(load({ BACKUP_FROM_SNAPSHOT: 'false' }).jobs[0]!.warnings, []);
    assert.deepEqual(
      issues({ BACKUP_FROM_SNAPSHOT: 'sometimes' }).map((x) => x.variable),
      ['BACKUP_FROM_SNAPSHOT'],
    );
  });

  test('DOCKER_API_VERSION: checked, and every request of the client goes to /v1.xx/', async () => {
    assert.equal(load({ DOCKER_API_VERSION: '1.41' }).jobs[0]!.containers.dockerApiVersion, 'v1.41');
    assert.equal(load({ DOCKER_API_VERSION: 'v1.44' }).jobs[0]!.containers.dockerApiVersion, 'v1.44');
    assert.equal(load({}).jobs[0]!.containers.dockerApiVersion, '');
    assert.deepEqual(
      issues({ DOCKER_API_VERSION: 'latest' }).map((x) => x.variable),
      ['DOCKER_API_VERSION'],
    );

    const dir = mkdtempSync(join(tmpdir(), 'offsite-docker-'));
    const socketPath = join(dir, 'docker.sock');
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('OK');
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    try {
      await connectDocker({ kind: 'unix', socketPath }, 'v1.41').ping();
      await connectDocker({ kind: 'unix', socketPath }).ping();
    } finally {
      server.close();
    }
    assert.deepEqual(seen, ['/v1.41/_ping', '/_ping']);
  });
});

test('the warnings are logged at start-up and printed by print-config', async () => {
  const { isolatedEnv, runCli } = await import('../helpers/cli.ts');
  const { env } = isolatedEnv({ BACKUP_FROM_SNAPSHOT: 'true', BACKUP_STOP_CONTAINER_LABEL: 'x' });
  const p = runCli(['print-config'], env);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /^warning:BACKUP_STOP_CONTAINER_LABEL is deprecated/m);
  assert.match(p.stdout, /^warning:BACKUP_FROM_SNAPSHOT is deprecated/m);
  const c = runCli(['config'], env);
  assert.equal(c.code, 0, c.stderr);
  const warned = (c.stdout + c.stderr).split('\n').filter((l) => l.includes('"level":40'));
  assert.equal(warned.filter((l) => l.includes('is deprecated')).length, 2, c.stdout + c.stderr);
});
