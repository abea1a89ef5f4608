// SIGTERM in the middle of the archive phase, through the real CLI (offsite backup
// and offsite daemon) talking to the Docker fake: every stopped container is
// started again, dependencies first, before the process exits.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { isolatedEnv, startCli } from '../helpers/cli.ts';
import { isLocalTempName } from '../../src/destinations/local.ts';
import { DockerFake } from '../servers/docker-fake.ts';
import { archiveAvailable, collect, NO_ARCHIVE, waitFor } from './e2e-helpers.ts';

const skip = (await archiveAvailable()) ? false : NO_ARCHIVE;
const STOP = 'docker-volume-backup.stop-during-backup';

let fake: DockerFake;
let dir: string;
let env: Record<string, string>;

beforeEach(async () => {
  fake = await DockerFake.start();
  fake.addContainer({ name: 'db', labels: { 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'db', [STOP]: 'true' } });
  fake.addContainer({
    name: 'app',
    labels: {
      'com.docker.compose.project': 'p',
      'com.docker.compose.service': 'app',
      'com.docker.compose.depends_on': 'db:service_started:false',
      [STOP]: 'true',
    },
  });
  fake.addContainer({ name: 'bystander' });
  ({ dir, env } = isolatedEnv());
  const src = join(dir, 'src');
  mkdirSync(src);
  // incompressible data, so the archive phase is still going when the signal arrives
  const fd = openSync(join(src, 'big.bin'), 'w');
  for (let i = 0; i < 40; i++) writeSync(fd, randomBytes(4 << 20));
  closeSync(fd);
  mkdirSync(join(dir, 'archive'));
  env = { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: join(dir, 'archive'), DOCKER_HOST: `unix://${fake.socketPath}` };
});
afterEach(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

const names = (re: RegExp) => fake.callsTo('POST', re).map((c) => fake.nameOf(c.path));

async function sigtermMidArchive(args: string[], extra: Record<string, string>): Promise<{ code: number | null; log: string }> {
  const child = startCli(args, { ...env, ...extra });
  const log = collect(child);
  const archiveDir = join(dir, 'archive');
  // the local copy's temporary file appears while the archive is being written
  await waitFor(() => readdirSync(archiveDir).some(isLocalTempName), 20_000, 'the archive phase', log);
  assert.equal(fake.container('db').State, 'exited', 'db is stopped during the archive phase');
  assert.equal(fake.container('app').State, 'exited');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  return { code: code as number | null, log: log() };
}

test('offsite backup: SIGTERM mid-archive still restarts the stopped containers', { skip }, async () => {
  const { code, log } = await sigtermMidArchive(['backup'], {});
  assert.equal(code, 1, log);
  assert.deepEqual(names(/^\/containers\/[^/]+\/stop$/), ['app', 'db']);
  assert.deepEqual(names(/^\/containers\/[^/]+\/start$/), ['db', 'app'], log);
  assert.equal(fake.container('db').State, 'running');
  assert.equal(fake.container('app').State, 'running');
  assert.equal(fake.container('bystander').State, 'running');
  assert.deepEqual(readdirSync(join(dir, 'archive')), [], 'no partial archive is left');
  assert.match(log, /aborted/);
});

test('offsite daemon: SIGTERM mid-archive still restarts the stopped containers', { skip }, async () => {
  const { code, log } = await sigtermMidArchive(['daemon'], { BACKUP_CRON_EXPRESSION: '* * * * * *' });
  assert.equal(code, 0, log);
  assert.deepEqual(names(/^\/containers\/[^/]+\/stop$/), ['app', 'db']);
  assert.deepEqual(names(/^\/containers\/[^/]+\/start$/), ['db', 'app'], log);
  assert.equal(fake.container('db').State, 'running');
  assert.equal(fake.container('app').State, 'running');
});
