// NOTIFICATION_URLS=stdout:// and logger:// (shoutrrr services offen's users and tests use):
// the notification goes to the container log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { parseNotificationUrl } from '../../src/notify/index.ts';

test('stdout:// writes the title and message to standard output', () => {
  const { env } = isolatedEnv({ NOTIFICATION_URLS: 'stdout://' });
  const r = runCli(['notify-test'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\[offsite\] default: test notification\n\nThis is a test notification from offsite/m);
  assert.match(r.stdout, /^ok {4}stdout:\/\//m);
});

test('logger:// makes the notification one log line', () => {
  const { env } = isolatedEnv({ NOTIFICATION_URLS: 'logger://' });
  const r = runCli(['notify-test'], env);
  assert.equal(r.code, 0, r.stderr);
  const line = (r.stdout + r.stderr).split('\n').find((l) => l.includes('"service":"logger"'));
  assert.ok(line, r.stdout + r.stderr);
  const entry = JSON.parse(line) as { msg: string; text: string; level: number };
  assert.equal(entry.msg, '[offsite] default: test notification');
  assert.match(entry.text, /If you can read this/);
});

test('stdout:// and logger:// take no host or path', () => {
  for (const u of ['stdout://host', 'logger://x/y']) {
    const r = parseNotificationUrl(u);
    assert.equal(r.ok, false, u);
  }
  assert.equal(parseNotificationUrl('stdout://').ok, true);
  assert.equal(parseNotificationUrl('logger://').ok, true);
});
