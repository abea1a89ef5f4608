import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunHooks } from '../../src/containers/hooks.ts';
import { UserError } from '../../src/errors.ts';
import { DockerFake } from '../servers/docker-fake.ts';
import { captureLogger, ctxFor, jobFrom, newStats } from './helpers.ts';

const STOP = 'docker-volume-backup.stop-during-backup';
const compose = (project: string, service: string, dependsOn?: string) => ({
  'com.docker.compose.project': project,
  'com.docker.compose.service': service,
  ...(dependsOn !== undefined ? { 'com.docker.compose.depends_on': dependsOn } : {}),
});

let fake: DockerFake;
let work: string;

beforeEach(async () => {
  fake = await DockerFake.start();
  work = mkdtempSync(join(tmpdir(), 'offsite-hooks-'));
});
afterEach(async () => {
  await fake.close();
  rmSync(work, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { DOCKER_HOST: `unix://${fake.socketPath}`, ...extra };
}

function stoppedNames(): string[] {
  return fake.callsTo('POST', /^\/containers\/[^/]+\/stop$/).map((c) => fake.nameOf(c.path));
}
function startedNames(): string[] {
  return fake.callsTo('POST', /^\/containers\/[^/]+\/start$/).map((c) => fake.nameOf(c.path));
}

describe('stop during backup', () => {
  function composeStack(): void {
    fake.addContainer({ name: 'p-db-1', labels: { ...compose('p', 'db', ''), [STOP]: 'true' } });
    fake.addContainer({ name: 'p-app-1', labels: { ...compose('p', 'app', 'db:service_started:false'), [STOP]: 'true' } });
    fake.addContainer({ name: 'p-worker-1', labels: { ...compose('p', 'worker', 'app:service_started:false,db:service_healthy:true'), [STOP]: 'true' } });
    // web is not stopped, but proxy depends on db through it
    fake.addContainer({ name: 'p-web-1', labels: { ...compose('p', 'web', 'db:service_started:true') } });
    fake.addContainer({ name: 'p-proxy-1', labels: { ...compose('p', 'proxy', 'web:service_started:false'), [STOP]: 'true' } });
    fake.addContainer({ name: 'cache', labels: { [STOP]: 'true' } });
    fake.addContainer({ name: 'other-value', labels: { [STOP]: 'false' } });
    fake.addContainer({ name: 'already-down', labels: { [STOP]: 'true' }, state: 'exited' });
  }

  it('stops dependents first, starts dependencies first, and records the counts', async () => {
    composeStack();
    const { log } = captureLogger();
    const hooks = await createRunHooks(jobFrom(env()), log);
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats));
    assert.deepEqual(stoppedNames(), ['p-worker-1', 'p-proxy-1', 'p-app-1', 'p-db-1', 'cache']);
    assert.equal(stats.containersStopped, 5);
    for (const n of ['p-worker-1', 'p-proxy-1', 'p-app-1', 'p-db-1', 'cache']) assert.equal(fake.container(n).State, 'exited', n);
    assert.equal(fake.container('p-web-1').State, 'running');
    assert.equal(fake.container('other-value').State, 'running');
    assert.equal(startedNames().length, 0);

    await hooks.archivePost(ctxFor(stats));
    assert.deepEqual(startedNames(), ['cache', 'p-db-1', 'p-app-1', 'p-proxy-1', 'p-worker-1']);
    assert.equal(stats.containersRestarted, 5);
    assert.equal(fake.container('already-down').State, 'exited');
    await hooks.finish(ctxFor(stats));
    assert.equal(startedNames().length, 5, 'finish does not start anything twice');
    assert.equal(stats.status, 'success');
    assert.equal(stats.error, null);
  });

  it('the order is the same whatever order Docker lists the containers in', async () => {
    // same stack, added in reverse
    fake.addContainer({ name: 'cache', labels: { [STOP]: 'true' } });
    fake.addContainer({ name: 'p-proxy-1', labels: { ...compose('p', 'proxy', 'web:service_started:false'), [STOP]: 'true' } });
    fake.addContainer({ name: 'p-web-1', labels: { ...compose('p', 'web', 'db:service_started:true') } });
    fake.addContainer({ name: 'p-worker-1', labels: { ...compose('p', 'worker', 'app:service_started:false,db:service_healthy:true'), [STOP]: 'true' } });
    fake.addContainer({ name: 'p-app-1', labels: { ...compose('p', 'app', 'db:service_started:false'), [STOP]: 'true' } });
    fake.addContainer({ name: 'p-db-1', labels: { ...compose('p', 'db', ''), [STOP]: 'true' } });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats));
    assert.deepEqual(stoppedNames(), ['p-worker-1', 'p-proxy-1', 'p-app-1', 'p-db-1', 'cache']);
  });

  it('an archive failure still restarts every stopped container (finish)', async () => {
    composeStack();
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats));
    // the archive phase fails here: the run skips archivePost and calls finish
    await hooks.finish(ctxFor(stats));
    assert.deepEqual(startedNames(), ['cache', 'p-db-1', 'p-app-1', 'p-proxy-1', 'p-worker-1']);
    for (const n of ['p-worker-1', 'p-proxy-1', 'p-app-1', 'p-db-1', 'cache']) assert.equal(fake.container(n).State, 'running', n);
    assert.equal(stats.containersRestarted, 5);
  });

  it('an abort during the stop phase restarts what was stopped', async () => {
    composeStack();
    const ac = new AbortController();
    let stops = 0;
    fake.onRequest = ({ method, path }) => {
      if (method === 'POST' && path.endsWith('/stop') && ++stops === 2) ac.abort(new Error('SIGTERM'));
    };
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await assert.rejects(hooks.archivePre(ctxFor(stats, '', ac.signal)), /SIGTERM/);
    assert.deepEqual(stoppedNames(), ['p-worker-1', 'p-proxy-1'], 'no stop is sent after the abort');
    await hooks.finish(ctxFor(stats, '', ac.signal));
    assert.deepEqual(startedNames(), ['p-proxy-1', 'p-worker-1']);
    assert.equal(fake.container('p-proxy-1').State, 'running');
    assert.equal(fake.container('p-worker-1').State, 'running');
    assert.equal(stats.containersStopped, 2);
    assert.equal(stats.containersRestarted, 2);
  });

  it('a failed stop fails the run before archiving; the ones stopped are started again', async () => {
    composeStack();
    fake.failStop.add('p-app-1');
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await assert.rejects(hooks.archivePre(ctxFor(stats)), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /could not stop container p-app-1/);
      assert.match(e.message, /permission denied/);
      return true;
    });
    assert.deepEqual(stoppedNames(), ['p-worker-1', 'p-proxy-1', 'p-app-1']);
    await hooks.finish(ctxFor(stats));
    // p-app-1's state is unknown after a failed stop, so a start is tried (304 here: it was never stopped)
    assert.deepEqual(startedNames(), ['p-app-1', 'p-proxy-1', 'p-worker-1']);
    assert.equal(fake.container('p-db-1').State, 'running');
    assert.equal(stats.containersStopped, 2);
    assert.equal(stats.containersRestarted, 2);
  });

  it('a stop refused with 403 after others stopped: the hint names the proxy rule and says those are started again', async () => {
    composeStack();
    fake.failStop.add('p-app-1');
    fake.stopStatus.set('p-app-1', 403);
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await assert.rejects(hooks.archivePre(ctxFor(stats)), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /could not stop container p-app-1/);
      assert.match(e.hint ?? '', /must allow POST and CONTAINERS; the containers stopped so far are started again/);
      return true;
    });
    await hooks.finish(ctxFor(stats));
    // refused before anything happened: p-app-1 still runs and is not started "again"
    assert.deepEqual(startedNames(), ['p-proxy-1', 'p-worker-1']);
    assert.equal(stats.containersRestarted, 2);
  });

  it('a failed restart is a failure in RunStats but the others still start', async () => {
    composeStack();
    fake.failStart.add('p-db-1');
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats));
    await hooks.archivePost(ctxFor(stats));
    assert.deepEqual(startedNames(), ['cache', 'p-db-1', 'p-app-1', 'p-proxy-1', 'p-worker-1']);
    assert.equal(fake.container('p-app-1').State, 'running');
    assert.equal(fake.container('p-db-1').State, 'exited');
    assert.equal(stats.status, 'failure');
    assert.equal(stats.error?.phase, 'post');
    assert.match(stats.error?.message ?? '', /could not start container p-db-1 again/);
    assert.ok(stats.warnings.some((w) => w.includes('p-db-1') && w.includes('mount source path does not exist')));
    assert.equal(stats.containersRestarted, 4);
  });

  it('no-restart label: stopped and left stopped; custom label values', async () => {
    fake.addContainer({ name: 'job', labels: { 'docker-volume-backup.stop-during-backup-no-restart': 'nightly' } });
    fake.addContainer({ name: 'api', labels: { [STOP]: 'nightly' } });
    fake.addContainer({ name: 'default-value', labels: { [STOP]: 'true' } });
    const hooks = await createRunHooks(
      jobFrom(env({ BACKUP_STOP_DURING_BACKUP_LABEL: 'nightly', BACKUP_STOP_DURING_BACKUP_NO_RESTART_LABEL: 'nightly' })),
      captureLogger().log,
    );
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats));
    assert.deepEqual(stoppedNames().sort(), ['api', 'job']);
    await hooks.archivePost(ctxFor(stats));
    await hooks.finish(ctxFor(stats));
    assert.deepEqual(startedNames(), ['api']);
    assert.equal(fake.container('job').State, 'exited');
    assert.equal(fake.container('default-value').State, 'running');
    assert.equal(stats.containersStopped, 2);
    assert.equal(stats.containersRestarted, 1);
    assert.equal(stats.status, 'success');
  });

  it('offsite never stops its own container', async () => {
    const self = fake.addContainer({ name: 'offsite', labels: { [STOP]: 'true' } });
    fake.addContainer({ name: 'app', labels: { [STOP]: 'true' } });
    const { log, lines } = captureLogger();
    const hooks = await createRunHooks(jobFrom(env()), log, { selfHostname: self.slice(0, 12) });
    await hooks.archivePre(ctxFor(newStats()));
    assert.deepEqual(stoppedNames(), ['app']);
    assert.ok(lines.some((l) => l.level === 40 && l.container === 'offsite'));
  });

  it('nothing labelled: no stop, no start', async () => {
    fake.addContainer({ name: 'plain' });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats));
    await hooks.archivePost(ctxFor(stats));
    await hooks.finish(ctxFor(stats));
    assert.equal(stoppedNames().length + startedNames().length, 0);
    assert.equal(stats.containersStopped, 0);
  });

  it('an unreachable Docker fails the archive step with a clear message', async () => {
    const hooks = await createRunHooks(jobFrom({ DOCKER_HOST: `unix://${join(work, 'missing.sock')}` }), captureLogger().log);
    const stats = newStats();
    await assert.rejects(hooks.archivePre(ctxFor(stats)), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /Docker at unix:\/\/.*missing\.sock failed/);
      assert.match(e.message, /ENOENT/);
      return true;
    });
    await hooks.finish(ctxFor(stats));
    assert.equal(stats.status, 'success', 'finish has nothing to restart and records nothing');
  });
});

describe('Swarm services', () => {
  it('labelled services are scaled to 0 and back, waiting for their tasks', async () => {
    fake.swarm = 'manager';
    fake.taskDelayMs = 40;
    const web = fake.addService({ name: 'stack_web', labels: { [STOP]: 'true' }, replicas: 3 });
    const other = fake.addService({ name: 'stack_other', replicas: 2 });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log, { pollMs: 10 });
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats));
    assert.equal(fake.runningTasks(web), 0, 'archivePre returns only once the tasks are down');
    assert.equal(fake.runningTasks(other), 2);
    const updates = fake.callsTo('POST', /^\/services\/[^/]+\/update$/);
    assert.equal(updates.length, 1);
    assert.equal(updates[0]!.query.version, '10');
    assert.equal((updates[0]!.body as { Mode: { Replicated: { Replicas: number } } }).Mode.Replicated.Replicas, 0);
    assert.equal(stats.containersStopped, 1);

    await hooks.archivePost(ctxFor(stats));
    assert.equal(fake.runningTasks(web), 3, 'archivePost returns once the tasks run again');
    const again = fake.callsTo('POST', /^\/services\/[^/]+\/update$/);
    assert.equal(again.length, 2);
    assert.equal(again[1]!.query.version, '17', 'the update uses the version read just before');
    assert.equal((again[1]!.body as { Mode: { Replicated: { Replicas: number } } }).Mode.Replicated.Replicas, 3);
    assert.ok(fake.callsTo('GET', /^\/tasks$/).length >= 2);
    assert.equal(stats.containersRestarted, 1);
    assert.equal(stats.status, 'success');
  });

  it('a service that does not scale within BACKUP_STOP_SERVICE_TIMEOUT fails the run and is scaled back', async () => {
    fake.swarm = 'manager';
    fake.taskDelayMs = 5_000;
    const web = fake.addService({ name: 'slow', labels: { [STOP]: 'true' }, replicas: 1 });
    const hooks = await createRunHooks(jobFrom(env({ BACKUP_STOP_SERVICE_TIMEOUT: '150ms' })), captureLogger().log, { pollMs: 20 });
    const stats = newStats();
    await assert.rejects(hooks.archivePre(ctxFor(stats)), /Swarm service slow did not reach 0 running task\(s\) within 0\.15s/);
    await hooks.finish(ctxFor(stats));
    const updates = fake.callsTo('POST', /^\/services\/[^/]+\/update$/);
    assert.equal(updates.length, 2);
    assert.equal(fake.services.get(web)!.Spec.Mode.Replicated.Replicas, 1, 'scaled back to its replica count');
  });

  it('a global service with the label is refused before anything is stopped', async () => {
    fake.swarm = 'manager';
    fake.addContainer({ name: 'c1', labels: { [STOP]: 'true' } });
    fake.addService({ name: 'agent', labels: { [STOP]: 'true' }, replicas: 'global' });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log, { pollMs: 10 });
    await assert.rejects(hooks.archivePre(ctxFor(newStats())), /service agent .* not in replicated mode/);
    assert.equal(stoppedNames().length, 0);
  });

  it('a labelled container of a Swarm task is refused (the label belongs on the service)', async () => {
    fake.swarm = 'manager';
    fake.addContainer({ name: 'web.1.abc', labels: { [STOP]: 'true', 'com.docker.swarm.service.id': 'svc1', 'com.docker.swarm.service.name': 'stack_web' } });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    await assert.rejects(hooks.archivePre(ctxFor(newStats())), /task of Swarm service stack_web/);
    assert.equal(stoppedNames().length, 0);
  });

  it('without Swarm the services API is not called', async () => {
    fake.addContainer({ name: 'c1', labels: { [STOP]: 'true' } });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    await hooks.archivePre(ctxFor(newStats()));
    assert.equal(fake.callsTo('GET', /^\/services/).length, 0);
    assert.deepEqual(stoppedNames(), ['c1']);
  });
});

describe('exec labels', () => {
  it('archive-pre runs before the stop, with COMMAND_RUNTIME_ARCHIVE_FILEPATH; archive-post after the restart', async () => {
    const out = join(work, 'out');
    fake.addContainer({
      name: 'db',
      labels: {
        'docker-volume-backup.archive-pre': `/bin/sh -c 'echo "$COMMAND_RUNTIME_ARCHIVE_FILEPATH" > ${out}.pre'`,
        'docker-volume-backup.archive-post': `touch ${out}.post`,
      },
    });
    fake.addContainer({ name: 'app', labels: { [STOP]: 'true' } });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats, '/tmp/backup-2026.tar.gz'));
    assert.equal(readFileSync(`${out}.pre`, 'utf8'), '/tmp/backup-2026.tar.gz\n');
    const paths = fake.calls.map((c) => `${c.method} ${c.path.replace(/[0-9a-f]{64}/g, 'ID')}`);
    const execAt = paths.indexOf('POST /containers/ID/exec');
    const stopAt = paths.indexOf('POST /containers/ID/stop');
    assert.ok(execAt >= 0 && stopAt > execAt, `exec before stop: ${paths.join(', ')}`);
    const create = fake.callsTo('POST', /\/exec$/)[0]!;
    assert.deepEqual((create.body as { Cmd: string[] }).Cmd, ['/bin/sh', '-c', `echo "$COMMAND_RUNTIME_ARCHIVE_FILEPATH" > ${out}.pre`]);
    assert.deepEqual((create.body as { Env: string[] }).Env, ['COMMAND_RUNTIME_ARCHIVE_FILEPATH=/tmp/backup-2026.tar.gz']);
    assert.equal(existsSync(`${out}.post`), false);

    await hooks.archivePost(ctxFor(stats, '/tmp/backup-2026.tar.gz'));
    assert.equal(existsSync(`${out}.post`), true);
    const after = fake.calls.map((c) => `${c.method} ${c.path.replace(/[0-9a-f]{64}/g, 'ID')}`);
    assert.ok(after.lastIndexOf('POST /containers/ID/start') < after.lastIndexOf('POST /containers/ID/exec'), 'archive-post after the restart');
    assert.deepEqual(
      (fake.callsTo('POST', /\/exec$/)[1]!.body as { Cmd: string[] }).Cmd,
      ['touch', `${out}.post`],
      'plain commands are split into words, no shell',
    );
  });

  it('EXEC_LABEL selects the containers whose commands run', async () => {
    for (const [name, value] of [
      ['a', 'main'],
      ['b', 'other'],
      ['c', undefined],
    ] as const) {
      fake.addContainer({
        name,
        labels: {
          'docker-volume-backup.archive-pre': `touch ${join(work, name)}`,
          ...(value ? { 'docker-volume-backup.exec-label': value } : {}),
        },
      });
    }
    const hooks = await createRunHooks(jobFrom(env({ EXEC_LABEL: 'main' })), captureLogger().log);
    await hooks.archivePre(ctxFor(newStats()));
    assert.deepEqual(
      ['a', 'b', 'c'].filter((n) => existsSync(join(work, n))),
      ['a'],
    );
    const list = fake.callsTo('GET', /^\/containers\/json$/)[0]!;
    assert.deepEqual(JSON.parse(list.query.filters!).label, ['docker-volume-backup.archive-pre', 'docker-volume-backup.exec-label=main']);

    // without EXEC_LABEL every labelled container runs its command
    rmSync(join(work, 'a'));
    const all = await createRunHooks(jobFrom(env()), captureLogger().log);
    await all.archivePre(ctxFor(newStats()));
    assert.deepEqual(
      ['a', 'b', 'c'].filter((n) => existsSync(join(work, n))),
      ['a', 'b', 'c'],
    );
  });

  it('a failing pre command fails the run before its phase, naming container, command and exit code', async () => {
    fake.addContainer({ name: 'db', labels: { 'docker-volume-backup.archive-pre': `sh -c 'echo dump failed: no space >&2; exit 3'` } });
    fake.addContainer({ name: 'zz-later', labels: { 'docker-volume-backup.archive-pre': `touch ${join(work, 'later')}` } });
    fake.addContainer({ name: 'app', labels: { [STOP]: 'true' } });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await assert.rejects(hooks.archivePre(ctxFor(stats)), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        /docker-volume-backup\.archive-pre command "sh -c 'echo dump failed: no space >&2; exit 3'" in container db exited with code 3: dump failed: no space/,
      );
      return true;
    });
    assert.equal(stoppedNames().length, 0, 'nothing stopped when the pre command failed');
    assert.equal(existsSync(join(work, 'later')), false, "the next container's command is not run");
    await hooks.finish(ctxFor(stats));
    assert.equal(startedNames().length, 0);
  });

  it('pre commands of the other phases throw too; post failures are recorded, not thrown', async () => {
    fake.addContainer({
      name: 'svc',
      labels: {
        'docker-volume-backup.copy-pre': 'false',
        'docker-volume-backup.prune-post': `sh -c 'exit 7'`,
        'docker-volume-backup.process-pre': `touch ${join(work, 'process-pre')}`,
      },
    });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    const stats = newStats();
    await hooks.processPre(ctxFor(stats));
    assert.ok(existsSync(join(work, 'process-pre')));
    await assert.rejects(hooks.copyPre(ctxFor(stats)), /copy-pre command "false" in container svc exited with code 1/);
    await hooks.prunePost(ctxFor(stats));
    assert.equal(stats.status, 'failure');
    assert.match(stats.error?.message ?? '', /prune-post command "sh -c 'exit 7'" in container svc exited with code 7/);
  });

  it('a missing executable and an unknown user are reported with their exit codes', async () => {
    fake.addContainer({ name: 'x', labels: { 'docker-volume-backup.archive-pre': 'no-such-binary-here --flag' } });
    const hooks = await createRunHooks(jobFrom(env()), captureLogger().log);
    await assert.rejects(hooks.archivePre(ctxFor(newStats())), /in container x exited with code 127/);

    const f2 = fake;
    f2.container('x').State = 'exited';
    f2.addContainer({ name: 'y', labels: { 'docker-volume-backup.archive-pre': 'true', 'docker-volume-backup.archive-pre.user': 'no-such-user-xyz' } });
    const create = () => fake.callsTo('POST', /\/exec$/).at(-1)!;
    await assert.rejects(hooks.archivePre(ctxFor(newStats())), /in container y exited with code 126: unable to find user no-such-user-xyz/);
    assert.equal((create().body as { User: string }).User, 'no-such-user-xyz');
  });

  it('EXEC_FORWARD_OUTPUT puts the output in the log at info level; otherwise it is debug', async () => {
    fake.addContainer({ name: 'talker', labels: { 'docker-volume-backup.archive-pre': `sh -c 'echo hello from stdout; echo warn from stderr >&2'` } });
    const on = captureLogger();
    await (await createRunHooks(jobFrom(env({ EXEC_FORWARD_OUTPUT: 'true' })), on.log)).archivePre(ctxFor(newStats()));
    const info = on.lines.filter((l) => l.level === 30 && l.container === 'talker' && l.stream);
    assert.deepEqual(info.map((l) => `${l.stream}:${l.msg}`).sort(), ['stderr:warn from stderr', 'stdout:hello from stdout']);
    assert.equal(info.length, 2);

    const off = captureLogger();
    await (await createRunHooks(jobFrom(env()), off.log)).archivePre(ctxFor(newStats()));
    assert.equal(off.lines.filter((l) => l.level === 30 && l.stream).length, 0);
    assert.equal(off.lines.filter((l) => l.level === 20 && l.stream).length, 2);
  });

  it('large output is streamed through without being kept whole', async () => {
    // ~3 MB on stdout, in frames dockerode must reassemble across chunks
    fake.addContainer({
      name: 'big',
      labels: { 'docker-volume-backup.archive-pre': `sh -c 'head -c 3000000 /dev/zero | tr "\\0" "x" | fold -w 1000; echo; echo done >&2; exit 4'` },
    });
    const cap = captureLogger();
    const hooks = await createRunHooks(jobFrom(env({ EXEC_FORWARD_OUTPUT: 'true' })), cap.log);
    await assert.rejects(hooks.archivePre(ctxFor(newStats())), /exited with code 4: done$/);
    const lines = cap.lines.filter((l) => l.stream === 'stdout' && l.msg.length === 1000);
    assert.equal(lines.length, 3000);
  });
});

describe('BACKUP_PRE_COMMAND / BACKUP_POST_COMMAND', () => {
  it('run with /bin/sh -c in offsite itself, around the archive, with the archive path', async () => {
    const f = join(work, 'trace');
    const { log, lines } = captureLogger();
    const hooks = await createRunHooks(
      jobFrom({
        BACKUP_PRE_COMMAND: `echo "pre $COMMAND_RUNTIME_ARCHIVE_FILEPATH $MY_SETTING" >> ${f}; echo said-pre`,
        BACKUP_POST_COMMAND: `echo post >> ${f}`,
        MY_SETTING: 'from-job-env',
      }),
      log,
      { defaultSocket: join(work, 'no.sock') },
    );
    const stats = newStats();
    await hooks.archivePre(ctxFor(stats, '/tmp/a.tar.gz'));
    assert.equal(readFileSync(f, 'utf8'), 'pre /tmp/a.tar.gz from-job-env\n');
    await hooks.archivePost(ctxFor(stats, '/tmp/a.tar.gz'));
    assert.equal(readFileSync(f, 'utf8'), 'pre /tmp/a.tar.gz from-job-env\npost\n');
    assert.ok(
      lines.some((l) => l.msg === 'said-pre' && l.command === 'BACKUP_PRE_COMMAND'),
      'output goes to the log',
    );
    assert.equal(stats.status, 'success');
  });

  it('a failing pre command throws before archiving; a failing post command is an error in RunStats', async () => {
    const hooks = await createRunHooks(
      jobFrom({
        BACKUP_PRE_COMMAND: 'echo cannot reach database >&2; exit 2',
        BACKUP_POST_COMMAND: 'exit 5',
      }),
      captureLogger().log,
      { defaultSocket: join(work, 'no.sock') },
    );
    const stats = newStats();
    await assert.rejects(hooks.archivePre(ctxFor(stats)), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.message, 'BACKUP_PRE_COMMAND exited with code 2: cannot reach database');
      return true;
    });
    await hooks.archivePost(ctxFor(stats));
    assert.equal(stats.status, 'failure');
    assert.equal(stats.error?.message, 'BACKUP_POST_COMMAND exited with code 5');
  });

  it('an abort kills the running command', async () => {
    const hooks = await createRunHooks(jobFrom({ BACKUP_PRE_COMMAND: 'sleep 30 & wait' }), captureLogger().log, { defaultSocket: join(work, 'no.sock') });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('SIGTERM')), 100);
    const t0 = process.hrtime.bigint();
    await assert.rejects(hooks.archivePre(ctxFor(newStats(), '', ac.signal)), /SIGTERM/);
    assert.ok(process.hrtime.bigint() - t0 < 20_000_000_000n);
  });
});
