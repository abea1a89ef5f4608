import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseContainers, parseDockerHost } from '../../src/containers/config.ts';
import { commandArgv } from '../../src/containers/exec.ts';
import { knownVariables, parseJob } from '../../src/config/index.ts';
import type { ConfigIssue } from '../../src/errors.ts';

describe('containers config', () => {
  it('defaults match offen', () => {
    const issues: ConfigIssue[] = [];
    const c = parseContainers({}, issues);
    assert.deepEqual(issues, []);
    assert.deepEqual(c, {
      stopLabel: 'true',
      noRestartLabel: 'true',
      stopServiceTimeoutMs: 300_000,
      execLabel: '',
      execForwardOutput: false,
      docker: null,
      preCommand: '',
      postCommand: '',
      dockerApiVersion: '',
      warnings: [],
    });
  });

  it('reads every variable', () => {
    const issues: ConfigIssue[] = [];
    const c = parseContainers(
      {
        BACKUP_STOP_DURING_BACKUP_LABEL: 'nightly',
        BACKUP_STOP_DURING_BACKUP_NO_RESTART_LABEL: 'once',
        BACKUP_STOP_SERVICE_TIMEOUT: '90s',
        EXEC_LABEL: 'main',
        EXEC_FORWARD_OUTPUT: 'yes',
        DOCKER_HOST: 'unix:///run/user/1000/docker.sock',
        BACKUP_PRE_COMMAND: 'pg_dump > /backup/db.sql',
        BACKUP_POST_COMMAND: 'rm /backup/db.sql',
      },
      issues,
    );
    assert.deepEqual(issues, []);
    assert.equal(c?.stopLabel, 'nightly');
    assert.equal(c?.noRestartLabel, 'once');
    assert.equal(c?.stopServiceTimeoutMs, 90_000);
    assert.equal(c?.execLabel, 'main');
    assert.equal(c?.execForwardOutput, true);
    assert.deepEqual(c?.docker, { kind: 'unix', socketPath: '/run/user/1000/docker.sock' });
    assert.equal(c?.preCommand, 'pg_dump > /backup/db.sql');
    assert.equal(c?.postCommand, 'rm /backup/db.sql');
  });

  it('reports bad values by variable, all at once', () => {
    const issues: ConfigIssue[] = [];
    assert.equal(parseContainers({ BACKUP_STOP_SERVICE_TIMEOUT: '5 minutes', EXEC_FORWARD_OUTPUT: 'maybe', DOCKER_HOST: 'ssh://me@host' }, issues), null);
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['BACKUP_STOP_SERVICE_TIMEOUT', 'DOCKER_HOST', 'EXEC_FORWARD_OUTPUT']);
    assert.match(issues.find((i) => i.variable === 'DOCKER_HOST')!.message, /ssh:\/\/ scheme is not supported/);
  });

  it('DOCKER_HOST forms and Docker TLS variables', () => {
    assert.deepEqual(parseDockerHost('unix:///var/run/docker.sock', '', ''), { kind: 'unix', socketPath: '/var/run/docker.sock' });
    assert.deepEqual(parseDockerHost('tcp://docker:2375', '', ''), { kind: 'tcp', host: 'docker', port: 2375, tls: null });
    assert.deepEqual(parseDockerHost('tcp://10.0.0.5', '', ''), { kind: 'tcp', host: '10.0.0.5', port: 2375, tls: null });
    assert.deepEqual(parseDockerHost('docker-proxy:2375', '', ''), { kind: 'tcp', host: 'docker-proxy', port: 2375, tls: null });
    assert.deepEqual(parseDockerHost('tcp://[::1]:2375', '', ''), { kind: 'tcp', host: '::1', port: 2375, tls: null });
    assert.deepEqual(parseDockerHost('tcp://docker', '1', '/certs'), { kind: 'tcp', host: 'docker', port: 2376, tls: { certPath: '/certs', verify: true } });
    assert.deepEqual(parseDockerHost('tcp://docker:2376', '', ''), { kind: 'tcp', host: 'docker', port: 2376, tls: { certPath: '', verify: false } });
    assert.deepEqual(parseDockerHost('tcp://docker:2376', '0', '/certs'), {
      kind: 'tcp',
      host: 'docker',
      port: 2376,
      tls: { certPath: '/certs', verify: false },
    });
    assert.match(parseDockerHost('unix://relative.sock', '', '') as string, /no absolute socket path/);
    assert.match(parseDockerHost('npipe:////./pipe/docker_engine', '', '') as string, /npipe:\/\/ scheme is not supported/);
  });

  it('is wired into jobs and the X_FILE-capable names', () => {
    const known = knownVariables();
    for (const v of [
      'BACKUP_STOP_DURING_BACKUP_LABEL',
      'BACKUP_STOP_DURING_BACKUP_NO_RESTART_LABEL',
      'BACKUP_STOP_SERVICE_TIMEOUT',
      'EXEC_LABEL',
      'EXEC_FORWARD_OUTPUT',
      'DOCKER_HOST',
      'BACKUP_PRE_COMMAND',
      'BACKUP_POST_COMMAND',
    ]) {
      assert.ok(known.has(v), v);
    }
    const issues: ConfigIssue[] = [];
    const job = parseJob('j', '/etc/dockervolumebackup/conf.d/j.env', { EXEC_LABEL: 'x', BACKUP_STOP_SERVICE_TIMEOUT: 'soon' }, issues);
    assert.equal(job, null);
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['BACKUP_STOP_SERVICE_TIMEOUT'],
    );
    assert.match(issues[0]!.message, /\(in \/etc\/dockervolumebackup\/conf\.d\/j\.env\)/);
    const ok = parseJob('j', 'environment', { EXEC_LABEL: 'x' }, []);
    assert.equal(ok?.containers.execLabel, 'x');
  });
});

describe('exec label command words', () => {
  it('plain commands are split like a shell would, and run without one', () => {
    assert.deepEqual(commandArgv('pg_dumpall -U postgres -f /tmp/dump.sql'), ['pg_dumpall', '-U', 'postgres', '-f', '/tmp/dump.sql']);
    assert.deepEqual(commandArgv(`/bin/sh -c 'mysqldump --all-databases > /backup/db.sql'`), ['/bin/sh', '-c', 'mysqldump --all-databases > /backup/db.sql']);
    assert.deepEqual(commandArgv(`echo "two words" three\\ four`), ['echo', 'two words', 'three four']);
    // like offen, no variable expansion happens without a shell
    assert.deepEqual(commandArgv('echo $HOME ${USER}'), ['echo', '$HOME', '$USER']);
  });

  it('shell syntax runs with /bin/sh -c', () => {
    assert.deepEqual(commandArgv('pg_dump app > /backup/app.sql'), ['/bin/sh', '-c', 'pg_dump app > /backup/app.sql']);
    assert.deepEqual(commandArgv('a && b'), ['/bin/sh', '-c', 'a && b']);
    assert.deepEqual(commandArgv('rm /tmp/*.sql'), ['/bin/sh', '-c', 'rm /tmp/*.sql']);
  });
});
