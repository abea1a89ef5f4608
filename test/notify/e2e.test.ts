/** Notifications around a real run (runJob with the local destination) and the `offsite notify-test` command. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/log.ts';
import { sendRunNotifications } from '../../src/notify/index.ts';
import { runJob } from '../../src/run/run.ts';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';
import { FAST } from './helpers.ts';

const rec: HttpRecorder = await startRecorder();
const tmp = mkdtempSync(join(tmpdir(), 'offsite-notify-e2e-'));
after(async () => {
  await rec.close();
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => rec.reset());

function setup(level: 'error' | 'info') {
  const dir = mkdtempSync(join(tmp, 'run-'));
  const src = join(dir, 'src');
  const archive = join(dir, 'archive');
  mkdirSync(src);
  mkdirSync(archive);
  mkdirSync(join(dir, 'conf.d'));
  writeFileSync(join(src, 'data.txt'), 'important');
  const config = loadConfig({
    env: {
      BACKUP_SOURCES: src,
      BACKUP_ARCHIVE: archive,
      OFFSITE_CONF_DIR: join(dir, 'conf.d'),
      OFFSITE_DOTENV: '/dev/null',
      NOTIFICATION_URLS: `generic+http://${rec.host}/notify?template=json`,
      NOTIFICATION_LEVEL: level,
      NOTIFICATION_TEMPLATES_DIR: '',
    },
    cwd: dir,
  });
  return { config, job: config.jobs[0]!, archive, lockFile: join(dir, 'lock') };
}

describe('notifications after a real run', () => {
  it('a successful run: nothing at level error, one success message at level info', async () => {
    const quiet = setup('error');
    const s1 = await runJob(quiet.job, { log: silentLogger(), lockFile: quiet.lockFile });
    assert.equal(s1.status, 'success');
    assert.deepEqual(await sendRunNotifications(quiet.job.notify, s1, silentLogger(), FAST), []);
    assert.equal(rec.requests.length, 0);

    const chatty = setup('info');
    const s2 = await runJob(chatty.job, { log: silentLogger(), lockFile: chatty.lockFile });
    const results = await sendRunNotifications(chatty.job.notify, s2, silentLogger(), FAST);
    assert.deepEqual(
      results.map((r) => r.ok),
      [true],
    );
    assert.equal(rec.requests.length, 1);
    const body = rec.requests[0]!.json as { title: string; message: string };
    assert.equal(body.title, '[offsite] default: backup succeeded');
    assert.ok(body.message.includes(s2.archive!.name), body.message);
    assert.match(body.message, new RegExp(`- Local ${chatty.archive}: stored`));
  });

  it('a failed run (destination down) sends one failure message naming the destination', async () => {
    const s = setup('error');
    rmSync(s.archive, { recursive: true });
    const stats = await runJob(s.job, { log: silentLogger(), lockFile: s.lockFile });
    assert.equal(stats.status, 'failure');
    const results = await sendRunNotifications(s.job.notify, stats, silentLogger(), FAST);
    assert.equal(results.length, 1);
    assert.equal(rec.requests.length, 1);
    const body = rec.requests[0]!.json as { title: string; message: string };
    assert.match(body.title, /^\[offsite\] default: backup FAILED \(\w+/);
    // the destination is named by its location (and by its kind once the run attributes the failure to it)
    assert.ok(body.message.includes(s.archive), body.message);
  });
});

describe('offsite notify-test', () => {
  it('prints one line per URL and exits 1 when one fails', async () => {
    rec.handle((q) => (q.path === '/bad' ? { status: 500 } : {}));
    const { dir, env } = isolatedEnv({
      NOTIFICATION_URLS: `generic+http://${rec.host}/good,generic+http://${rec.host}/bad?apikey=very-secret-key`,
    });
    const { code, stdout: out } = await runCliAsync(['notify-test'], { ...env, NOTIFICATION_TEMPLATES_DIR: '' });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 1, out);
    const lines = out
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('{'));
    assert.equal(lines[0], 'Sending a test notification to 2 URLs...');
    assert.match(lines[1]!, new RegExp(`^ok {4}generic\\+http://${rec.host}/good `));
    assert.match(lines[2]!, new RegExp(`^FAIL {2}generic\\+http://${rec.host}/bad\\?apikey=\\*\\*\\*: `));
    assert.doesNotMatch(out, /very-secret-key/);
    assert.equal(rec.requests.filter((q) => q.path === '/good').length, 1);
  });
});
