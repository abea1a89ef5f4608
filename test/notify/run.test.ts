/** The level rule, run notifications end to end against a recorder, and `offsite notify-test`. */
import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import type { ConfigIssue } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { parseNotifyConfig, type NotifyConfig } from '../../src/notify/config.ts';
import { notifyTest, sendRunNotifications, shouldNotify } from '../../src/notify/index.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';
import { FAST, runStats } from './helpers.ts';

const rec: HttpRecorder = await startRecorder();
after(() => rec.close());
beforeEach(() => rec.reset());

function notifyConfig(env: Record<string, string>): NotifyConfig {
  const issues: ConfigIssue[] = [];
  const cfg = parseNotifyConfig({ NOTIFICATION_TEMPLATES_DIR: '', ...env }, issues);
  assert.deepEqual(issues, []);
  return cfg!;
}

const hook = () => `generic+http://${rec.host}/hook?template=json`;

describe('level rule', () => {
  it('shouldNotify: error only for non-success runs, info for all', () => {
    assert.deepEqual(
      ['success', 'degraded', 'partial', 'failure'].map((s) => shouldNotify('error', s as never)),
      [false, true, true, true],
    );
    assert.deepEqual(
      ['success', 'degraded', 'partial', 'failure'].map((s) => shouldNotify('info', s as never)),
      [true, true, true, true],
    );
  });

  it('a successful run sends nothing at level error', async () => {
    const results = await sendRunNotifications(notifyConfig({ NOTIFICATION_URLS: hook() }), runStats(), silentLogger(), FAST);
    assert.deepEqual(results, []);
    assert.equal(rec.requests.length, 0);
  });

  it('a successful run sends one success notification at level info', async () => {
    const results = await sendRunNotifications(notifyConfig({ NOTIFICATION_URLS: hook(), NOTIFICATION_LEVEL: 'info' }), runStats(), silentLogger(), FAST);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.ok, true);
    assert.equal(rec.requests.length, 1);
    const body = rec.requests[0]!.json as { title: string; message: string };
    assert.equal(body.title, '[offsite] nightly: backup succeeded');
    assert.match(body.message, /backup-2026-03-01T02-00-00\.tar\.gz, 1\.20 GiB/);
  });

  it('a failed run (destination down) sends one failure notification naming the destination', async () => {
    const stats = runStats({
      status: 'failure',
      destinations: [
        {
          destination: 'WebDAV',
          location: 'https://dav.example.com/b',
          ok: false,
          bytes: 0,
          durationMs: 10,
          attempts: 3,
          pruned: 0,
          error: 'connect ECONNREFUSED 127.0.0.1:9',
        },
      ],
      error: { phase: 'upload', message: 'every destination failed: WebDAV: connect ECONNREFUSED 127.0.0.1:9', destination: 'WebDAV' },
    });
    const results = await sendRunNotifications(notifyConfig({ NOTIFICATION_URLS: hook() }), stats, silentLogger(), FAST);
    assert.equal(results.length, 1);
    assert.equal(rec.requests.length, 1);
    const body = rec.requests[0]!.json as { title: string; message: string };
    assert.equal(body.title, '[offsite] nightly: backup FAILED (upload, WebDAV)');
    assert.match(body.message, /WebDAV https:\/\/dav\.example\.com\/b: FAILED after 3 tries: connect ECONNREFUSED/);
  });

  it('a notification that fails is returned (not thrown) with the masked URL', async () => {
    rec.handle(() => ({ status: 500 }));
    const results = await sendRunNotifications(
      notifyConfig({ NOTIFICATION_URLS: `${hook()}&@Authorization=Bearer%20sekret-abc` }),
      runStats({ status: 'partial' }),
      silentLogger(),
      { ...FAST, attempts: 2 },
    );
    assert.equal(results.length, 1);
    assert.equal(results[0]!.ok, false);
    assert.equal(results[0]!.attempts, 2);
    assert.doesNotMatch(results[0]!.url + results[0]!.error, /sekret-abc/);
  });
});

describe('notifyTest (offsite notify-test)', () => {
  it('sends a test message to every distinct URL once and prints one line each', async () => {
    rec.handle((q) => (q.path === '/down' ? { status: 503 } : { status: 200 }));
    const shared = notifyConfig({ NOTIFICATION_URLS: `generic+http://${rec.host}/up?template=json,generic+http://${rec.host}/down?token=tok-secret-1` });
    const lines: string[] = [];
    const ok = await notifyTest(
      {
        jobs: [
          { name: 'a', notify: shared },
          { name: 'b', notify: shared },
        ],
      },
      (l) => lines.push(l),
      { ...FAST, attempts: 1 },
    );
    assert.equal(ok, false);
    assert.equal(rec.requests.length, 2);
    const up = rec.requests.find((q) => q.path === '/up')!;
    assert.equal((up.json as { title: string }).title, '[offsite] a, b: test notification');
    assert.equal(lines[0], 'Sending a test notification to 2 URLs...');
    assert.match(lines[1]!, new RegExp(`^ok {4}generic\\+http://${rec.host}/up\\?template=json \\[job a, b\\] \\(1 try, \\d+ ms\\)$`));
    assert.match(lines[2]!, new RegExp(`^FAIL {2}generic\\+http://${rec.host}/down\\?token=\\*\\*\\* \\[job a, b\\]: POST to ${rec.host} answered HTTP 503`));
    assert.doesNotMatch(lines.join('\n'), /tok-secret-1/);
  });

  it('reports success when every URL works, and failure when none is configured', async () => {
    const lines: string[] = [];
    assert.equal(await notifyTest({ jobs: [{ name: 'default', notify: notifyConfig({ NOTIFICATION_URLS: hook() }) }] }, (l) => lines.push(l), FAST), true);
    assert.match(lines[1]!, /^ok {4}generic\+http:/);
    const none: string[] = [];
    assert.equal(await notifyTest({ jobs: [{ name: 'default', notify: notifyConfig({}) }] }, (l) => none.push(l)), false);
    assert.deepEqual(none, ['No notification URLs are configured (set NOTIFICATION_URLS).']);
  });
});
