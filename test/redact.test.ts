/** Redaction: every form a secret travels in is masked; paths, fingerprints and help text are not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redact, registerSecret, registerSecretsFromEnv, registerUrlSecrets, isSecretName } from '../src/redact.ts';
import { parseNotificationUrl, registerTargetSecrets, redactNotificationUrl } from '../src/notify/router.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('a secret is masked raw, percent-, form-, JSON- and XML-escaped', () => {
  const s = 'p@ss "word"/with+&<x> 1';
  registerSecret(s);
  for (const form of [
    s,
    encodeURIComponent(s),
    new URLSearchParams({ a: s }).toString().slice(2),
    JSON.stringify(s).slice(1, -1),
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'),
  ]) {
    const out = redact(`before ${form} after`);
    assert.equal(out, 'before *** after', form);
  }
  // a secret inside an object that is stringified (the logger does that) is masked too
  assert.ok(!redact(JSON.stringify({ error: `bad ${s}` })).includes('with+&'));
});

test('HTTP Basic tokens of user/password pairs from the environment are masked', () => {
  registerSecretsFromEnv({
    WEBDAV_USERNAME: 'davuser',
    WEBDAV_PASSWORD: 'dav-secret-pw',
    DROPBOX_APP_KEY: 'appkey-1234',
    DROPBOX_APP_SECRET: 'appsecret-5678',
    SSH_USER: 'sshuser',
    SSH_PASSWORD: 'ssh-secret-pw',
  });
  for (const pair of ['davuser:dav-secret-pw', 'appkey-1234:appsecret-5678', 'sshuser:ssh-secret-pw']) {
    assert.equal(redact(`Authorization: Basic ${b64(pair)}`), 'Authorization: Basic ***', pair);
  }
});

test('a notification URL with user:password registers its Basic token (ntfy echoing the header)', () => {
  const raw = 'ntfy://alice:ntfy-pa%24%24word@ntfy.example/alerts';
  const out = parseNotificationUrl(raw);
  assert.ok(out.ok);
  registerTargetSecrets(raw, out.target);
  const echoed = `HTTP 401: {"authorization":"Basic ${b64('alice:ntfy-pa$$word')}"}`;
  assert.ok(!redact(echoed).includes(b64('alice:ntfy-pa$$word')), redact(echoed));
  assert.ok(!redact('pw ntfy-pa$$word').includes('ntfy-pa$$word'));
});

test('a generic webhook path token is masked, the scheme and host stay readable', () => {
  const raw = 'generic+https://hooks.example.com/api/webhook/abcdefsecrethook';
  const out = parseNotificationUrl(raw);
  assert.ok(out.ok);
  assert.equal(out.target.redacted, 'generic+https://hooks.example.com/api/webhook/***');
  registerTargetSecrets(raw, out.target);
  assert.equal(redact('POST https://hooks.example.com/api/webhook/abcdefsecrethook: HTTP 500'), 'POST https://hooks.example.com/api/webhook/***: HTTP 500');
});

test('file paths, fingerprints and help text are not masked', () => {
  assert.equal(isSecretName('GPG_PUBLIC_KEY_RING_FILE'), false);
  assert.equal(isSecretName('AWS_SECRET_ACCESS_KEY_FILE'), false);
  assert.equal(isSecretName('SSH_HOST_KEY_FINGERPRINT'), false);
  assert.equal(isSecretName('AWS_SECRET_ACCESS_KEY'), true);
  registerSecretsFromEnv({
    AWS_SECRET_ACCESS_KEY_FILE: '/run/secrets/aws',
    SSH_HOST_KEY_FINGERPRINT: 'SHA256:abcdefghijklmnop',
    NOTIFICATION_URLS: 'slack://hook@webhook',
  });
  assert.equal(redact('the file /run/secrets/aws does not exist'), 'the file /run/secrets/aws does not exist');
  assert.equal(redact('host key SHA256:abcdefghijklmnop'), 'host key SHA256:abcdefghijklmnop');
  const help = 'expected slack://hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC@webhook or slack://xoxb:TOKEN@CHANNEL';
  assert.equal(redact(help), help);
  assert.equal(redact('see smtp://user:PASSWORD@host:587'), 'see smtp://user:PASSWORD@host:587');
  // a real password in the same position is masked
  assert.equal(redact('smtp://user:Xy7-real-pass@host'), 'smtp://user:***@host');
  assert.equal(redact('https://ABCDEFGH12345678@host/'), 'https://***@host/');
  // an unparsed URL: the whole userinfo is masked, the host stays readable
  assert.equal(redactNotificationUrl('slack://hook:bad@webhook'), 'slack://***@webhook');
});

test('a short lone user name in a URL is not registered as a secret', () => {
  registerUrlSecrets('slack://hook@webhook');
  assert.equal(redact('a webhook'), 'a webhook');
});
