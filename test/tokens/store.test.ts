// Token store and comparisons: only salted hashes are stored, every comparison is constant-time
// (both sides hashed, so secrets of any length compare without timingSafeEqual throwing on a
// length mismatch), activation delay for download tokens, reset and revoke.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenStore, secretEquals, parseScopes } from '../../src/tokens/store.ts';
import { ProxyTrust, FailureLimiter, DownloadLimit } from '../../src/http/auth.ts';
import { parseHttpConfig, parseListenAddress } from '../../src/http/config.ts';
import { redact } from '../../src/redact.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'offsite-tokens-'));

test('secretEquals compares secrets of any length (hashed first) and tells them apart', () => {
  assert.equal(secretEquals('abc', 'abc'), true);
  assert.equal(secretEquals('abc', 'abcd'), false);
  assert.equal(secretEquals('', 'x'.repeat(10_000)), false);
  assert.equal(secretEquals('x'.repeat(10_000), 'x'.repeat(10_000)), true);
});

test('tokens are stored as salted hashes; check finds the token, its scopes; reset and revoke end the old secret', async () => {
  const d = dir();
  const store = new TokenStore(d);
  const a = await store.create('ci', ['read', 'run'], 0);
  const b = await store.create('other', ['read'], 0);
  const file = readFileSync(join(d, 'tokens.json'), 'utf8');
  assert.ok(!file.includes(a.token) && !file.includes(b.token));
  assert.notEqual(a.stored.salt, b.stored.salt);
  const fresh = new TokenStore(d);
  const r = fresh.check(a.token);
  assert.ok(r.ok && r.token.name === 'ci' && r.token.scopes.join() === 'read,run');
  assert.equal(fresh.check(`${a.token}x`).ok, false);
  assert.equal(fresh.check('').ok, false);
  await assert.rejects(store.create('ci', ['read'], 0), /exists/);
  await assert.rejects(store.create('bad name', ['read'], 0), /not a token name/);
  const reset = await store.reset('ci', 0);
  assert.equal(fresh.check(a.token).ok, false, 'the old secret still works after reset (the daemon reads the file again)');
  assert.equal(fresh.check(reset.token).ok, true);
  await store.revoke('other');
  assert.equal(fresh.check(b.token).ok, false);
});

test('a download token waits OFFSITE_TOKEN_ACTIVATION_DELAY; other scopes do not', async () => {
  const store = new TokenStore(dir());
  const now = new Date('2026-05-01T00:00:00Z');
  const dl = await store.create('dl', ['download'], 24 * 3600_000, now);
  const rd = await store.create('rd', ['read'], 24 * 3600_000, now);
  const c = store.check(dl.token, new Date(now.getTime() + 3600_000));
  assert.ok(!c.ok && c.reason === 'inactive' && c.activeFrom.toISOString() === '2026-05-02T00:00:00.000Z');
  assert.ok(store.check(dl.token, new Date(now.getTime() + 24 * 3600_000)).ok);
  assert.ok(store.check(rd.token, now).ok);
});

test('the environment token (OFFSITE_API_TOKEN) has every scope', () => {
  const store = new TokenStore(dir(), 'env-token-0123456789abcdef');
  assert.equal(store.any(), true);
  const r = store.check('env-token-0123456789abcdef');
  assert.ok(r.ok && r.token.scopes.length === 3);
  assert.equal(store.check('env-token-0123456789abcdeg').ok, false);
});

test('scopes are checked', () => {
  assert.deepEqual(parseScopes('read, RUN,download,read'), ['read', 'run', 'download']);
  assert.throws(() => parseScopes('read,admin'), /unknown scope "admin"/);
  assert.throws(() => parseScopes(undefined), /needs --scopes/);
});

test('X-Forwarded-For is believed only from trusted proxies; the nearest untrusted hop is the client', () => {
  const t = new ProxyTrust(['10.0.0.0/8', '127.0.0.1']);
  assert.equal(t.client('192.0.2.5', '1.2.3.4'), '192.0.2.5', 'an untrusted peer cannot claim an address');
  assert.equal(t.client('::ffff:127.0.0.1', '1.2.3.4'), '1.2.3.4');
  assert.equal(t.client('127.0.0.1', '6.6.6.6, 1.2.3.4, 10.1.1.1'), '1.2.3.4', 'a spoofed leftmost entry is ignored');
  assert.equal(new ProxyTrust([]).client('127.0.0.1', '1.2.3.4'), '127.0.0.1');
});

test('failed authentication: the 11th attempt within the window is refused with the seconds to wait', () => {
  let now = 0;
  const l = new FailureLimiter(10, 60_000, () => now);
  for (let i = 0; i < 9; i++) l.fail('a');
  assert.equal(l.blockedFor('a'), 0);
  l.fail('a');
  assert.equal(l.blockedFor('a'), 60);
  assert.equal(l.blockedFor('b'), 0);
  now = 59_500;
  assert.equal(l.blockedFor('a'), 1);
  now = 60_000;
  assert.equal(l.blockedFor('a'), 0);
});

test('the daily download limit counts per token and UTC day, and survives a restart', async () => {
  const d = dir();
  const day = new Date('2026-05-01T10:00:00Z');
  const l = new DownloadLimit(d, 2);
  assert.equal((await l.take('x', day)).ok, true);
  assert.equal((await l.take('x', day)).ok, true);
  assert.equal((await l.take('x', day)).ok, false);
  assert.equal((await l.take('y', day)).ok, true);
  assert.equal((await new DownloadLimit(d, 2).take('x', day)).ok, false, 'a restart reset the count');
  assert.equal((await new DownloadLimit(d, 2).take('x', new Date('2026-05-02T00:00:01Z'))).ok, true);
});

test('configuration: BACKUP_KEY shorter than 20 characters, a bad address or proxy are errors that never quote the key', () => {
  const issues: Array<{ variable: string; message: string }> = [];
  assert.equal(parseHttpConfig({ BACKUP_KEY: 'short-key-1234', OFFSITE_HTTP_ADDR: 'localhost', OFFSITE_TRUSTED_PROXIES: '10.0.0.0/99' }, issues), null);
  assert.deepEqual(issues.map((i) => i.variable).sort(), ['BACKUP_KEY', 'OFFSITE_HTTP_ADDR', 'OFFSITE_TRUSTED_PROXIES']);
  assert.ok(!issues.some((i) => i.message.includes('short-key-1234')));
  assert.match(issues.find((i) => i.variable === 'BACKUP_KEY')!.message, /at least 20/);
  const ok = parseHttpConfig(
    { BACKUP_KEY: 'a-key-of-twenty-chars', OFFSITE_HTTP_ADDR: ':8080', OFFSITE_HEALTHCHECKS_URL: 'https://hc-ping.com/0b1c2d3e-aaaa-bbbb-cccc-123456789abc' },
    [],
  );
  assert.deepEqual(ok?.listen, { host: '0.0.0.0', port: 8080 });
  assert.equal(redact('key a-key-of-twenty-chars'), 'key ***');
  assert.equal(redact('GET https://hc-ping.com/0b1c2d3e-aaaa-bbbb-cccc-123456789abc/start'), 'GET https://hc-ping.com/***/start');
  assert.deepEqual(parseListenAddress('[::1]:9000'), { host: '::1', port: 9000 });
  assert.equal(parseListenAddress('1.2.3.4:70000'), null);
});
