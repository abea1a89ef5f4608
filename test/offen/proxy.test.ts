// Translated from offen/docker-volume-backup test/proxy (01compose.sh, 02swarm.sh,
// docker-compose.yml, docker-compose.swarm.yml): offsite reaches Docker only through a Docker
// socket proxy (tecnativa/docker-socket-proxy 0.1, DOCKER_HOST tcp://docker_socket_proxy:2375)
// that allows INFO and CONTAINERS (compose) or also SERVICES, TASKS and NODES (Swarm), and
// POST. The backup of the `pg` volume, whose container (compose) or service (Swarm) carries
// docker-volume-backup.stop-during-backup=true, writes /archive/test.tar.gz and every
// container runs again afterwards (expect_running_containers); with POST=0 stopping is
// refused and `backup` exits non-zero. The proxy is HAProxy with that image's policy
// (test/servers/docker-socket-proxy.ts) in front of the Docker Engine API stand-in
// (test/servers/docker-fake.ts, which records each request), as no Docker engine runs here;
// `docker compose up -d` with ALLOW_POST=0 becomes a new proxy with POST=0. pg's data is a
// directory <tmp>/backup/pg_data, /archive a directory <tmp>/local. Beyond offen's assertions:
// the refused run reports the refusal once, readable (not the proxy's HTML page), with a hint,
// and does not claim to start again a container (or scale back a service) it never stopped.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerFake } from '../servers/docker-fake.ts';
import { startSocketProxy, type SocketProxy } from '../servers/docker-socket-proxy.ts';
import { isolatedEnv } from '../helpers/cli.ts';
import { cli } from './destination-scenario.ts';

const STOP = { 'docker-volume-backup.stop-during-backup': 'true' };
let fake: DockerFake;
const cleanups: (() => Promise<void> | void)[] = [];
before(async () => {
  fake = await DockerFake.start();
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await fake?.close();
});

function setup() {
  const { dir, env } = isolatedEnv();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'backup', 'pg_data'), { recursive: true });
  writeFileSync(join(dir, 'backup', 'pg_data', 'PG_VERSION'), '14\n');
  mkdirSync(join(dir, 'local'));
  return {
    dir,
    env: (proxy: SocketProxy) => ({
      ...env,
      BACKUP_FILENAME: 'test.tar.gz',
      BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
      DOCKER_HOST: proxy.dockerHost,
      BACKUP_SOURCES: join(dir, 'backup'),
      BACKUP_ARCHIVE: join(dir, 'local'),
    }),
  };
}

async function proxy(allow: Record<string, string>): Promise<SocketProxy> {
  const p = await startSocketProxy(fake.socketPath, allow);
  cleanups.push(() => p.stop());
  return p;
}

const running = () => [...fake.containers.values()].filter((c) => c.State === 'running').length;

describe('offen test/proxy', () => {
  test('01compose: through the proxy the labelled container is stopped and started, test.tar.gz written; with POST=0 the run fails', async () => {
    fake.swarm = 'inactive';
    for (const name of ['test_backup_1', 'test_docker_socket_proxy_1']) fake.addContainer({ name });
    const pg = fake.addContainer({ name: 'test_pg_1', labels: STOP });
    const { dir, env } = setup();

    const allowed = await proxy({ INFO: '1', CONTAINERS: '1', POST: '1' });
    const ok = await cli(['backup'], env(allowed));
    assert.equal(ok.code, 0, ok.out + allowed.log());
    assert.ok(existsSync(join(dir, 'local', 'test.tar.gz')), 'Archive was not created');
    assert.equal(running(), 3, 'Expected 3 containers to be running');
    const posts = fake.calls.filter((c) => c.method === 'POST').map((c) => `${c.path} ${c.status}`);
    assert.deepEqual(posts, [`/containers/${pg}/stop 204`, `/containers/${pg}/start 204`], 'pg was stopped during the backup, through the proxy');
    await allowed.stop();

    const before = fake.calls.length;
    const denied = await proxy({ INFO: '1', CONTAINERS: '1', POST: '0' });
    const refused = await cli(['backup'], env(denied));
    assert.notEqual(refused.code, 0, `Expected invocation to exit non-zero.\n${refused.out}`);
    assert.ok(!fake.calls.slice(before).some((c) => c.method === 'POST'), 'no POST reached the engine');
    assert.equal(running(), 3, 'nothing was stopped');
    // the refusal is reported once, as text, with what the proxy must allow; a container that was
    // never stopped is not "started again" (which the proxy would refuse too: a second, false error)
    assert.match(refused.out, /could not stop container test_pg_1: \(HTTP code 403\) unexpected - 403 Forbidden Request forbidden by administrative rules\./);
    assert.match(refused.out, /socket proxy in front of it \(DOCKER_HOST\) must allow POST and CONTAINERS/);
    assert.doesNotMatch(refused.out, /<html>|could not start container/);
    for (const id of [...fake.containers.keys()]) fake.containers.delete(id);
  });

  test('02swarm: through the proxy the labelled service is scaled down and up, test.tar.gz written; with POST=0 the run fails', async () => {
    fake.swarm = 'manager';
    fake.calls.length = 0;
    const pg = fake.addService({ name: 'test_stack_pg', labels: STOP, replicas: 1 });
    const { dir, env } = setup();
    const allow = { INFO: '1', CONTAINERS: '1', SERVICES: '1', TASKS: '1', NODES: '1' };

    const allowed = await proxy({ ...allow, POST: '1' });
    const ok = await cli(['backup'], env(allowed));
    assert.equal(ok.code, 0, ok.out + allowed.log());
    assert.ok(existsSync(join(dir, 'local', 'test.tar.gz')), 'Archive was not created');
    const replicas = fake.calls
      .filter((c) => c.method === 'POST' && c.path === `/services/${pg}/update`)
      .map((c) => (c.body as { Mode: { Replicated: { Replicas: number } } }).Mode.Replicated.Replicas);
    assert.deepEqual(replicas, [0, 1], 'pg was scaled down during the backup and back up, through the proxy');
    assert.equal(fake.runningTasks(pg), 1, 'the service runs again');
    await allowed.stop();

    const before = fake.calls.length;
    const denied = await proxy({ ...allow, POST: '0' });
    const refused = await cli(['backup'], env(denied));
    assert.notEqual(refused.code, 0, `Expected invocation to exit non-zero.\n${refused.out}`);
    assert.ok(!fake.calls.slice(before).some((c) => c.method === 'POST'), 'no POST reached the engine');
    assert.equal(fake.runningTasks(pg), 1, 'nothing was scaled down');
    assert.match(refused.out, /could not scale Swarm service test_stack_pg to 0: \(HTTP code 403\) unexpected - 403 Forbidden/);
    assert.match(refused.out, /socket proxy in front of it \(DOCKER_HOST\) must allow POST, SERVICES and TASKS/);
    assert.doesNotMatch(refused.out, /<html>|could not scale Swarm service test_stack_pg back/);
  });
});
