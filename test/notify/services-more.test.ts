/**
 * The services offsite added to match the shoutrrr fork v0.17 (lark, notifiarr, pagerduty,
 * signal, twilio, wecom), each against the local recorder: method, host, path, query,
 * headers and body as the fork's pkg/services/<name>/ puts them on the wire.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, beforeEach, describe, it } from 'node:test';
import { larkSign } from '../../src/notify/services/lark.ts';
import { startRecorder, type HttpRecorder, type RecordedRequest } from '../servers/http-recorder.ts';
import { send } from './helpers.ts';

const rec: HttpRecorder = await startRecorder();
after(() => rec.close());
beforeEach(() => rec.reset());
const via = () => ({ fetch: rec.rewriteFetch() });

function only(): RecordedRequest {
  assert.equal(rec.requests.length, 1, `expected one request, got ${rec.requests.length}`);
  return rec.requests[0]!;
}

describe('lark', () => {
  it('POST https://open.larksuite.com/open-apis/bot/v2/hook/TOKEN: a post with the title, the text and the link', async () => {
    rec.queue({ body: { code: 0, msg: 'success' } });
    const r = await send('lark://open.larksuite.com/hooktoken123?link=https://example.com/run', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.method, 'POST');
    assert.equal(q.originalScheme, 'https:');
    assert.equal(q.originalHost, 'open.larksuite.com');
    assert.equal(q.path, '/open-apis/bot/v2/hook/hooktoken123');
    assert.equal(q.headers['content-type'], 'application/json');
    assert.deepEqual(q.json, {
      msg_type: 'post',
      content: {
        post: {
          en_us: {
            title: 'Backup ok',
            content: [[{ tag: 'text', text: 'line one\nline two' }], [{ tag: 'a', text: 'More Info', href: 'https://example.com/run' }]],
          },
        },
      },
    });
  });

  it('without a title: a text message; Feishu host; secret= signs with timestamp and HMAC', async () => {
    rec.queue({ body: { code: 0 } });
    const before = Math.floor(Date.now() / 1000);
    const r = await send('lark://open.feishu.cn/tok456?secret=s3cretsign', via(), { title: '', message: 'plain', level: 'info' });
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'open.feishu.cn');
    const body = q.json as { msg_type: string; content: unknown; timestamp: string; sign: string };
    assert.deepEqual(Object.keys(body), ['msg_type', 'content', 'timestamp', 'sign']);
    assert.equal(body.msg_type, 'text');
    assert.deepEqual(body.content, { text: 'plain' });
    const ts = Number(body.timestamp);
    assert.ok(ts >= before && ts <= before + 5);
    assert.equal(body.sign, createHmac('sha256', `${ts}\ns3cretsign`).digest('base64'));
    assert.equal(larkSign('s3cretsign', ts), body.sign);
  });

  it('an answer with a non-zero code fails with its message', async () => {
    rec.queue({ body: { code: 19021, msg: 'sign match fail or timestamp is not within one hour from current time' } });
    const r = await send('lark://open.larksuite.com/tok?secret=abcdef', via());
    assert.equal(r.ok, false);
    assert.match(r.error!, /code 19021: sign match fail/);
    assert.doesNotMatch(r.error!, /abcdef/);
  });

  it('a text over 4096 bytes goes in parts (the fork refuses it)', async () => {
    rec.handle(() => ({ body: { code: 0 } }));
    const text = Array.from({ length: 600 }, (_, i) => `line ${i}`).join('\n');
    const r = await send('lark://open.larksuite.com/tok', via(), { title: '', message: text, level: 'info' });
    assert.equal(r.ok, true, r.error);
    const parts = rec.requests.map((q) => (q.json as { content: { text: string } }).content.text);
    assert.ok(parts.length >= 2);
    for (const p of parts) assert.ok(Buffer.byteLength(p) <= 4096);
    assert.equal(parts.join('\n'), text);
  });
});

describe('wecom', () => {
  it('POST qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY with a text message and the mention lists', async () => {
    rec.queue({ body: { errcode: 0, errmsg: 'ok' } });
    const r = await send('wecom://693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa?mentioned_list=alice,@all&mentioned_mobile_list=13800001111', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'qyapi.weixin.qq.com');
    assert.equal(q.path, '/cgi-bin/webhook/send');
    assert.deepEqual([...q.query], [['key', '693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa']]);
    assert.equal(q.headers['content-type'], 'application/json');
    assert.deepEqual(q.json, {
      msgtype: 'text',
      text: { content: 'line one\nline two', mentioned_list: ['alice', '@all'], mentioned_mobile_list: ['13800001111'] },
    });
  });

  it('errcode other than 0 fails', async () => {
    rec.queue({ body: { errcode: 93000, errmsg: 'invalid webhook url' } });
    const r = await send('wecom://somekey', via());
    assert.equal(r.ok, false);
    assert.match(r.error!, /error 93000: invalid webhook url/);
  });
});

describe('pagerduty', () => {
  const key = '0123456789abcdef0123456789ABCDEF';
  it('POST https://events.pagerduty.com:443/v2/enqueue, an Events API v2 trigger with the text as summary', async () => {
    rec.queue({ status: 202, body: { status: 'success', dedup_key: 'x' } });
    const seen: string[] = [];
    const inner = rec.rewriteFetch();
    const spy = ((input: string | URL | Request, init?: RequestInit) => {
      seen.push(String(input));
      return inner(input, init);
    }) as typeof fetch;
    const r = await send(
      `pagerduty:///${key}?severity=critical&source=nas&dedup_key=offsite-nightly&details=${encodeURIComponent('{"job":"nightly","n":1}')}&contexts=link:https://example.com/run,image:https://example.com/i.png,text:ignored&client=offsite&client_url=https://example.com`,
      { fetch: spy },
    );
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(seen, ['https://events.pagerduty.com:443/v2/enqueue']);
    const q = only();
    assert.equal(q.originalHost, 'events.pagerduty.com');
    assert.equal(q.path, '/v2/enqueue');
    assert.equal(q.headers['content-type'], 'application/json');
    assert.equal(q.headers.authorization, undefined);
    assert.equal(
      q.body,
      JSON.stringify({
        payload: { summary: 'line one\nline two', severity: 'critical', source: 'nas' },
        routing_key: key,
        event_action: 'trigger',
        dedup_key: 'offsite-nightly',
        details: { job: 'nightly', n: 1 },
        contexts: [
          { type: 'link', href: 'https://example.com/run' },
          { type: 'image', src: 'https://example.com/i.png' },
        ],
        client: 'offsite',
        client_url: 'https://example.com',
      }),
    );
  });

  it('defaults: severity error, source default, action trigger; the summary is cut at 1024 characters; a custom host and port', async () => {
    rec.queue({ status: 202 });
    const seen: string[] = [];
    const inner = rec.rewriteFetch();
    const spy = ((input: string | URL | Request, init?: RequestInit) => {
      seen.push(String(input));
      return inner(input, init);
    }) as typeof fetch;
    const r = await send(`pagerduty://pd.example.com:8443/${key}?action=resolve`, { fetch: spy }, { title: 'T', message: 'é'.repeat(1500), level: 'info' });
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(seen, ['https://pd.example.com:8443/v2/enqueue']);
    assert.deepEqual(only().json, { payload: { summary: 'é'.repeat(1024), severity: 'error', source: 'default' }, routing_key: key, event_action: 'resolve' });
  });

  it('a 400 fails with the API message, not retried', async () => {
    rec.queue({ status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: ["Length of 'routing_key' is incorrect"] } });
    const r = await send(`pagerduty:///${key}`, via());
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.match(r.error!, /400.*Event object is invalid/);
  });
});

describe('signal', () => {
  it('POST http://host:port/v2/send with number and recipients (groups with / kept whole), Basic auth', async () => {
    rec.queue({ status: 201, body: { timestamp: '1700000000000' } });
    const r = await send(`signal://alice:pa%24%24@${rec.host}/+15551230000/+15557654321/group.YWJj/ZGVm=/+15550001111?disabletls=yes`);
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.method, 'POST');
    assert.equal(q.path, '/v2/send');
    assert.equal(q.headers['content-type'], 'application/json');
    assert.equal(q.headers.authorization, `Basic ${Buffer.from('alice:pa$$').toString('base64')}`);
    assert.deepEqual(q.json, { message: 'line one\nline two', number: '+15551230000', recipients: ['+15557654321', 'group.YWJj/ZGVm=', '+15550001111'] });
  });

  it('https on port 8080 by default; token= is sent as a Bearer token', async () => {
    rec.queue({ status: 201 });
    const seen: string[] = [];
    const inner = rec.rewriteFetch();
    const spy = ((input: string | URL | Request, init?: RequestInit) => {
      seen.push(String(input));
      return inner(input, init);
    }) as typeof fetch;
    const r = await send('signal://signal.example.com/+15551230000/+15557654321?token=sigtoken99', { fetch: spy });
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(seen, ['https://signal.example.com:8080/v2/send']);
    assert.equal(only().headers.authorization, 'Bearer sigtoken99');
    assert.doesNotMatch(r.url, /sigtoken99/);
  });
});

describe('signal credentials in the query', () => {
  it('user= and password= authenticate; an echoed Authorization header does not show them', async () => {
    rec.handle((q) => ({ status: 401, body: `refused: ${String(q.headers.authorization)}` }));
    const r = await send(`signal://${rec.host}/+15551230000/+15557654321?disabletls=yes&user=alice&password=qu3ry-pw`);
    assert.equal(r.ok, false);
    assert.equal(only().headers.authorization, `Basic ${Buffer.from('alice:qu3ry-pw').toString('base64')}`);
    assert.match(r.error!, /401 .*refused: Basic \*\*\*/);
    assert.doesNotMatch(r.error!, /qu3ry-pw|YWxpY2U6cXUzcnktcHc/);
  });
});

describe('twilio', () => {
  it('one form POST per recipient to /2010-04-01/Accounts/SID/Messages.json with Basic auth; the title heads the body', async () => {
    rec.handle(() => ({ status: 201, body: { sid: 'SM1' } }));
    const r = await send('twilio://ACabc123:twtoken99@+1(555)123-0000/+15557654321/+1.555.000.1111', via());
    assert.equal(r.ok, true, r.error);
    assert.equal(rec.requests.length, 2);
    for (const q of rec.requests) {
      assert.equal(q.originalHost, 'api.twilio.com');
      assert.equal(q.path, '/2010-04-01/Accounts/ACabc123/Messages.json');
      assert.equal(q.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.equal(q.headers.authorization, `Basic ${Buffer.from('ACabc123:twtoken99').toString('base64')}`);
    }
    assert.deepEqual(
      rec.requests.map((q) => [...new URLSearchParams(q.body)]),
      [
        [
          ['Body', 'Backup ok\nline one\nline two'],
          ['From', '+15551230000'],
          ['To', '+15557654321'],
        ],
        [
          ['Body', 'Backup ok\nline one\nline two'],
          ['From', '+15551230000'],
          ['To', '+15550001111'],
        ],
      ],
    );
  });

  it('an MG... sender is a MessagingServiceSid; one failed recipient does not stop the next, and fails the URL', async () => {
    rec.queue({ status: 400, body: { code: 21211, message: "The 'To' number is not valid.", status: 400 } }, { status: 201 });
    const r = await send('twilio://ACabc123:twtoken99@MG0123456789abcdef/+15550000000/+15557654321', via(), { title: '', message: 'm', level: 'info' });
    assert.equal(r.ok, false);
    assert.equal(rec.requests.length, 2);
    assert.deepEqual(
      [...new URLSearchParams(rec.requests[1]!.body)],
      [
        ['Body', 'm'],
        ['MessagingServiceSid', 'MG0123456789abcdef'],
        ['To', '+15557654321'],
      ],
    );
    assert.match(r.error!, /sending to \+15550000000: .*400.*not valid/);
    assert.doesNotMatch(r.error!, /twtoken99/);
  });
});

describe('notifiarr', () => {
  it('POST notifiarr.com/api/v1/notification/passthrough/APIKEY with the notification and the discord fields', async () => {
    rec.queue({ body: { result: 'success' } });
    const r = await send(
      'notifiarr://nfapikey123?name=offsite&channel=123456789&color=FF0000&thumbnail=https://example.com/t.png&image=https://example.com/i.png',
      via(),
      { title: 'Backup ok', message: 'done <@42> <@&7>', level: 'info' },
    );
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'notifiarr.com');
    assert.equal(q.path, '/api/v1/notification/passthrough/nfapikey123');
    assert.equal(q.headers['content-type'], 'application/json');
    assert.equal(q.headers.accept, 'application/json');
    assert.equal(
      q.body,
      JSON.stringify({
        notification: { name: 'offsite' },
        discord: {
          color: 'FF0000',
          ping: { pingUser: 42, pingRole: 7 },
          images: { thumbnail: 'https://example.com/t.png', image: 'https://example.com/i.png' },
          text: { title: 'Backup ok', description: 'done <@42> <@&7>' },
          ids: { channel: 123456789 },
        },
      }),
    );
  });

  it('defaults: name Shoutrrr, only the text', async () => {
    rec.queue({ body: {} });
    const r = await send('notifiarr://nfapikey123', via());
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(only().json, { notification: { name: 'Shoutrrr' }, discord: { text: { title: 'Backup ok', description: 'line one\nline two' } } });
  });

  it('401 is a failure', async () => {
    rec.queue({ status: 401, body: 'unauthorized' });
    const r = await send('notifiarr://nfapikey123', via());
    assert.equal(r.ok, false);
    assert.match(r.error!, /401/);
    assert.doesNotMatch(r.error!, /nfapikey123/);
  });
});
