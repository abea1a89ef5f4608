/**
 * Every HTTP service against a local recorder: method, path, query, headers and
 * body as the wire reference (shoutrrr) puts them. Services with a fixed public
 * host go through a fetch that rewrites the origin and keeps the original host.
 */
import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import { startRecorder, type HttpRecorder, type RecordedRequest } from '../servers/http-recorder.ts';
import { deviceId } from '../../src/notify/services/matrix.ts';
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

describe('slack', () => {
  it(WIRE.slackWebhook.title, async () => {
    await sendCase(rec, WIRE.slackWebhook);
  });

  it(WIRE.slackBot.title, async () => {
    await sendCase(rec, WIRE.slackBot);
  });

  it('bot token: ok:false is a failure naming the API error', async () => {
    rec.queue({ body: { ok: false, error: 'channel_not_found' } });
    const r = await send('slack://xoxb:123456789012-1234567890123-abcdefghijklmnopqrstuvwx@C0CHANNELID', via());
    assert.equal(r.ok, false);
    assert.match(r.error!, /channel_not_found/);
  });

  it('legacy form slack://botname@TA/TB/TC posts to the webhook as botname', async () => {
    rec.queue({ body: '' });
    const r = await send('slack://backupbot@AAAAAAAAA/BBBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.path, '/services/AAAAAAAAA/BBBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC');
    assert.equal((q.json as { username: string }).username, 'backupbot');
  });

  it('webhook answering something else than ok fails', async () => {
    rec.queue({ status: 200, body: 'invalid_payload' });
    const r = await send('slack://hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC@webhook', via());
    assert.equal(r.ok, false);
    assert.match(r.error!, /invalid_payload/);
  });
});

describe('discord', () => {
  it(WIRE.discord.title, async () => {
    await sendCase(rec, WIRE.discord);
  });

  it('/raw sends the message verbatim as the JSON body', async () => {
    rec.queue({ status: 204 });
    const body = '{"content":"custom","tts":false}';
    const r = await send('discord://tok3n@123456/raw', via(), { title: 'ignored', message: body, level: 'info' });
    assert.equal(r.ok, true, r.error);
    assert.equal(only().body, body);
  });

  it('splits over 10 embeds into more requests and cuts a line over 2000 runes', async () => {
    const lines = Array.from({ length: 25 }, (_, i) => `line ${i + 1}`);
    lines[3] = 'é'.repeat(2500);
    const r = await send('discord://tok3n@123456', via(), { title: 'T', message: lines.join('\n'), level: 'error' });
    assert.equal(r.ok, true, r.error);
    assert.equal(rec.requests.length, 3);
    const embeds = rec.requests.map((q) => (q.json as { embeds: { title?: string; description: string }[] }).embeds);
    assert.deepEqual(
      embeds.map((e) => e.length),
      [10, 10, 5],
    );
    assert.equal(embeds[0]![0]!.title, 'T');
    const long = embeds[0]![3]!.description;
    assert.equal(Array.from(long).length, 2000);
    assert.ok(long.endsWith(' [...]'));
    assert.equal(embeds[2]![4]!.description, 'line 25');
  });

  it('splitLines=no partitions a long text into 2000-rune chunks, 6000 runes a request, losing nothing', async () => {
    const text = 'x'.repeat(13_000);
    const r = await send('discord://tok3n@123456?splitLines=no', via(), { title: 'T', message: text, level: 'info' });
    assert.equal(r.ok, true, r.error);
    const all = rec.requests.map((q) => (q.json as { embeds: { description: string }[] }).embeds.map((e) => e.description));
    assert.deepEqual(
      all.map((a) => a.map((d) => d.length)),
      [[2000, 2000, 2000], [2000, 2000, 2000], [1000]],
    );
    assert.equal(all.flat().join(''), text);
  });
});

describe('telegram', () => {
  it(WIRE.telegram.title, async () => {
    await sendCase(rec, WIRE.telegram);
  });

  it('splits a message over 4096 bytes into several messages, dropping nothing (the fork refuses it: a deliberate difference)', async () => {
    rec.handle(() => ({ body: { ok: true } }));
    const lines = Array.from({ length: 900 }, (_, i) => `line ${String(i).padStart(4, '0')} <&>`);
    const r = await send('telegram://123456:ABCdef@telegram?chats=1', via(), { title: 'T', message: lines.join('\n'), level: 'info' });
    assert.equal(r.ok, true, r.error);
    assert.ok(rec.requests.length >= 5, `${rec.requests.length} parts`);
    const texts = rec.requests.map((q) => (q.json as { text: string }).text);
    for (const t of texts) assert.ok(Buffer.byteLength(t) <= 4096, `${Buffer.byteLength(t)} bytes`);
    assert.ok(texts[0]!.startsWith('<b>T</b>\n'));
    const unescaped = texts
      .map((t, i) => (i === 0 ? t.slice('<b>T</b>\n'.length) : t))
      .join('\n')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
    assert.equal(unescaped, lines.join('\n'));
  });

  it('parsemode=MarkdownV2 sends the message as is, without the title', async () => {
    rec.queue({ body: { ok: true } });
    const r = await send('telegram://123456:ABCdef@telegram?chats=1&parsemode=markdownv2&notification=no', via());
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(only().json, {
      text: 'line one\nline two',
      chat_id: '1',
      parse_mode: 'MarkdownV2',
      disable_web_page_preview: false,
      disable_notification: true,
      reply_to_message_id: 0,
    });
  });

  it('a refusal (400, ok:false) fails with the description and is not retried', async () => {
    rec.queue({ status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' } });
    const r = await send('telegram://123456:ABCdef@telegram?chats=1', via());
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.match(r.error!, /chat not found/);
    assert.doesNotMatch(r.error!, /ABCdef/);
  });
});

describe('teams', () => {
  it(WIRE.teams.title, async () => {
    const r = await sendCase(rec, WIRE.teams);
    assert.doesNotMatch(r.url, /SECRETSIG123/);
  });

  it('a powerplatform.com workflow URL is accepted; the title block always carries a colour', async () => {
    rec.queue({ status: 200 });
    const pp =
      'https://default0123.45.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=S1G';
    const r = await send(`teams://?host=${encodeURIComponent(pp)}`, via(), { title: 'T', message: 'm', level: 'info' });
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'default0123.45.environment.api.powerplatform.com');
    assert.equal(q.path, '/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke');
    const body = (q.json as { attachments: { content: { body: unknown[] } }[] }).attachments[0]!.content.body;
    assert.deepEqual(body, [
      { type: 'TextBlock', text: 'T', weight: 'Bolder', size: 'Medium', color: 'default' },
      { type: 'TextBlock', text: 'm', wrap: true },
    ]);
  });
});

describe('gotify', () => {
  it(WIRE.gotify.title, async () => {
    await sendCase(rec, WIRE.gotify);
  });

  it('the body always carries extras (null when unset); date= goes as RFC 3339 UTC', async () => {
    rec.queue({ body: { id: 1 } }, { body: { id: 2 } });
    assert.equal((await send('gotify://gotify.example.com/Aaaaaaaaaaaaaaa', via())).ok, true);
    assert.equal((await send('gotify://gotify.example.com/Aaaaaaaaaaaaaaa?date=2026-03-01+02:00:00', via())).ok, true);
    const [a, b] = rec.requests;
    assert.equal(a!.body, JSON.stringify({ message: 'line one\nline two', title: 'Backup ok', priority: 0, extras: null }));
    assert.equal(b!.body, JSON.stringify({ message: 'line one\nline two', title: 'Backup ok', priority: 0, date: '2026-03-01T02:00:00Z', extras: null }));
  });

  it('disabletls and useheader reach a plain-HTTP server directly with X-Gotify-Key', async () => {
    rec.queue({ body: { id: 1 } });
    const r = await send(`gotify://${rec.host}/Aaaaaaaaaaaaaaa?disabletls=yes&useheader=yes`);
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.path, '/message');
    assert.equal(q.query.get('token'), null);
    assert.equal(q.headers['x-gotify-key'], 'Aaaaaaaaaaaaaaa');
  });
});

describe('ntfy', () => {
  it('POST {scheme}://host/topic with the message as body and the options as headers', async () => {
    rec.queue({ body: { id: 'x' } });
    const r = await send(
      `ntfy://user:pa%3Ass@${rec.host}/backups?scheme=http&priority=4&tags=floppy_disk,ok&click=https://example.com&cache=no&firebase=no&actions=view,Open,https://a.example;http,Poke,https://b.example&delay=10m&email=ops@example.com&icon=https://example.com/i.png&attach=https://example.com/f.txt&filename=f.txt`,
      {},
      { title: 'Sauvegarde réussie ✓', message: 'corps', level: 'info' },
    );
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.method, 'POST');
    assert.equal(q.path, '/backups');
    assert.equal(q.body, 'corps');
    const h = q.headers;
    assert.equal(h.title, `=?UTF-8?B?${Buffer.from('Sauvegarde réussie ✓').toString('base64')}?=`);
    assert.equal(h.priority, 'high');
    assert.equal(h.tags, 'floppy_disk,ok');
    assert.equal(h.click, 'https://example.com');
    assert.equal(h.actions, 'view,Open,https://a.example;http,Poke,https://b.example');
    assert.equal(h.delay, '10m');
    assert.equal(h.email, 'ops@example.com');
    assert.equal(h['x-icon'], 'https://example.com/i.png');
    assert.equal(h.attach, 'https://example.com/f.txt');
    assert.equal(h.filename, 'f.txt');
    assert.equal(h.cache, 'no');
    assert.equal(h.firebase, 'no');
    assert.match(String(h['content-type']), /^text\/plain/);
    assert.equal(h.authorization, `Basic ${Buffer.from('user:pa:ss').toString('base64')}`);
  });

  it(WIRE.ntfy.title, async () => {
    await sendCase(rec, WIRE.ntfy);
  });
});

describe('pushover', () => {
  it(WIRE.pushover.title, async () => {
    await sendCase(rec, WIRE.pushover);
  });
});

describe('mattermost', () => {
  it(WIRE.mattermost.title, async () => {
    await sendCase(rec, WIRE.mattermost);
  });
});

describe('matrix', () => {
  it(WIRE.matrix.title, async () => {
    await sendCase(rec, WIRE.matrix);
    const device = deviceId('alice', rec.host);
    assert.equal(deviceId('alice', 'm.example.org:443'), deviceId('alice', 'm.example.org'));
    assert.notEqual(deviceId('bob', rec.host), device);
  });

  it('uses the password as access token without a user, and all joined rooms without rooms=', async () => {
    rec.handle((q) => (q.path.endsWith('/joined_rooms') ? { body: { joined_rooms: ['!a:x.org'] } } : { body: { event_id: '$e' } }));
    const r = await send(`matrix://:syt_token_123@${rec.host}/?disableTLS=yes`);
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(
      rec.requests.map((q) => `${q.method} ${q.path.replace(/[^/]+$/, '')}`),
      ['GET /_matrix/client/v3/', 'PUT /_matrix/client/v3/rooms/!a%3Ax.org/send/m.room.message/'],
    );
    assert.equal(rec.requests[0]!.headers.authorization, 'Bearer syt_token_123');
  });

  it('a server that does not offer password login fails before sending the password', async () => {
    rec.queue({ body: { flows: [{ type: 'm.login.sso' }, { type: 'm.login.token' }] } });
    const r = await send(`matrix://alice:s3cret-pw@${rec.host}/?disableTLS=yes&rooms=!r:x`);
    assert.equal(r.ok, false);
    assert.equal(rec.requests.length, 1);
    assert.match(r.error!, /does not offer password login \(it offers: m\.login\.sso, m\.login\.token\)/);
  });

  it('refused credentials fail without retry', async () => {
    rec.queue({ body: { flows: [{ type: 'm.login.password' }] } }, { status: 403, body: { errcode: 'M_FORBIDDEN', error: 'Invalid password' } });
    const r = await send(`matrix://alice:wrong-pass-9@${rec.host}/?disableTLS=yes&rooms=!r:x`);
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 2);
    assert.match(r.error!, /403/);
    assert.doesNotMatch(r.error!, /wrong-pass-9/);
  });
});

describe('rocketchat', () => {
  it(WIRE.rocketchat.title, async () => {
    await sendCase(rec, WIRE.rocketchat);
  });
});

describe('googlechat', () => {
  it(WIRE.googlechat.title, async () => {
    await sendCase(rec, WIRE.googlechat);
  });
  it(WIRE.hangouts.title, async () => {
    await sendCase(rec, WIRE.hangouts);
  });
});

describe('zulip', () => {
  const zulipPeer = (limits: Record<string, number> = {}) =>
    rec.handle((q) => (q.path === '/api/v1/register' ? { body: { result: 'success', ...limits } } : { body: { result: 'success' } }));

  it(WIRE.zulip.title, async () => {
    await sendCase(rec, WIRE.zulip);
  });

  it('without topic= the title is the topic; the URL title= is used when the message has none', async () => {
    zulipPeer();
    await send('zulip://bot%40example.com:apikey123@zulip.example.com/?stream=ops', via());
    assert.deepEqual(Object.fromEntries(new URLSearchParams(rec.requests[1]!.body)), {
      type: 'channel',
      to: 'ops',
      content: 'line one\nline two',
      topic: 'Backup ok',
    });
    rec.reset();
    zulipPeer();
    await send('zulip://bot%40example.com:apikey123@zulip.example.com/?stream=ops&title=From+URL', via(), { title: '', message: 'm', level: 'info' });
    assert.deepEqual(Object.fromEntries(new URLSearchParams(rec.requests[1]!.body)), { type: 'channel', to: 'ops', content: 'm', topic: 'From URL' });
  });

  it('type=direct sends to= as a JSON list, no topic (the title goes before the text); read_by_sender=true is passed on', async () => {
    zulipPeer();
    const r = await send('zulip://bot%40example.com:apikey123@zulip.example.com/?type=direct&to=7,jane%40example.com&read_by_sender=true', via());
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(rec.requests[1]!.body)), {
      type: 'direct',
      to: '["7","jane@example.com"]',
      content: 'Backup ok\n\nline one\nline two',
      read_by_sender: 'true',
    });
  });

  it("honours the server's limits: a topic over max_topic_length is shortened, content over max_message_length goes in parts (the fork refuses both)", async () => {
    zulipPeer({ max_topic_length: 5, max_message_length: 20 });
    const r = await send('zulip://bot%40example.com:apikey123@zulip.example.com/?stream=ops', via(), {
      title: 'A long title',
      message: 'word '.repeat(10).trim(),
      level: 'info',
    });
    assert.equal(r.ok, true, r.error);
    const forms = rec.requests.slice(1).map((q) => Object.fromEntries(new URLSearchParams(q.body)));
    assert.ok(forms.length >= 3, `${forms.length} parts`);
    for (const f of forms) {
      assert.equal(f.topic, 'A lo…');
      assert.ok(Buffer.byteLength(f.content!) <= 20);
    }
    assert.equal(forms.map((f) => f.content).join(' '), 'word '.repeat(10).trim());
  });

  it('a register that fails keeps the default limits and the message is still sent', async () => {
    rec.handle((q) => (q.path === '/api/v1/register' ? { status: 404, body: 'no' } : { body: { result: 'success' } }));
    const r = await send('zulip://bot%40example.com:apikey123@zulip.example.com/?stream=ops', via());
    assert.equal(r.ok, true, r.error);
    assert.equal(rec.requests.length, 2);
  });
});

describe('ifttt', () => {
  it(WIRE.ifttt.title, async () => {
    await sendCase(rec, WIRE.ifttt);
  });
});

describe('join', () => {
  it(WIRE.join.title, async () => {
    await sendCase(rec, WIRE.join);
  });
});

describe('bark', () => {
  it(WIRE.bark.title, async () => {
    await sendCase(rec, WIRE.bark);
  });

  it('a JSON code other than 200 fails', async () => {
    rec.queue({ body: { code: 400, message: 'device not found' } });
    const r = await send('bark://:devkey123@bark.example.com', via());
    assert.equal(r.ok, false);
    assert.match(r.error!, /device not found/);
  });
});

describe('opsgenie', () => {
  it(WIRE.opsgenie.title, async () => {
    await sendCase(rec, WIRE.opsgenie);
  });
});

describe('opsgenie port', () => {
  it('the request URL names port 443 explicitly, as the fork does', async () => {
    const seen: string[] = [];
    const inner = rec.rewriteFetch();
    const spy = ((input: string | URL | Request, init?: RequestInit) => {
      seen.push(String(input));
      return inner(input, init);
    }) as typeof fetch;
    rec.queue({ status: 202 });
    const r = await send('opsgenie://api.opsgenie.com/opsgeniekey123', { fetch: spy });
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(seen, ['https://api.opsgenie.com:443/v2/alerts']);
  });
});

describe('pushbullet', () => {
  it(WIRE.pushbullet.title, async () => {
    await sendCase(rec, WIRE.pushbullet);
  });
});

describe('generic', () => {
  it(WIRE.generic.title, async () => {
    await sendCase(rec, WIRE.generic);
  });

  it('without a template the raw message goes as text/plain; method= is honoured', async () => {
    rec.queue({});
    const r = await send(`generic://${rec.host}/raw?disabletls=yes&method=put`);
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.method, 'PUT');
    assert.equal(q.headers['content-type'], 'text/plain');
    assert.equal(q.body, 'line one\nline two');
  });

  it('generic:// and generic+https:// go to https', async () => {
    rec.queue({}, {});
    assert.equal((await send('generic://hooks.example.com/a', via())).ok, true);
    assert.equal((await send('generic+https://hooks.example.com:8443/b', via())).ok, true);
    assert.deepEqual(
      rec.requests.map((q) => `${q.originalScheme}//${q.originalHost}${q.path}`),
      ['https://hooks.example.com/a', 'https://hooks.example.com:8443/b'],
    );
  });

  it('a status >= 400 fails', async () => {
    rec.queue({ status: 404, body: 'no such hook' });
    const r = await send(`generic+http://${rec.host}/x`);
    assert.equal(r.ok, false);
    assert.match(r.error!, /404/);
  });
});
