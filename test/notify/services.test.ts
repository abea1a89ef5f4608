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

const rec: HttpRecorder = await startRecorder();
after(() => rec.close());
beforeEach(() => rec.reset());
const via = () => ({ fetch: rec.rewriteFetch() });

function only(): RecordedRequest {
  assert.equal(rec.requests.length, 1, `expected one request, got ${rec.requests.length}`);
  return rec.requests[0]!;
}

describe('slack', () => {
  it('webhook token: POST hooks.slack.com/services/A/B/C, one attachment per line, no channel', async () => {
    rec.queue({ body: 'ok' });
    const r = await send('slack://hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC@webhook?color=good&botname=backup&icon=:floppy_disk:', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.method, 'POST');
    assert.equal(q.originalScheme, 'https:');
    assert.equal(q.originalHost, 'hooks.slack.com');
    assert.equal(q.path, '/services/AAAAAAAAA/BBBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC');
    assert.match(String(q.headers['content-type']), /application\/json/);
    assert.deepEqual(q.json, {
      text: 'Backup ok',
      username: 'backup',
      attachments: [
        { text: 'line one', color: 'good' },
        { text: 'line two', color: 'good' },
      ],
      icon_emoji: ':floppy_disk:',
    });
  });

  it('bot token: POST slack.com/api/chat.postMessage with a Bearer token and the channel', async () => {
    rec.queue({ body: { ok: true } });
    const r = await send('slack://xoxb:123456789012-1234567890123-abcdefghijklmnopqrstuvwx@C0CHANNELID?thread_ts=1234.5&icon=https://example.com/i.png', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'slack.com');
    assert.equal(q.path, '/api/chat.postMessage');
    assert.equal(q.headers.authorization, 'Bearer xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx');
    assert.deepEqual(q.json, {
      text: 'Backup ok',
      attachments: [{ text: 'line one' }, { text: 'line two' }],
      thread_ts: '1234.5',
      channel: 'C0CHANNELID',
      icon_url: 'https://example.com/i.png',
    });
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
  it('POST discord.com/api/webhooks/{id}/{token} with embeds (title on the first) and thread_id', async () => {
    rec.queue({ status: 204 });
    const r = await send('discord://tok3n-value@123456789012345678?username=Backup&avatar=https://example.com/a.png&thread_id=777', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'discord.com');
    assert.equal(q.path, '/api/webhooks/123456789012345678/tok3n-value');
    assert.equal(q.query.get('thread_id'), '777');
    assert.deepEqual(q.json, {
      embeds: [
        { title: 'Backup ok', description: 'line one', color: 0x50d9ff },
        { description: 'line two', color: 0x50d9ff },
      ],
      username: 'Backup',
      avatar_url: 'https://example.com/a.png',
    });
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
  it('POST api.telegram.org/bot<token>/sendMessage per chat, title as bold HTML, thread ids', async () => {
    rec.handle(() => ({ body: { ok: true, result: {} } }));
    const r = await send('telegram://123456:ABC-def_ghi@telegram?chats=@mychannel,-100123:42&preview=no', via(), {
      title: 'Backup <ok>',
      message: 'a & b\nline two',
      level: 'info',
    });
    assert.equal(r.ok, true, r.error);
    assert.equal(rec.requests.length, 2);
    const [a, b] = rec.requests;
    assert.equal(a!.originalHost, 'api.telegram.org');
    assert.equal(a!.path, '/bot123456:ABC-def_ghi/sendMessage');
    assert.deepEqual(a!.json, {
      text: '<b>Backup &lt;ok&gt;</b>\na &amp; b\nline two',
      chat_id: '@mychannel',
      parse_mode: 'HTML',
      disable_web_page_preview: true,
      disable_notification: false,
      reply_to_message_id: 0,
    });
    assert.deepEqual(b!.json, {
      text: '<b>Backup &lt;ok&gt;</b>\na &amp; b\nline two',
      chat_id: '-100123',
      message_thread_id: 42,
      parse_mode: 'HTML',
      disable_web_page_preview: true,
      disable_notification: false,
      reply_to_message_id: 0,
    });
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
  const wf =
    'https://prod-01.westeurope.logic.azure.com:443/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig=SECRETSIG123';
  it('workflow URL in host=: POST an adaptive card to it', async () => {
    rec.queue({ status: 202 });
    const r = await send(`teams://?host=${encodeURIComponent(wf)}&color=red`, via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'prod-01.westeurope.logic.azure.com');
    assert.equal(q.path, '/workflows/abc123/triggers/manual/paths/invoke');
    assert.equal(q.query.get('sig'), 'SECRETSIG123');
    assert.equal(q.query.get('sp'), '/triggers/manual/run');
    assert.deepEqual(q.json, {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.2',
            body: [
              { type: 'TextBlock', text: 'Backup ok', weight: 'Bolder', size: 'Medium', color: 'attention' },
              { type: 'TextBlock', text: 'line one', wrap: true },
              { type: 'TextBlock', text: 'line two', wrap: true },
            ],
          },
        },
      ],
    });
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
  it('POST https://host/sub/message?token=..., title and priority, extras', async () => {
    rec.queue({ body: { id: 1 } });
    const extras = encodeURIComponent(JSON.stringify({ 'client::display': { contentType: 'text/plain' } }));
    const r = await send(`gotify://gotify.example.com/sub/Aaaaaaaaaaaaaaa?priority=5&extras=${extras}`, via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalScheme, 'https:');
    assert.equal(q.originalHost, 'gotify.example.com');
    assert.equal(q.path, '/sub/message');
    assert.equal(q.query.get('token'), 'Aaaaaaaaaaaaaaa');
    assert.deepEqual(q.json, { message: 'line one\nline two', title: 'Backup ok', priority: 5, extras: { 'client::display': { contentType: 'text/plain' } } });
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

  it('defaults to https://ntfy.sh, sends no Cache/Firebase headers, and a token as Bearer', async () => {
    rec.queue({ body: {} });
    const r = await send('ntfy:///alerts?token=tk_abcdef&markdown=yes', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalScheme, 'https:');
    assert.equal(q.originalHost, 'ntfy.sh');
    assert.equal(q.path, '/alerts');
    assert.equal(q.headers.authorization, 'Bearer tk_abcdef');
    assert.equal(q.headers['content-type'], 'text/markdown');
    assert.equal(q.headers.cache, undefined);
    assert.equal(q.headers.priority, 'default');
    assert.equal(q.headers.title, 'Backup ok');
  });
});

describe('pushover', () => {
  it('POST api.pushover.net/1/messages.json as a form', async () => {
    rec.queue({ body: { status: 1 } });
    const r = await send('pushover://shoutrrr:azGDORePK8gMaC0QOYAMyEEuzJnyUi@uQiRzpo4DXghDmr9QzzfQu27cmVRsG/?devices=phone,tablet&priority=1', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'api.pushover.net');
    assert.equal(q.path, '/1/messages.json');
    assert.equal(q.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(q.body)), {
      device: 'phone,tablet',
      message: 'line one\nline two',
      priority: '1',
      title: 'Backup ok',
      token: 'azGDORePK8gMaC0QOYAMyEEuzJnyUi',
      user: 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG',
    });
  });
});

describe('mattermost', () => {
  it('POST /hooks/TOKEN with the title prepended, user name, channel and icon', async () => {
    rec.queue({ body: 'ok' });
    const r = await send(`mattermost://backupbot@${rec.host}/tokenabc123/town-square?disabletls=yes&icon=https://example.com/i.png`);
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.path, '/hooks/tokenabc123');
    assert.deepEqual(q.json, { text: 'Backup ok\nline one\nline two', username: 'backupbot', channel: 'town-square', icon_url: 'https://example.com/i.png' });
  });
});

describe('matrix', () => {
  it('asks the login flows, logs in with a password and a stable device id, joins an alias, sends to each room', async () => {
    rec.handle((q) => {
      if (q.path.endsWith('/login') && q.method === 'GET') return { body: { flows: [{ type: 'm.login.sso' }, { type: 'm.login.password' }] } };
      if (q.path.endsWith('/login')) return { body: { access_token: 'syt_access', user_id: '@alice:example.org' } };
      if (q.path.includes('/join/')) return { body: { room_id: '!joined:example.org' } };
      if (q.method === 'PUT') return { body: { event_id: '$ev' } };
      return { status: 404, body: { errcode: 'M_UNRECOGNIZED' } };
    });
    const r = await send(`matrix://alice:s3cret-pw@${rec.host}/?rooms=ops:example.org,!room2:example.org&disableTLS=yes`);
    assert.equal(r.ok, true, r.error);
    const [flows, login, join, put1, put2] = rec.requests;
    assert.equal(rec.requests.length, 5);
    assert.equal(flows!.method, 'GET');
    assert.equal(flows!.path, '/_matrix/client/v3/login');
    assert.equal(flows!.headers.authorization, undefined);
    assert.equal(login!.method, 'POST');
    assert.equal(login!.path, '/_matrix/client/v3/login');
    const device = deviceId('alice', rec.host);
    assert.match(device, /^SH[A-Za-z0-9]{8}$/);
    assert.equal(deviceId('alice', 'm.example.org:443'), deviceId('alice', 'm.example.org'));
    assert.notEqual(deviceId('bob', rec.host), device);
    assert.deepEqual(login!.json, { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 's3cret-pw', device_id: device });
    assert.equal(join!.path, '/_matrix/client/v3/join/%23ops%3Aexample.org');
    assert.equal(join!.headers.authorization, 'Bearer syt_access');
    assert.equal(put1!.method, 'PUT');
    assert.match(put1!.path, /^\/_matrix\/client\/v3\/rooms\/!joined%3Aexample\.org\/send\/m\.room\.message\/[\w-]+$/);
    assert.deepEqual(put1!.json, { msgtype: 'm.text', body: 'Backup ok\n\nline one\nline two' });
    assert.match(put2!.path, /\/rooms\/!room2%3Aexample\.org\/send\/m\.room\.message\//);
    assert.notEqual(put1!.path.split('/').pop(), put2!.path.split('/').pop());
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
  it('POST https://host/hooks/A/B with the message only, user name and #channel', async () => {
    rec.queue({ body: { success: true } });
    const r = await send('rocketchat://bot@chat.example.com/TOKENAAAA/TOKENBBBB/general', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'chat.example.com');
    assert.equal(q.path, '/hooks/TOKENAAAA/TOKENBBBB');
    assert.deepEqual(q.json, { text: 'line one\nline two', username: 'bot', channel: '#general' });
  });
});

describe('googlechat', () => {
  for (const scheme of ['googlechat', 'hangouts']) {
    it(`${scheme}: POST the webhook URL with key and token, {text}`, async () => {
      rec.queue({ body: {} });
      const r = await send(`${scheme}://chat.googleapis.com/v1/spaces/FOO/messages?key=KEY1234&token=TOK5678`, via());
      assert.equal(r.ok, true, r.error);
      const q = only();
      assert.equal(q.originalHost, 'chat.googleapis.com');
      assert.equal(q.path, '/v1/spaces/FOO/messages');
      assert.equal(q.query.get('key'), 'KEY1234');
      assert.equal(q.query.get('token'), 'TOK5678');
      assert.deepEqual(q.json, { text: 'line one\nline two' });
    });
  }
});

describe('zulip', () => {
  const auth = `Basic ${Buffer.from('bot@example.com:apikey123').toString('base64')}`;
  const zulipPeer = (limits: Record<string, number> = {}) =>
    rec.handle((q) => (q.path === '/api/v1/register' ? { body: { result: 'success', ...limits } } : { body: { result: 'success' } }));

  it('first asks the server its limits (POST /api/v1/register), then POSTs /api/v1/messages with type=channel', async () => {
    zulipPeer();
    const r = await send('zulip://bot%40example.com:apikey123@zulip.example.com/?stream=ops&topic=backups', via());
    assert.equal(r.ok, true, r.error);
    assert.equal(rec.requests.length, 2);
    const [reg, q] = rec.requests;
    assert.equal(reg!.method, 'POST');
    assert.equal(reg!.originalHost, 'zulip.example.com');
    assert.equal(reg!.path, '/api/v1/register');
    assert.equal(reg!.headers.authorization, auth);
    assert.equal(reg!.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(reg!.body)), { fetch_event_types: '["realm"]' });
    assert.equal(q!.path, '/api/v1/messages');
    assert.equal(q!.headers.authorization, auth);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(q!.body)), {
      type: 'channel',
      to: 'ops',
      content: 'Backup ok\n\nline one\nline two',
      topic: 'backups',
    });
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
  it('POST maker.ifttt.com/trigger/{event}/with/key/{key} per event with value1-3', async () => {
    rec.handle(() => ({ body: 'Congratulations!' }));
    const r = await send('ifttt://ifttkey123/?events=backup_done,other&value1=v1&messagevalue=2&titlevalue=3', via());
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(
      rec.requests.map((q) => [q.originalHost, q.path]),
      [
        ['maker.ifttt.com', '/trigger/backup_done/with/key/ifttkey123'],
        ['maker.ifttt.com', '/trigger/other/with/key/ifttkey123'],
      ],
    );
    assert.deepEqual(rec.requests[0]!.json, { value1: 'v1', value2: 'line one\nline two', value3: 'Backup ok' });
  });
});

describe('join', () => {
  it('POST sendPush with everything in the query and an empty body', async () => {
    rec.queue({ body: { success: true } });
    const r = await send('join://shoutrrr:joinapikey123@join/?devices=dev1,dev2&icon=https://example.com/i.png', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'joinjoaomgcd.appspot.com');
    assert.equal(q.path, '/_ah/api/messaging/v1/sendPush');
    assert.deepEqual(
      [...q.query],
      [
        ['apikey', 'joinapikey123'],
        ['deviceIds', 'dev1,dev2'],
        ['icon', 'https://example.com/i.png'],
        ['text', 'line one\nline two'],
        ['title', 'Backup ok'],
      ],
    );
    assert.equal(q.body, '');
    assert.equal(q.headers['content-type'], 'text/plain');
  });
});

describe('bark', () => {
  it('POST {scheme}://host/path/push with the device key; JSON code 200 is success', async () => {
    rec.queue({ body: { code: 200, message: 'success' } });
    const r = await send('bark://:devkey123@bark.example.com/sub?sound=bell&group=backup&badge=2', via());
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'bark.example.com');
    assert.equal(q.path, '/sub/push');
    assert.deepEqual(q.json, { body: 'line one\nline two', device_key: 'devkey123', title: 'Backup ok', sound: 'bell', badge: 2, group: 'backup' });
  });

  it('a JSON code other than 200 fails', async () => {
    rec.queue({ body: { code: 400, message: 'device not found' } });
    const r = await send('bark://:devkey123@bark.example.com', via());
    assert.equal(r.ok, false);
    assert.match(r.error!, /device not found/);
  });
});

describe('opsgenie', () => {
  it('POST https://host/v2/alerts with GenieKey, the title as message and the text as description', async () => {
    rec.queue({ status: 202, body: { result: 'Request will be processed' } });
    const r = await send(
      'opsgenie://api.eu.opsgenie.com/opsgeniekey123?responders=team:ops,user:jane@example.com&tags=backup,nightly&priority=P2&details=host:nas,job:nightly&alias=offsite-nightly',
      via(),
    );
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.originalHost, 'api.eu.opsgenie.com');
    assert.equal(q.path, '/v2/alerts');
    assert.equal(q.headers.authorization, 'GenieKey opsgeniekey123');
    assert.deepEqual(q.json, {
      message: 'Backup ok',
      alias: 'offsite-nightly',
      description: 'line one\nline two',
      responders: [
        { type: 'team', name: 'ops' },
        { type: 'user', username: 'jane@example.com' },
      ],
      tags: ['backup', 'nightly'],
      details: { host: 'nas', job: 'nightly' },
      priority: 'P2',
    });
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
  it('one push per target: device, e-mail and #channel', async () => {
    rec.handle(() => ({ body: { type: 'note', active: true } }));
    const r = await send('pushbullet://o.abcdefghijklmnopqrstuvwxyz123456/device1/me@example.com#mychan', via());
    assert.equal(r.ok, true, r.error);
    assert.equal(rec.requests.length, 3);
    for (const q of rec.requests) {
      assert.equal(q.originalHost, 'api.pushbullet.com');
      assert.equal(q.path, '/v2/pushes');
      assert.equal(q.headers['access-token'], 'o.abcdefghijklmnopqrstuvwxyz123456');
    }
    const base = { type: 'note', title: 'Backup ok', body: 'line one\nline two', email: '', channel_tag: '', device_iden: '' };
    assert.deepEqual(
      rec.requests.map((q) => q.json),
      [
        { ...base, device_iden: 'device1' },
        { ...base, email: 'me@example.com' },
        { ...base, channel_tag: 'mychan' },
      ],
    );
  });
});

describe('generic', () => {
  it('generic+http: template=json with title/message keys, @headers, $extras, other params kept, __ escapes', async () => {
    rec.queue({ status: 201 });
    const r = await send(
      `generic+http://${rec.host}/hook/path?template=json&titlekey=subject&messagekey=text&@XApiKey=k-123456&$source=offsite&foo=bar&__title=kept`,
    );
    assert.equal(r.ok, true, r.error);
    const q = only();
    assert.equal(q.method, 'POST');
    assert.equal(q.path, '/hook/path');
    assert.deepEqual(Object.fromEntries(q.query), { foo: 'bar', title: 'kept' });
    assert.equal(q.headers['x-api-key'], 'k-123456');
    assert.equal(q.headers['content-type'], 'application/json');
    assert.equal(q.headers.accept, 'application/json');
    assert.equal(q.body, JSON.stringify({ source: 'offsite', subject: 'Backup ok', text: 'line one\nline two' }));
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
