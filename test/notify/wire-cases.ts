/**
 * One request (or sequence) per HTTP notification service as it must arrive: the URL, the
 * message, the peer's answers, and what the peer receives field by field (as the shoutrrr
 * fork puts it on the wire). Shared by the per-service tests (services.test.ts,
 * services-more.test.ts: sent in-process, public hosts through the recorder's rewriteFetch) and
 * proxy.test.ts (sent by the offsite process through HTTPS_PROXY / HTTP_PROXY: the same
 * expectations hold for what arrives through the proxy).
 */
import assert from 'node:assert/strict';
import type { Handler, HttpRecorder, RecordedRequest, Reply } from '../servers/http-recorder.ts';
import { deviceId } from '../../src/notify/services/matrix.ts';
import type { NotifyMessage } from '../../src/notify/types.ts';
import type { SendOptions } from '../../src/notify/send.ts';
import type { NotificationResult } from '../../src/notify/types.ts';
import { MSG, send } from './helpers.ts';

export interface WireCase {
  /** The test's title. */
  title: string;
  /** The notification URL; `host` is the recorder's 127.0.0.1:PORT (for services whose server the user names). */
  url: (host: string) => string;
  /** The message sent (default MSG: "Backup ok" / "line one\nline two", level info). */
  msg?: NotifyMessage;
  /** Answers of the peer, in order, one per request. */
  replies?: Reply[];
  /** Or an answer for every request. */
  handler?: Handler;
  /**
   * The https host the service reaches, when it is not the recorder: the service's fixed public host
   * (hooks.slack.com...) or an https-only one given in the URL (gotify.example.com...); `host:port`
   * when the port is not 443. Undefined: the URL names the recorder (plain http).
   */
  https?: string;
  /** What the peer must have received; `host` as for url(). */
  check: (requests: RecordedRequest[], host: string) => void;
}

function only(requests: RecordedRequest[]): RecordedRequest {
  assert.equal(requests.length, 1, `expected one request, got ${requests.length}`);
  return requests[0]!;
}

/**
 * Send a case's notification in-process to the recorder (public hosts through its
 * rewriteFetch, or `opts.fetch`), check that it worked and what the recorder received.
 */
export async function sendCase(rec: HttpRecorder, c: WireCase, opts: SendOptions = {}): Promise<NotificationResult> {
  if (c.replies) rec.queue(...c.replies);
  if (c.handler) rec.handle(c.handler);
  const r = await send(c.url(rec.host), { ...(c.https ? { fetch: rec.rewriteFetch() } : {}), ...opts }, c.msg ?? MSG);
  assert.equal(r.ok, true, r.error);
  c.check(rec.requests, rec.host);
  return r;
}

const PAGERDUTY_KEY = '0123456789abcdef0123456789ABCDEF';
const ZULIP_AUTH = `Basic ${Buffer.from('bot@example.com:apikey123').toString('base64')}`;
export const TEAMS_WORKFLOW =
  'https://prod-01.westeurope.logic.azure.com:443/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig=SECRETSIG123';

const googlechat = (scheme: string): WireCase => ({
  title: `${scheme}: POST the webhook URL with key and token, {text}`,
  url: () => `${scheme}://chat.googleapis.com/v1/spaces/FOO/messages?key=KEY1234&token=TOK5678`,
  replies: [{ body: {} }],
  https: 'chat.googleapis.com',
  check: (requests) => {
    const q = only(requests);
    assert.equal(q.originalHost, 'chat.googleapis.com');
    assert.equal(q.path, '/v1/spaces/FOO/messages');
    assert.equal(q.query.get('key'), 'KEY1234');
    assert.equal(q.query.get('token'), 'TOK5678');
    assert.deepEqual(q.json, { text: 'line one\nline two' });
  },
});

const CASES = {
  slackWebhook: {
    title: 'webhook token: POST hooks.slack.com/services/A/B/C, one attachment per line, no channel',
    url: () => 'slack://hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC@webhook?color=good&botname=backup&icon=:floppy_disk:',
    replies: [{ body: 'ok' }],
    https: 'hooks.slack.com',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
  slackBot: {
    title: 'bot token: POST slack.com/api/chat.postMessage with a Bearer token and the channel',
    url: () => 'slack://xoxb:123456789012-1234567890123-abcdefghijklmnopqrstuvwx@C0CHANNELID?thread_ts=1234.5&icon=https://example.com/i.png',
    replies: [{ body: { ok: true } }],
    https: 'slack.com',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
  discord: {
    title: 'POST discord.com/api/webhooks/{id}/{token} with embeds (title on the first) and thread_id',
    url: () => 'discord://tok3n-value@123456789012345678?username=Backup&avatar=https://example.com/a.png&thread_id=777',
    replies: [{ status: 204 }],
    https: 'discord.com',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
  telegram: {
    title: 'POST api.telegram.org/bot<token>/sendMessage per chat, title as bold HTML, thread ids',
    url: () => 'telegram://123456:ABC-def_ghi@telegram?chats=@mychannel,-100123:42&preview=no',
    msg: { title: 'Backup <ok>', message: 'a & b\nline two', level: 'info' },
    handler: () => ({ body: { ok: true, result: {} } }),
    https: 'api.telegram.org',
    check: (requests) => {
      assert.equal(requests.length, 2);
      const [a, b] = requests;
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
    },
  },
  teams: {
    title: 'workflow URL in host=: POST an adaptive card to it',
    url: () => `teams://?host=${encodeURIComponent(TEAMS_WORKFLOW)}&color=red`,
    replies: [{ status: 202 }],
    https: 'prod-01.westeurope.logic.azure.com',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
  gotify: {
    title: 'POST https://host/sub/message?token=..., title and priority, extras',
    url: () =>
      `gotify://gotify.example.com/sub/Aaaaaaaaaaaaaaa?priority=5&extras=${encodeURIComponent(JSON.stringify({ 'client::display': { contentType: 'text/plain' } }))}`,
    replies: [{ body: { id: 1 } }],
    https: 'gotify.example.com',
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.originalScheme, 'https:');
      assert.equal(q.originalHost, 'gotify.example.com');
      assert.equal(q.path, '/sub/message');
      assert.equal(q.query.get('token'), 'Aaaaaaaaaaaaaaa');
      assert.deepEqual(q.json, {
        message: 'line one\nline two',
        title: 'Backup ok',
        priority: 5,
        extras: { 'client::display': { contentType: 'text/plain' } },
      });
    },
  },
  ntfy: {
    title: 'defaults to https://ntfy.sh, sends no Cache/Firebase headers, and a token as Bearer',
    url: () => 'ntfy:///alerts?token=tk_abcdef&markdown=yes',
    replies: [{ body: {} }],
    https: 'ntfy.sh',
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.originalScheme, 'https:');
      assert.equal(q.originalHost, 'ntfy.sh');
      assert.equal(q.path, '/alerts');
      assert.equal(q.headers.authorization, 'Bearer tk_abcdef');
      assert.equal(q.headers['content-type'], 'text/markdown');
      assert.equal(q.headers.cache, undefined);
      assert.equal(q.headers.priority, 'default');
      assert.equal(q.headers.title, 'Backup ok');
    },
  },
  pushover: {
    title: 'POST api.pushover.net/1/messages.json as a form',
    url: () => 'pushover://shoutrrr:azGDORePK8gMaC0QOYAMyEEuzJnyUi@uQiRzpo4DXghDmr9QzzfQu27cmVRsG/?devices=phone,tablet&priority=1',
    replies: [{ body: { status: 1 } }],
    https: 'api.pushover.net',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
  mattermost: {
    title: 'POST /hooks/TOKEN with the title prepended, user name, channel and icon',
    url: (host) => `mattermost://backupbot@${host}/tokenabc123/town-square?disabletls=yes&icon=https://example.com/i.png`,
    replies: [{ body: 'ok' }],
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.path, '/hooks/tokenabc123');
      assert.deepEqual(q.json, { text: 'Backup ok\nline one\nline two', username: 'backupbot', channel: 'town-square', icon_url: 'https://example.com/i.png' });
    },
  },
  matrix: {
    title: 'asks the login flows, logs in with a password and a stable device id, joins an alias, sends to each room',
    url: (host) => `matrix://alice:s3cret-pw@${host}/?rooms=ops:example.org,!room2:example.org&disableTLS=yes`,
    handler: (q) => {
      if (q.path.endsWith('/login') && q.method === 'GET') return { body: { flows: [{ type: 'm.login.sso' }, { type: 'm.login.password' }] } };
      if (q.path.endsWith('/login')) return { body: { access_token: 'syt_access', user_id: '@alice:example.org' } };
      if (q.path.includes('/join/')) return { body: { room_id: '!joined:example.org' } };
      if (q.method === 'PUT') return { body: { event_id: '$ev' } };
      return { status: 404, body: { errcode: 'M_UNRECOGNIZED' } };
    },
    check: (requests, host) => {
      const [flows, login, join, put1, put2] = requests;
      assert.equal(requests.length, 5);
      assert.equal(flows!.method, 'GET');
      assert.equal(flows!.path, '/_matrix/client/v3/login');
      assert.equal(flows!.headers.authorization, undefined);
      assert.equal(login!.method, 'POST');
      assert.equal(login!.path, '/_matrix/client/v3/login');
      const device = deviceId('alice', host);
      assert.match(device, /^SH[A-Za-z0-9]{8}$/);
      assert.deepEqual(login!.json, { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 's3cret-pw', device_id: device });
      assert.equal(join!.path, '/_matrix/client/v3/join/%23ops%3Aexample.org');
      assert.equal(join!.headers.authorization, 'Bearer syt_access');
      assert.equal(put1!.method, 'PUT');
      assert.match(put1!.path, /^\/_matrix\/client\/v3\/rooms\/!joined%3Aexample\.org\/send\/m\.room\.message\/[\w-]+$/);
      assert.deepEqual(put1!.json, { msgtype: 'm.text', body: 'Backup ok\n\nline one\nline two' });
      assert.match(put2!.path, /\/rooms\/!room2%3Aexample\.org\/send\/m\.room\.message\//);
      assert.notEqual(put1!.path.split('/').pop(), put2!.path.split('/').pop());
    },
  },
  rocketchat: {
    title: 'POST https://host/hooks/A/B with the message only, user name and #channel',
    url: () => 'rocketchat://bot@chat.example.com/TOKENAAAA/TOKENBBBB/general',
    replies: [{ body: { success: true } }],
    https: 'chat.example.com',
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.originalHost, 'chat.example.com');
      assert.equal(q.path, '/hooks/TOKENAAAA/TOKENBBBB');
      assert.deepEqual(q.json, { text: 'line one\nline two', username: 'bot', channel: '#general' });
    },
  },
  googlechat: googlechat('googlechat'),
  hangouts: googlechat('hangouts'),
  zulip: {
    title: 'first asks the server its limits (POST /api/v1/register), then POSTs /api/v1/messages with type=channel',
    url: () => 'zulip://bot%40example.com:apikey123@zulip.example.com/?stream=ops&topic=backups',
    handler: (q) => (q.path === '/api/v1/register' ? { body: { result: 'success' } } : { body: { result: 'success' } }),
    https: 'zulip.example.com',
    check: (requests) => {
      assert.equal(requests.length, 2);
      const [reg, q] = requests;
      assert.equal(reg!.method, 'POST');
      assert.equal(reg!.originalHost, 'zulip.example.com');
      assert.equal(reg!.path, '/api/v1/register');
      assert.equal(reg!.headers.authorization, ZULIP_AUTH);
      assert.equal(reg!.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.deepEqual(Object.fromEntries(new URLSearchParams(reg!.body)), { fetch_event_types: '["realm"]' });
      assert.equal(q!.path, '/api/v1/messages');
      assert.equal(q!.headers.authorization, ZULIP_AUTH);
      assert.deepEqual(Object.fromEntries(new URLSearchParams(q!.body)), {
        type: 'channel',
        to: 'ops',
        content: 'Backup ok\n\nline one\nline two',
        topic: 'backups',
      });
    },
  },
  ifttt: {
    title: 'POST maker.ifttt.com/trigger/{event}/with/key/{key} per event with value1-3',
    url: () => 'ifttt://ifttkey123/?events=backup_done,other&value1=v1&messagevalue=2&titlevalue=3',
    handler: () => ({ body: 'Congratulations!' }),
    https: 'maker.ifttt.com',
    check: (requests) => {
      assert.deepEqual(
        requests.map((q) => [q.originalHost, q.path]),
        [
          ['maker.ifttt.com', '/trigger/backup_done/with/key/ifttkey123'],
          ['maker.ifttt.com', '/trigger/other/with/key/ifttkey123'],
        ],
      );
      assert.deepEqual(requests[0]!.json, { value1: 'v1', value2: 'line one\nline two', value3: 'Backup ok' });
    },
  },
  join: {
    title: 'POST sendPush with everything in the query and an empty body',
    url: () => 'join://shoutrrr:joinapikey123@join/?devices=dev1,dev2&icon=https://example.com/i.png',
    replies: [{ body: { success: true } }],
    https: 'joinjoaomgcd.appspot.com',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
  bark: {
    title: 'POST {scheme}://host/path/push with the device key; JSON code 200 is success',
    url: () => 'bark://:devkey123@bark.example.com/sub?sound=bell&group=backup&badge=2',
    replies: [{ body: { code: 200, message: 'success' } }],
    https: 'bark.example.com',
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.originalHost, 'bark.example.com');
      assert.equal(q.path, '/sub/push');
      assert.deepEqual(q.json, { body: 'line one\nline two', device_key: 'devkey123', title: 'Backup ok', sound: 'bell', badge: 2, group: 'backup' });
    },
  },
  opsgenie: {
    title: 'POST https://host/v2/alerts with GenieKey, the title as message and the text as description',
    url: () =>
      'opsgenie://api.eu.opsgenie.com/opsgeniekey123?responders=team:ops,user:jane@example.com&tags=backup,nightly&priority=P2&details=host:nas,job:nightly&alias=offsite-nightly',
    replies: [{ status: 202, body: { result: 'Request will be processed' } }],
    https: 'api.eu.opsgenie.com',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
  pushbullet: {
    title: 'one push per target: device, e-mail and #channel',
    url: () => 'pushbullet://o.abcdefghijklmnopqrstuvwxyz123456/device1/me@example.com#mychan',
    handler: () => ({ body: { type: 'note', active: true } }),
    https: 'api.pushbullet.com',
    check: (requests) => {
      assert.equal(requests.length, 3);
      for (const q of requests) {
        assert.equal(q.originalHost, 'api.pushbullet.com');
        assert.equal(q.path, '/v2/pushes');
        assert.equal(q.headers['access-token'], 'o.abcdefghijklmnopqrstuvwxyz123456');
      }
      const base = { type: 'note', title: 'Backup ok', body: 'line one\nline two', email: '', channel_tag: '', device_iden: '' };
      assert.deepEqual(
        requests.map((q) => q.json),
        [
          { ...base, device_iden: 'device1' },
          { ...base, email: 'me@example.com' },
          { ...base, channel_tag: 'mychan' },
        ],
      );
    },
  },
  generic: {
    title: 'generic+http: template=json with title/message keys, @headers, $extras, other params kept, __ escapes',
    url: (host) => `generic+http://${host}/hook/path?template=json&titlekey=subject&messagekey=text&@XApiKey=k-123456&$source=offsite&foo=bar&__title=kept`,
    replies: [{ status: 201 }],
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.method, 'POST');
      assert.equal(q.path, '/hook/path');
      assert.deepEqual(Object.fromEntries(q.query), { foo: 'bar', title: 'kept' });
      assert.equal(q.headers['x-api-key'], 'k-123456');
      assert.equal(q.headers['content-type'], 'application/json');
      assert.equal(q.headers.accept, 'application/json');
      assert.equal(q.body, JSON.stringify({ source: 'offsite', subject: 'Backup ok', text: 'line one\nline two' }));
    },
  },
  lark: {
    title: 'POST https://open.larksuite.com/open-apis/bot/v2/hook/TOKEN: a post with the title, the text and the link',
    url: () => 'lark://open.larksuite.com/hooktoken123?link=https://example.com/run',
    replies: [{ body: { code: 0, msg: 'success' } }],
    https: 'open.larksuite.com',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
  wecom: {
    title: 'POST qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY with a text message and the mention lists',
    url: () => 'wecom://693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa?mentioned_list=alice,@all&mentioned_mobile_list=13800001111',
    replies: [{ body: { errcode: 0, errmsg: 'ok' } }],
    https: 'qyapi.weixin.qq.com',
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.originalHost, 'qyapi.weixin.qq.com');
      assert.equal(q.path, '/cgi-bin/webhook/send');
      assert.deepEqual([...q.query], [['key', '693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa']]);
      assert.equal(q.headers['content-type'], 'application/json');
      assert.deepEqual(q.json, {
        msgtype: 'text',
        text: { content: 'line one\nline two', mentioned_list: ['alice', '@all'], mentioned_mobile_list: ['13800001111'] },
      });
    },
  },
  pagerduty: {
    title: 'POST https://events.pagerduty.com:443/v2/enqueue, an Events API v2 trigger with the text as summary',
    url: () =>
      `pagerduty:///${PAGERDUTY_KEY}?severity=critical&source=nas&dedup_key=offsite-nightly&details=${encodeURIComponent('{"job":"nightly","n":1}')}&contexts=link:https://example.com/run,image:https://example.com/i.png,text:ignored&client=offsite&client_url=https://example.com`,
    replies: [{ status: 202, body: { status: 'success', dedup_key: 'x' } }],
    https: 'events.pagerduty.com',
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.originalHost, 'events.pagerduty.com');
      assert.equal(q.path, '/v2/enqueue');
      assert.equal(q.headers['content-type'], 'application/json');
      assert.equal(q.headers.authorization, undefined);
      assert.equal(
        q.body,
        JSON.stringify({
          payload: { summary: 'line one\nline two', severity: 'critical', source: 'nas' },
          routing_key: PAGERDUTY_KEY,
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
    },
  },
  signal: {
    title: 'POST http://host:port/v2/send with number and recipients (groups with / kept whole), Basic auth',
    url: (host) => `signal://alice:pa%24%24@${host}/+15551230000/+15557654321/group.YWJj/ZGVm=/+15550001111?disabletls=yes`,
    replies: [{ status: 201, body: { timestamp: '1700000000000' } }],
    check: (requests) => {
      const q = only(requests);
      assert.equal(q.method, 'POST');
      assert.equal(q.path, '/v2/send');
      assert.equal(q.headers['content-type'], 'application/json');
      assert.equal(q.headers.authorization, `Basic ${Buffer.from('alice:pa$$').toString('base64')}`);
      assert.deepEqual(q.json, { message: 'line one\nline two', number: '+15551230000', recipients: ['+15557654321', 'group.YWJj/ZGVm=', '+15550001111'] });
    },
  },
  signalHttps: {
    title: 'https on port 8080 by default; token= is sent as a Bearer token',
    url: () => 'signal://signal.example.com/+15551230000/+15557654321?token=sigtoken99',
    replies: [{ status: 201 }],
    https: 'signal.example.com:8080',
    check: (requests) => {
      assert.equal(only(requests).headers.authorization, 'Bearer sigtoken99');
    },
  },
  twilio: {
    title: 'one form POST per recipient to /2010-04-01/Accounts/SID/Messages.json with Basic auth; the title heads the body',
    url: () => 'twilio://ACabc123:twtoken99@+1(555)123-0000/+15557654321/+1.555.000.1111',
    handler: () => ({ status: 201, body: { sid: 'SM1' } }),
    https: 'api.twilio.com',
    check: (requests) => {
      assert.equal(requests.length, 2);
      for (const q of requests) {
        assert.equal(q.originalHost, 'api.twilio.com');
        assert.equal(q.path, '/2010-04-01/Accounts/ACabc123/Messages.json');
        assert.equal(q.headers['content-type'], 'application/x-www-form-urlencoded');
        assert.equal(q.headers.authorization, `Basic ${Buffer.from('ACabc123:twtoken99').toString('base64')}`);
      }
      assert.deepEqual(
        requests.map((q) => [...new URLSearchParams(q.body)]),
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
    },
  },
  notifiarr: {
    title: 'POST notifiarr.com/api/v1/notification/passthrough/APIKEY with the notification and the discord fields',
    url: () => 'notifiarr://nfapikey123?name=offsite&channel=123456789&color=FF0000&thumbnail=https://example.com/t.png&image=https://example.com/i.png',
    msg: { title: 'Backup ok', message: 'done <@42> <@&7>', level: 'info' },
    replies: [{ body: { result: 'success' } }],
    https: 'notifiarr.com',
    check: (requests) => {
      const q = only(requests);
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
    },
  },
} satisfies Record<string, WireCase>;

/** The cases by name (one per service; two where a service has two forms). */
export const WIRE: Record<keyof typeof CASES, WireCase> = CASES;
