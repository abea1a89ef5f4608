/**
 * `offsite config` accepts a URL of each of the 29 schemes of the shoutrrr fork v0.17
 * (pkg/router/servicemap.go), the set docker-volume-backup users can write.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { knownSchemes } from '../../src/notify/router.ts';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

const FORK_SCHEMES = [
  'bark',
  'discord',
  'generic',
  'gotify',
  'googlechat',
  'hangouts',
  'ifttt',
  'lark',
  'join',
  'logger',
  'matrix',
  'mattermost',
  'mqtt',
  'mqtts',
  'notifiarr',
  'ntfy',
  'opsgenie',
  'pagerduty',
  'pushbullet',
  'pushover',
  'rocketchat',
  'signal',
  'slack',
  'smtp',
  'teams',
  'telegram',
  'twilio',
  'wecom',
  'zulip',
];

const WF = encodeURIComponent('https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=wfsig0001');
/** One working URL per scheme; each holds the secret marker `sekr1t` somewhere. */
const URLS: Record<string, string> = {
  bark: 'bark://:sekr1t-dev@bark.example.com',
  discord: 'discord://sekr1t-tok@123456789',
  generic: 'generic://hooks.example.com/p?token=sekr1t-gen',
  gotify: 'gotify://gotify.example.com/Asekr1tAAAAAAAA',
  googlechat: 'googlechat://chat.googleapis.com/v1/spaces/S/messages?key=sekr1t-k&token=sekr1t-t',
  hangouts: 'hangouts://chat.googleapis.com/v1/spaces/S/messages?key=sekr1t-k2&token=sekr1t-t2',
  ifttt: 'ifttt://sekr1t-ifttt/?events=backup',
  lark: 'lark://open.larksuite.com/sekr1t-lark',
  join: 'join://shoutrrr:sekr1t-join@join/?devices=d1',
  logger: 'logger://',
  matrix: 'matrix://bot:sekr1t-mx@matrix.example.com/?rooms=!r:example.com',
  mattermost: 'mattermost://mm.example.com/sekr1t-mm',
  mqtt: 'mqtt://nas:sekr1t-mq@broker.example.com/offsite/backups',
  mqtts: 'mqtts://nas:sekr1t-mqs@broker.example.com/offsite/backups?qos=1',
  notifiarr: 'notifiarr://sekr1t-nf',
  ntfy: 'ntfy://u:sekr1t-ntfy@ntfy.example.com/backups',
  opsgenie: 'opsgenie://api.opsgenie.com/sekr1t-og',
  pagerduty: 'pagerduty:///5e6b1a2c3d4e5f60718293a4b5c6d7e8?source=nas',
  pushbullet: 'pushbullet://sekr1tabcdefghijklmnopqrstuvwxyz01',
  pushover: 'pushover://shoutrrr:sekr1t-po@userkey123',
  rocketchat: 'rocketchat://chat.example.com/sekr1t-a/sekr1t-b',
  signal: 'signal://u:sekr1t-sig@signal.example.com/+15551230000/+15557654321',
  slack: 'slack://hook:AAAAAAAAA-BBBBBBBBB-sekr1tCCCCCCCCCCCCCCCCCC@webhook',
  smtp: 'smtp://mailer:sekr1t-smtp@mail.example.com:587/?from=backup%40example.com&to=ops%40example.com',
  teams: `teams://?host=${WF}`,
  telegram: 'telegram://123456:sekr1t_tg@telegram?chats=@ops',
  twilio: 'twilio://ACsid:sekr1t-tw@+15551230000/+15557654321',
  wecom: 'wecom://sekr1t-wecom',
  zulip: 'zulip://bot%40example.com:sekr1t-zu@zulip.example.com/?stream=ops',
};

test('the fork has 29 schemes and offsite knows every one', () => {
  assert.equal(FORK_SCHEMES.length, 29);
  assert.deepEqual(Object.keys(URLS).sort(), [...FORK_SCHEMES].sort());
  const known = new Set(knownSchemes());
  for (const s of FORK_SCHEMES) assert.ok(known.has(s), `offsite does not know ${s}://`);
});

test('offsite config accepts a URL of each of the 29 schemes and shows none of their secrets', () => {
  const { env } = isolatedEnv({ NOTIFICATION_URLS: FORK_SCHEMES.map((s) => URLS[s]).join(',') });
  const r = runCli(['config'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /sekr1t|wfsig0001/);
});

test('offsite config names the entry of a URL it refuses, and why', () => {
  const { env } = isolatedEnv({ NOTIFICATION_URLS: `${URLS.logger},pagerduty:///not-a-key` });
  const r = runCli(['config'], env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /NOTIFICATION_URLS: entry 2 \([^)]*\): the integration key is not 32 hexadecimal characters/);
});
