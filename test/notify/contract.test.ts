/**
 * The contract every HTTP notification service meets, run against the local recorder for
 * each one: delivers on its success answer; a 5xx is retried a bounded number of times and
 * then fails naming the status; a refusal (401) is not retried; a server that never answers
 * fails within the request timeout; no secret of the URL shows in the result. A registered
 * HTTP service missing from the table fails the last test.
 */
import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import { SERVICES } from '../../src/notify/services/index.ts';
import { startRecorder, type HttpRecorder, type Reply, type RecordedRequest } from '../servers/http-recorder.ts';
import { send } from './helpers.ts';

const rec: HttpRecorder = await startRecorder();
after(() => rec.close());
beforeEach(() => rec.reset());

interface Case {
  /** The URL (secrets include the marker `s3kr`). */
  url: (rec: HttpRecorder) => string;
  /** Whether the service's fixed host is reached through rewriteFetch. */
  rewrite: boolean;
  /** The answer that means delivered (per request: multi-step services answer each step). */
  success: (q: RecordedRequest) => Reply;
  /** Secrets that must never show in the result. */
  secrets: string[];
}

const ok200: Reply = { status: 200, body: {} };
const WF = encodeURIComponent('https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s3krsig');

/** Services that do not speak HTTP (tested elsewhere: smtp.test.ts, mqtt.test.ts, log-services.test.ts). */
const NOT_HTTP = new Set(['smtp', 'mqtt', 'stdout', 'logger']);

const CASES: Record<string, Case> = {
  slack: {
    url: () => 'slack://hook:AAAAAAAAA-BBBBBBBBB-s3krCCCCCCCCCCCCCCCCCCCC@webhook',
    rewrite: true,
    success: () => ({ body: 'ok' }),
    secrets: ['s3krCCCCCCCCCCCCCCCCCCCC'],
  },
  discord: { url: () => 'discord://s3krtoken@123456', rewrite: true, success: () => ({ status: 204 }), secrets: ['s3krtoken'] },
  telegram: { url: () => 'telegram://123:s3krbot@telegram?chats=1', rewrite: true, success: () => ({ body: { ok: true } }), secrets: ['s3krbot'] },
  teams: { url: () => `teams://?host=${WF}`, rewrite: true, success: () => ({ status: 202 }), secrets: ['s3krsig'] },
  gotify: { url: (r) => `gotify://${r.host}/As3krAAAAAAAAAA?disabletls=yes`, rewrite: false, success: () => ok200, secrets: ['As3krAAAAAAAAAA'] },
  ntfy: { url: (r) => `ntfy://u:s3krpw@${r.host}/topic?scheme=http`, rewrite: false, success: () => ok200, secrets: ['s3krpw'] },
  pushover: { url: () => 'pushover://shoutrrr:s3krtok@userkey1', rewrite: true, success: () => ok200, secrets: ['s3krtok'] },
  mattermost: { url: (r) => `mattermost://${r.host}/s3krhook?disabletls=yes`, rewrite: false, success: () => ok200, secrets: ['s3krhook'] },
  matrix: {
    url: (r) => `matrix://:s3kraccess@${r.host}/?rooms=!r:x&disableTLS=yes`,
    rewrite: false,
    success: () => ({ body: { event_id: '$e' } }),
    secrets: ['s3kraccess'],
  },
  rocketchat: { url: () => 'rocketchat://chat.example.com/s3krA/s3krB', rewrite: true, success: () => ok200, secrets: ['s3krA', 's3krB'] },
  googlechat: {
    url: () => 'googlechat://chat.googleapis.com/v1/spaces/S/messages?key=s3krkey&token=s3krtok',
    rewrite: true,
    success: () => ok200,
    secrets: ['s3krkey', 's3krtok'],
  },
  // zulip first asks /api/v1/register for the server's limits (best effort, not counted as a try)
  zulip: {
    url: () => 'zulip://bot%40example.com:s3krzulip@zulip.example.com/?stream=ops',
    rewrite: true,
    success: () => ({ body: { result: 'success' } }),
    secrets: ['s3krzulip'],
  },
  ifttt: { url: () => 'ifttt://s3krifttt/?events=e', rewrite: true, success: () => ({ body: 'Congratulations' }), secrets: ['s3krifttt'] },
  join: { url: () => 'join://shoutrrr:s3krjoin@join/?devices=d', rewrite: true, success: () => ok200, secrets: ['s3krjoin'] },
  bark: { url: () => 'bark://:s3krdev@bark.example.com', rewrite: true, success: () => ({ body: { code: 200 } }), secrets: ['s3krdev'] },
  opsgenie: { url: () => 'opsgenie://api.opsgenie.com/s3krgenie', rewrite: true, success: () => ({ status: 202 }), secrets: ['s3krgenie'] },
  pushbullet: {
    url: () => 'pushbullet://s3krabcdefghijklmnopqrstuvwxyz0123',
    rewrite: true,
    success: () => ({ body: { type: 'note', active: true } }),
    secrets: ['s3krabcdefghijklmnopqrstuvwxyz0123'],
  },
  generic: { url: (r) => `generic+http://${r.host}/hook?token=s3krgen`, rewrite: false, success: () => ok200, secrets: ['s3krgen'] },
  lark: { url: () => 'lark://open.larksuite.com/s3krlark', rewrite: true, success: () => ({ body: { code: 0 } }), secrets: ['s3krlark'] },
  notifiarr: { url: () => 'notifiarr://s3krnotifiarr', rewrite: true, success: () => ok200, secrets: ['s3krnotifiarr'] },
  pagerduty: {
    url: () => 'pagerduty:///5e6b1a2c3d4e5f60718293a4b5c6d7e8',
    rewrite: true,
    success: () => ({ status: 202 }),
    secrets: ['5e6b1a2c3d4e5f60718293a4b5c6d7e8'],
  },
  signal: {
    url: (r) => `signal://u:s3krsignal@${r.host}/+15551230000/+15557654321?disabletls=yes`,
    rewrite: false,
    success: () => ({ status: 201 }),
    secrets: ['s3krsignal'],
  },
  twilio: { url: () => 'twilio://ACsid:s3krtwilio@+15551230000/+15557654321', rewrite: true, success: () => ({ status: 201 }), secrets: ['s3krtwilio'] },
  wecom: { url: () => 'wecom://s3krwecom', rewrite: true, success: () => ({ body: { errcode: 0 } }), secrets: ['s3krwecom'] },
};

const opts = (c: Case, extra: Record<string, unknown> = {}) => ({ ...(c.rewrite ? { fetch: rec.rewriteFetch() } : {}), ...extra });
const clean = (c: Case, text: string) => {
  for (const s of c.secrets) assert.ok(!text.includes(s), `${text} shows ${s}`);
};

for (const [name, c] of Object.entries(CASES)) {
  describe(`contract: ${name}`, () => {
    it('delivers on the success answer, in one try', async () => {
      rec.handle(c.success);
      const r = await send(c.url(rec), opts(c));
      assert.equal(r.ok, true, r.error);
      assert.equal(r.attempts, 1);
      assert.ok(rec.requests.length >= 1);
      clean(c, r.url);
    });

    it('5xx every time: 3 tries, then a failure naming the status, no secret shown', async () => {
      rec.handle((q) => (name === 'zulip' && q.path.endsWith('/register') ? { body: {} } : { status: 503, body: 'maintenance' }));
      const r = await send(c.url(rec), opts(c, { attempts: 3 }));
      assert.equal(r.ok, false);
      assert.equal(r.attempts, 3);
      assert.match(r.error!, /503/);
      clean(c, `${r.error} ${r.url}`);
    });

    it('a refusal (401) is not retried', async () => {
      rec.handle((q) => (name === 'zulip' && q.path.endsWith('/register') ? { body: {} } : { status: 401, body: { error: 'unauthorized' } }));
      const r = await send(c.url(rec), opts(c));
      assert.equal(r.ok, false);
      assert.equal(r.attempts, 1);
      clean(c, `${r.error} ${r.url}`);
    });

    it('a server that never answers fails within the request timeout', async () => {
      rec.handle(() => ({ hang: true }));
      const started = Date.now();
      const r = await send(c.url(rec), opts(c, { timeoutMs: 300 }));
      assert.equal(r.ok, false);
      assert.match(r.error!, /no answer within 300ms/);
      assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
      clean(c, `${r.error} ${r.url}`);
    });
  });
}

it('every registered HTTP service is in the contract table', () => {
  for (const s of SERVICES) {
    const name = s.schemes[0]!;
    if (NOT_HTTP.has(name)) continue;
    assert.ok(CASES[name], `${name} has no contract case in test/notify/contract.test.ts`);
  }
});
