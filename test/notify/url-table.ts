/**
 * The URL tables of the notification tests, one entry per service: URLs each service must
 * accept (with what it reads from them), URLs it must refuse (and why), and URLs whose
 * secrets redaction must mask. urls.test.ts runs them; meta.test.ts checks that every
 * registered service and scheme is in them.
 */

export type Row = [url: string, check?: Record<string, unknown>];

export const valid: Record<string, Row[]> = {
  smtp: [
    [
      'smtp://mail.example.com/?from=a@example.com&to=b@example.com',
      { port: 25, auth: 'Unknown', encryption: 'Auto', useStartTLS: true, clientHost: 'localhost' },
    ],
    [
      'SMTP://u%40x:p%40ss%2Cw@mail.example.com:587/?FromAddress=a@example.com&ToAddresses=b@example.com%2Cc@example.com',
      { username: 'u@x', password: 'p@ss,w', port: 587, to: ['b@example.com', 'c@example.com'] },
    ],
    [
      'smtp://u:p@mail.example.com:465/?from=a@example.com&to=b@example.com&auth=crammd5&encryption=implicittls&starttls=no&usehtml=yes&timeout=30s',
      { auth: 'CRAMMD5', encryption: 'ImplicitTLS', useStartTLS: false, useHTML: true, timeoutMs: 30_000 },
    ],
  ],
  slack: [
    ['slack://hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC@webhook', { tokenType: 'hook', channel: 'webhook' }],
    ['slack://AAAAAAAAA/BBBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC', { tokenType: 'hook', channel: 'webhook' }],
    ['slack://xoxp:123456789-123456789-abcdefghijklmnopqrstuvwxyz@C123?Username=bot&Icon_Emoji=:x:', { tokenType: 'xoxp', botName: 'bot', icon: ':x:' }],
  ],
  discord: [
    ['discord://token@123', { json: false, splitLines: true, color: 0x50d9ff }],
    ['discord://token@123/raw', { json: true }],
    ['discord://token@123?splitlines=no&color=0xff0000&json=yes', { splitLines: false, color: 0xff0000, json: true }],
  ],
  telegram: [
    ['telegram://123:abc_DEF-1@telegram?chats=@chan', { chats: ['@chan'], preview: true, parseMode: 'None' }],
    ['telegram://123:abc@telegram?channels=1%2C-100123:42&parsemode=html&preview=0', { chats: ['1', '-100123:42'], parseMode: 'HTML', preview: false }],
  ],
  teams: [
    [
      `teams://?host=${encodeURIComponent('https://x.logic.azure.com/workflows/1?sig=s')}&unknownkey=ignored`,
      { workflowUrl: 'https://x.logic.azure.com/workflows/1?sig=s' },
    ],
    [`teams://?host=${encodeURIComponent('https://prod-1.westeurope.logic.azure.cn:443/powerautomate/automations/direct/workflows/1')}`, {}],
    [`teams://?host=${encodeURIComponent('https://d1.environment.api.powerplatform.com/powerautomate/automations/direct/a-b/workflows/1')}`, {}],
  ],
  gotify: [
    ['gotify://h.example.com/Aaaaaaaaaaaaaaa', { path: '', priority: 0, title: 'Shoutrrr notification' }],
    ['gotify://h.example.com:8443/a/b/Aaaaaaaaaaaaaaa/?priority=-2&useheader=y', { path: '/a/b', priority: -2, useHeader: true }],
    [`gotify://h.example.com/gtfya.${'x'.repeat(43)}`, {}],
    ['gotify://h.example.com/Aaaaaaaaaaaaaaa?date=2026-03-01T04:00:00%2B02:00&insecureskipverify=no', { date: '2026-03-01T02:00:00Z', extras: null }],
    ['gotify://h.example.com/Aaaaaaaaaaaaaaa?date=1772330400', { date: '2026-03-01T02:00:00Z' }],
    ['gotify://h.example.com/Aaaaaaaaaaaaaaa?date=2026-03-01T02:00:00', { date: '2026-03-01T02:00:00Z' }],
  ],
  ntfy: [
    ['ntfy://ntfy.example.com/topic', { host: 'ntfy.example.com', scheme: 'https', priority: 'default', cache: true }],
    ['ntfy://u:p@ntfy.example.com/topic?priority=5&disabletls=yes&in=30m', { priority: 'max', scheme: 'http', delay: '30m', username: 'u' }],
  ],
  pushover: [['pushover://shoutrrr:tok@user/?devices=a%2Cb&priority=-2', { devices: ['a', 'b'], priority: -2 }]],
  mattermost: [
    ['mattermost://mm.example.com/token', { channel: '', username: '' }],
    ['mattermost://bot@mm.example.com:8065/token/chan?icon_url=https://x/i.png', { channel: 'chan', username: 'bot', icon: 'https://x/i.png' }],
  ],
  matrix: [
    ['matrix://u:p@m.example.com?rooms=a:x,!b:x,%23c:x', { rooms: ['#a:x', '!b:x', '#c:x'], disableTLS: false }],
    ['matrix://:token@m.example.com/?room=x&disabletls=yes', { user: '', password: 'token', rooms: ['#x'], disableTLS: true }],
  ],
  rocketchat: [
    ['rocketchat://h.example.com/A/B', { channel: '' }],
    ['rocketchat://u@h.example.com:3000/A/B/@jane?anything=ignored', { channel: '@jane', username: 'u', host: 'h.example.com:3000' }],
    ['rocketchat://h.example.com/A/B#room', { channel: '#room' }],
  ],
  googlechat: [
    [
      'googlechat://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T&threadKey=x',
      { url: 'https://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T&threadKey=x' },
    ],
    ['hangouts://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T', { url: 'https://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T' }],
  ],
  zulip: [
    [
      'zulip://bot%40example.com:key@z.example.com?stream=s&title=T&other=ignored',
      { botMail: 'bot@example.com', stream: 's', topic: '', title: 'T', type: 'channel', readBySender: false },
    ],
    ['zulip://bot%40example.com:key@z.example.com?type=Direct&to=1,2&read_by_sender=yes', { type: 'direct', to: ['1', '2'], readBySender: true }],
    ['zulip://bot%40example.com:key@z.example.com?type=direct&stream=jane%40example.com', { type: 'direct', to: ['jane@example.com'] }],
  ],
  ifttt: [['ifttt://key/?events=a,b&titlevalue=1', { events: ['a', 'b'], messageValue: 2, titleValue: 1 }]],
  join: [['join://shoutrrr:key@join/?devices=d1', { devices: ['d1'] }]],
  bark: [['bark://:dk@b.example.com:8080/p/?scheme=http&copy=x', { scheme: 'http', path: '/p', copy: 'x' }]],
  opsgenie: [
    ['opsgenie://api.opsgenie.com/key', { port: 443, host: 'api.opsgenie.com' }],
    [
      'opsgenie://api.opsgenie.com:8443/key?visibleTo=team:4513b7ea-3b91-438f-b7e4-e3e54af9147c&actions=a,b',
      { port: 8443, visibleTo: [{ type: 'team', id: '4513b7ea-3b91-438f-b7e4-e3e54af9147c' }], actions: ['a', 'b'] },
    ],
  ],
  pushbullet: [['pushbullet://abcdefghijklmnopqrstuvwxyz01234567', { targets: [''], title: 'Shoutrrr notification' }]],
  generic: [
    ['generic://h.example.com/p?a=1', { target: 'https://h.example.com/p?a=1', template: '', method: 'POST', contentType: 'application/json' }],
    ['generic+http://h.example.com:81', { target: 'http://h.example.com:81/' }],
    ['generic+https://h.example.com:8443/x', { target: 'https://h.example.com:8443/x' }],
    [
      'generic://h.example.com/p?disabletls=yes&template=JSON&@Content-Type=x&$k=v',
      { target: 'http://h.example.com/p', template: 'json', headers: { 'Content-Type': 'x' }, extras: { k: 'v' } },
    ],
    ['generic://h.example.com/p?Title=x', { target: 'https://h.example.com/p?Title=x', title: '' }],
  ],
  stdout: [['stdout://', {}]],
  logger: [['logger://', {}]],
  lark: [
    ['lark://open.larksuite.com/tok123', { host: 'open.larksuite.com', token: 'tok123', secret: '', title: '', link: '' }],
    ['lark:///tok123?Secret=s&title=T&link=https://x', { host: 'open.larksuite.com', secret: 's', title: 'T', link: 'https://x' }],
    ['lark://open.feishu.cn/tok123/', { host: 'open.feishu.cn', token: 'tok123' }],
  ],
  mqtt: [
    [
      'mqtt://broker.example.com/home/backups',
      { host: 'broker.example.com', port: 1883, topic: 'home/backups', tls: false, clientId: 'shoutrrr', qos: 0, retained: false, cleanSession: true },
    ],
    [
      'mqtts://u:p@broker.example.com/t?qos=ExactlyOnce&retained=yes&clientid=nas&cleansession=no',
      { port: 8883, tls: true, username: 'u', password: 'p', qos: 2, retained: true, clientId: 'nas', cleanSession: false },
    ],
    ['mqtts://broker.example.com:8884/t?disabletls=yes&qos=at_least_once&disabletlsverification=yes', { port: 8884, tls: false, qos: 1, skipTLSVerify: true }],
    ['mqtt:///a%2Fb', { host: 'localhost', topic: 'a/b' }],
  ],
  notifiarr: [
    ['notifiarr://apikey123', { apiKey: 'apikey123', name: 'Shoutrrr', channel: undefined }],
    ['notifiarr://apikey123?channel=42&name=nas&color=00ff00&unknown=kept', { channel: 42, name: 'nas', color: '00ff00' }],
  ],
  pagerduty: [
    [
      'pagerduty:///0123456789abcdef0123456789abcdef',
      { host: 'events.pagerduty.com', port: 443, severity: 'error', source: 'default', action: 'trigger', contexts: [] },
    ],
    [
      'pagerduty://pd.example.com:8443/0123456789abcdef0123456789abcdef?Severity=Warning&action=acknowledge&contexts=%5B%7B%22type%22%3A%22link%22%2C%22href%22%3A%22https%3A%2F%2Fx%22%2C%22text%22%3A%22run%22%7D%5D',
      { host: 'pd.example.com', port: 8443, severity: 'warning', action: 'acknowledge', contexts: [{ type: 'link', href: 'https://x', text: 'run' }] },
    ],
  ],
  signal: [
    [
      'signal://s.example.com/+15551230000/+15557654321',
      { host: 's.example.com', port: 8080, source: '+15551230000', recipients: ['+15557654321'], disableTLS: false },
    ],
    [
      'signal://u:p@s.example.com:9000/+15551230000/group.abc/def=/+15557654321?apikey=t&disabletls=yes',
      { port: 9000, user: 'u', password: 'p', token: 't', recipients: ['group.abc/def=', '+15557654321'], disableTLS: true },
    ],
    ['signal://s.example.com/+15551230000/+15557654321?to=%2B15550000000,group.xyz', { recipients: ['+15550000000', 'group.xyz'] }],
  ],
  twilio: [
    [
      'twilio://ACsid:tok@+15551230000/+15557654321/+15550001111?title=T',
      { accountSid: 'ACsid', from: '+15551230000', to: ['+15557654321', '+15550001111'], title: 'T' },
    ],
    ['twilio://ACsid:tok@MGservice/+1-555-765-4321', { from: 'MGservice', to: ['+15557654321'] }],
  ],
  wecom: [
    ['wecom://key-123_abc', { key: 'key-123_abc', mentionedList: [], mentionedMobileList: [] }],
    ['wecom://key?mentioned_list=a,b', { mentionedList: ['a', 'b'] }],
  ],
};

export const invalid: Record<string, [url: string, why: RegExp][]> = {
  smtp: [
    ['smtp://mail.example.com/?to=b@example.com', /missing from=/],
    ['smtp://mail.example.com/?from=a@example.com', /missing to=/],
    ['smtp:///?from=a@example.com&to=b@example.com', /missing the SMTP server host/],
    ['smtp://h/?from=a@example.com&to=b@example.com&auth=Kerberos', /auth=Kerberos is not one of/],
    ['smtp://h/?from=a@example.com&to=b@example.com&colour=red', /unknown query parameter "colour"/],
    ['smtp://h/?from=a@example.com&to=b@example.com&usehtml=maybe', /not a boolean/],
    ['smtp://h/?from=a@example.com&to=b@example.com&timeout=soon', /timeout=soon/],
    ['smtp://h/?from=nobody&to=b@example.com', /not an e-mail address/],
  ],
  slack: [
    ['slack://hook:short-token-x@webhook', /invalid token/],
    ['slack://AAAAAAAAA/BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC', /different characters/],
    ['slack://hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC@webhook?foo=bar', /unknown query parameter "foo"/],
  ],
  discord: [
    ['discord://@123', /missing the token/],
    ['discord://token@', /not a valid URL/],
    ['discord://token@%20', /missing the webhook id/],
    ['discord://token@123/other', /only \/raw/],
    ['discord://token@123?color=purple', /not a hex colour/],
  ],
  telegram: [
    ['telegram://notanumber:abc@telegram?chats=1', /invalid bot token/],
    ['telegram://123:abc@telegram', /missing chats=/],
    ['telegram://123:abc@telegram?chats=1&parsemode=rtf', /parsemode=rtf/],
  ],
  teams: [
    ['teams://g@t/alt/owner', /connector form/],
    ['teams://', /missing host=/],
    ['teams://g@t/alt/owner?host=org.webhook.office.com', /connector form .* is not supported/],
    ['teams://?host=example.webhook.office.com', /not a Power Automate workflow URL/],
    [`teams://?host=${encodeURIComponent('https://evil.example.com/workflows/1')}`, /not a Power Automate workflow URL/],
    [`teams://?host=${encodeURIComponent('http://x.logic.azure.com/workflows/1')}`, /not a Power Automate workflow URL/],
    [`teams://?host=${encodeURIComponent('https://d1.environment.api.powerplatform.com/workflows/1')}`, /not a Power Automate workflow URL/],
  ],
  gotify: [
    ['gotify://h.example.com/', /missing the application token/],
    ['gotify://h.example.com/tooshort', /invalid application token/],
    ['gotify://h.example.com/Aaaaaaaaaaaaaaa?priority=11', /out of range/],
    ['gotify://h.example.com/Aaaaaaaaaaaaaaa?extras=notjson', /extras= is not a JSON object/],
    ['gotify://h.example.com/Aaaaaaaaaaaaaaa?date=yesterday', /date=yesterday is not a date/],
  ],
  ntfy: [
    ['ntfy://ntfy.example.com/', /missing the topic/],
    ['ntfy://ntfy.example.com/t?priority=urgentish', /priority=urgentish/],
    ['ntfy://ntfy.example.com/t?scheme=ftp', /scheme=ftp/],
  ],
  pushover: [
    ['pushover://shoutrrr@user', /missing the API token/],
    ['pushover://shoutrrr:tok@user?priority=2', /out of range/],
  ],
  mattermost: [['mattermost://mm.example.com/', /missing the webhook token/]],
  matrix: [['matrix://user@m.example.com', /missing the password or access token/]],
  rocketchat: [['rocketchat://h.example.com/A', /missing the webhook tokens/]],
  googlechat: [['googlechat://chat.googleapis.com/v1/spaces/S/messages?key=K', /missing key= or token=/]],
  zulip: [
    ['zulip://bot%40example.com:key@z.example.com', /missing stream=/],
    ['zulip://bot%40example.com@z.example.com?stream=s', /missing the API key/],
    ['zulip://bot%40example.com:key@z.example.com?type=stream&stream=s', /type=stream is not one of channel, direct/],
    ['zulip://bot%40example.com:key@z.example.com?type=direct', /type=direct needs to=/],
  ],
  ifttt: [
    ['ifttt://key/', /missing events=/],
    ['ifttt://key/?events=a&messagevalue=2&titlevalue=2', /same value/],
  ],
  join: [['join://shoutrrr:key@join/', /missing devices=/]],
  bark: [['bark://b.example.com', /missing the device key/]],
  opsgenie: [
    ['opsgenie://api.opsgenie.com', /missing the API key/],
    ['opsgenie://api.opsgenie.com/key?responders=ops', /not type:identifier/],
    ['opsgenie://api.opsgenie.com/key?priority=P9', /priority=P9/],
  ],
  pushbullet: [['pushbullet://tooshort', /34 characters/]],
  generic: [
    ['generic://h.example.com/p?template=custom', /template=custom is not supported/],
    ['generic:///p', /missing the host/],
  ],
  stdout: [['stdout://host', /takes no host or path/]],
  logger: [['logger://x/y', /takes no host or path/]],
  lark: [
    ['lark://example.com/tok', /not open.larksuite.com or open.feishu.cn/],
    ['lark://open.larksuite.com', /missing the bot token/],
    ['lark://open.larksuite.com/tok?color=red', /unknown query parameter "color"/],
  ],
  mqtt: [
    ['mqtt://broker.example.com', /missing the topic/],
    ['mqtt://broker.example.com/', /missing the topic/],
    ['mqtt://:pw@broker.example.com/t', /password without a user name/],
    ['mqtt://broker.example.com/t?qos=3', /qos=3 is not 0, 1 or 2/],
    ['mqtt://broker.example.com/a/%23', /wildcard/],
    ['mqtt://broker.example.com/t?topic=x', /unknown query parameter "topic"/],
  ],
  notifiarr: [
    ['notifiarr://', /missing the API key/],
    ['notifiarr://k?channel=general', /not a Discord channel id/],
  ],
  pagerduty: [
    ['pagerduty://events.pagerduty.com', /missing the integration key/],
    ['pagerduty:///notakey', /not 32 hexadecimal characters/],
    ['pagerduty:///0123456789abcdef0123456789abcdef?severity=fatal', /severity=fatal is not one of/],
    ['pagerduty:///0123456789abcdef0123456789abcdef?action=open', /action=open is not one of/],
    ['pagerduty:///0123456789abcdef0123456789abcdef?details=notjson', /details= is not JSON/],
    ['pagerduty:///0123456789abcdef0123456789abcdef?contexts=video:x', /type "video"/],
    ['pagerduty:///0123456789abcdef0123456789abcdef?contexts=%5B%7B%22type%22%3A%22link%22%7D%5D', /a link needs href/],
    ['pagerduty:///0123456789abcdef0123456789abcdef?urgency=high', /unknown query parameter "urgency"/],
  ],
  signal: [
    ['signal://s.example.com/+15551230000', /missing the source number or the recipients/],
    ['signal://s.example.com/alice/+15557654321', /source "alice" is not a phone number/],
    ['signal://s.example.com/+15551230000/bob', /recipient "bob"/],
    ['signal:///+15551230000/+15557654321', /missing the signal-cli REST API host/],
    ['signal://s.example.com/+15551230000/+15557654321?color=x', /unknown query parameter "color"/],
  ],
  twilio: [
    ['twilio://ACsid@+15551230000/+15557654321', /missing the auth token/],
    ['twilio://:tok@+15551230000/+15557654321', /missing the account SID/],
    ['twilio://ACsid:tok@+15551230000', /missing the recipient numbers/],
    ['twilio://ACsid:tok@+15551230000/+1-555-123-0000', /same number/],
    ['twilio://ACsid:tok@+15551230000/+15557654321?priority=1', /unknown query parameter "priority"/],
  ],
  wecom: [
    ['wecom://', /missing the webhook key/],
    ['wecom://a.b', /characters a WeCom key never has/],
    ['wecom://k?title=x', /unknown query parameter "title"/],
  ],
  other: [
    ['nosuch://x', /unknown service "nosuch"/],
    ['just-text', /is not a notification URL/],
  ],
};

/** URL, the secrets that must not show, and the exact masked form when it matters. */
export const redactionCases: [url: string, secrets: string[], expected?: string][] = [
  [
    'smtp://user:s3cr%40t@mail.example.com:587/?from=a@example.com&to=b@example.com',
    ['s3cr%40t', 's3cr@t'],
    'smtp://user:***@mail.example.com:587/?from=a@example.com&to=b@example.com',
  ],
  ['slack://hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC@webhook', ['CCCCCCCCCCCCCCCCCCCCCCCC'], 'slack://hook:***@webhook'],
  ['slack://AAAAAAAAA/BBBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC', ['CCCCCCCCCCCCCCCCCCCCCCCC']],
  ['discord://discordtoken123@123456', ['discordtoken123'], 'discord://***@123456'],
  ['telegram://123456:botsecret_x@telegram?chats=1', ['botsecret_x']],
  ['gotify://g.example.com/Aaaaaaaaaaaaaaa?priority=1', ['Aaaaaaaaaaaaaaa'], 'gotify://g.example.com/***?priority=1'],
  ['ntfy://u:ntfypass@n.example.com/t?token=tk_secret', ['ntfypass', 'tk_secret']],
  ['mattermost://m.example.com/mmtoken123/chan', ['mmtoken123'], 'mattermost://m.example.com/***/chan'],
  ['rocketchat://r.example.com/tokAAAA/tokBBBB', ['tokAAAA', 'tokBBBB']],
  ['googlechat://chat.googleapis.com/v1/spaces/S/messages?key=gkey123&token=gtok456', ['gkey123', 'gtok456']],
  ['ifttt://iftttkey9/?events=e', ['iftttkey9']],
  ['join://shoutrrr:joinkey9@join/?devices=d', ['joinkey9']],
  ['bark://:barkkey9@b.example.com', ['barkkey9']],
  ['opsgenie://api.opsgenie.com/ogkey999', ['ogkey999']],
  ['pushbullet://abcdefghijklmnopqrstuvwxyz01234567/dev', ['abcdefghijklmnopqrstuvwxyz01234567']],
  ['pushover://shoutrrr:potoken9@pouser9', ['potoken9', 'pouser9']],
  ['zulip://bot%40example.com:zkey999@z.example.com?stream=s', ['zkey999']],
  ['matrix://u:mpass999@m.example.com', ['mpass999']],
  [`teams://?host=${encodeURIComponent('https://x.logic.azure.com/workflows/1?sig=teamssig9')}`, ['teamssig9']],
  ['generic://h.example.com/p?@Authorization=Bearer%20gentoken9&apikey=qkey999', ['gentoken9', 'qkey999']],
  ['generic://ha.example.com/api/webhook/backup-hook-7f3a9c2e1b', ['backup-hook-7f3a9c2e1b'], 'generic://ha.example.com/api/webhook/***'],
  [
    'generic://h.example.com/p?template=json&titlekey=subject&auth=x&token=gentok77',
    ['gentok77'],
    'generic://h.example.com/p?template=json&titlekey=subject&auth=x&token=***',
  ],
  ['lark://open.larksuite.com/larktoken99?secret=larksecret9', ['larktoken99', 'larksecret9'], 'lark://open.larksuite.com/***?secret=***'],
  ['mqtts://user:mqttpass9@broker.example.com/t', ['mqttpass9'], 'mqtts://user:***@broker.example.com/t'],
  ['notifiarr://nfkey999?channel=1', ['nfkey999'], 'notifiarr://***?channel=1'],
  ['pagerduty:///0123456789abcdef0123456789abcdef', ['0123456789abcdef0123456789abcdef'], 'pagerduty:///***'],
  ['signal://u:sigpass9@s.example.com/+15551230000/+15557654321?token=sigtok99', ['sigpass9', 'sigtok99']],
  ['twilio://ACsid:twtoken9@+15551230000/+15557654321', ['twtoken9'], 'twilio://ACsid:***@+15551230000/+15557654321'],
  ['wecom://wecomkey99', ['wecomkey99'], 'wecom://***'],
  // unusable URLs are still masked, by pattern
  ['nosuch://someone:hunter2pw@host/abcdefghijklmnop1234', ['hunter2pw', 'someone', 'abcdefghijklmnop1234']],
  ['slack://hook:notvalidtoken99@webhook', ['notvalidtoken99']],
];
