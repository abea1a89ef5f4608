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
import { sendCase, WIRE } from './wire-cases.ts';

const rec: HttpRecorder = await startRecorder();
after(() => rec.close());
beforeEach(() => rec.reset());
const via = () => ({ fetch: rec.rewriteFetch() });

function only(): RecordedRequest {
  assert.equal(rec.requests.length, 1, `expected one request, got ${rec.requests.length}`);
  return rec.requests[0]!;
}

describe('lark', () => {
  it(WIRE.lark.title, async () => {
    await sendCase(rec, WIRE.lark);
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
  it(WIRE.wecom.title, async () => {
    await sendCase(rec, WIRE.wecom);
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
  it(WIRE.pagerduty.title, async () => {
    const seen: string[] = [];
    const inner = rec.rewriteFetch();
    const spy = ((input: string | URL | Request, init?: RequestInit) => {
      seen.push(String(input));
      return inner(input, init);
    }) as typeof fetch;
    const r = await sendCase(rec, WIRE.pagerduty, { fetch: spy });
    assert.deepEqual(seen, ['https://events.pagerduty.com:443/v2/enqueue']);
    assert.ok(r.ok);
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
  it(WIRE.signal.title, async () => {
    await sendCase(rec, WIRE.signal);
  });

  it(WIRE.signalHttps.title, async () => {
    const seen: string[] = [];
    const inner = rec.rewriteFetch();
    const spy = ((input: string | URL | Request, init?: RequestInit) => {
      seen.push(String(input));
      return inner(input, init);
    }) as typeof fetch;
    const r = await sendCase(rec, WIRE.signalHttps, { fetch: spy });
    assert.deepEqual(seen, ['https://signal.example.com:8080/v2/send']);
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
  it(WIRE.twilio.title, async () => {
    await sendCase(rec, WIRE.twilio);
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
  it(WIRE.notifiarr.title, async () => {
    await sendCase(rec, WIRE.notifiarr);
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
