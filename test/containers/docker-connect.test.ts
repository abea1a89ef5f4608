// DOCKER_HOST over TCP, plain and with Docker's TLS variables (client
// certificates from DOCKER_CERT_PATH, server verified with DOCKER_TLS_VERIFY).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunHooks } from '../../src/containers/hooks.ts';
import { UserError } from '../../src/errors.ts';
import { DockerFake } from '../servers/docker-fake.ts';
import { captureLogger, ctxFor, jobFrom, newStats } from './helpers.ts';

const STOP = 'docker-volume-backup.stop-during-backup';
let dir: string;

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's docs lay them out. */
function makeCerts(d: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca-key.pem', '-out', 'ca.pem');
  writeFileSync(join(d, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server-key.pem', '-out', 'server.csr');
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'server.ext',
    '-out',
    'server-cert.pem',
  );
  writeFileSync(join(d, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=client', '-keyout', 'key.pem', '-out', 'client.csr');
  ssl(
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'client.ext',
    '-out',
    'cert.pem',
  );
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'offsite-dockertls-'));
  makeCerts(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function stopAndStart(fake: DockerFake, env: Record<string, string>): Promise<void> {
  const hooks = await createRunHooks(jobFrom(env), captureLogger().log);
  const stats = newStats();
  await hooks.archivePre(ctxFor(stats));
  assert.equal(fake.container('db').State, 'exited');
  await hooks.archivePost(ctxFor(stats));
  assert.equal(fake.container('db').State, 'running');
  assert.equal(stats.containersStopped, 1);
  assert.equal(stats.containersRestarted, 1);
}

describe('DOCKER_HOST over TCP', () => {
  it('plain tcp://', async () => {
    const fake = await DockerFake.start({ tcp: true });
    try {
      fake.addContainer({ name: 'db', labels: { [STOP]: 'true' } });
      await stopAndStart(fake, { DOCKER_HOST: `tcp://127.0.0.1:${fake.port}` });
    } finally {
      await fake.close();
    }
  });

  it('TLS with DOCKER_CERT_PATH and DOCKER_TLS_VERIFY', async () => {
    const fake = await DockerFake.start({
      tls: { key: readFileSync(join(dir, 'server-key.pem')), cert: readFileSync(join(dir, 'server-cert.pem')), ca: readFileSync(join(dir, 'ca.pem')) },
    });
    try {
      fake.addContainer({ name: 'db', labels: { [STOP]: 'true' } });
      await stopAndStart(fake, { DOCKER_HOST: `tcp://127.0.0.1:${fake.port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir });

      // without the client certificate the daemon refuses the connection
      const hooks = await createRunHooks(jobFrom({ DOCKER_HOST: `tcp://127.0.0.1:${fake.port}`, DOCKER_TLS_VERIFY: '1' }), captureLogger().log);
      await assert.rejects(hooks.archivePre(ctxFor(newStats())), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, /Docker at https:\/\/127\.0\.0\.1:\d+ failed/);
        return true;
      });
    } finally {
      await fake.close();
    }
  });

  it('a missing DOCKER_CERT_PATH fails the run before archiving, with the path', async () => {
    const hooks = await createRunHooks(
      jobFrom({ DOCKER_HOST: 'tcp://127.0.0.1:1', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(dir, 'nope') }),
      captureLogger().log,
    );
    await assert.rejects(hooks.archivePre(ctxFor(newStats())), /cannot read the Docker TLS files in .*nope/);
  });
});
