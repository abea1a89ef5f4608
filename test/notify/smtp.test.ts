import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { makeSelfSignedCert, startSmtp, type SmtpPeer } from '../servers/smtp.ts';
import { send } from './helpers.ts';

const cert = makeSelfSignedCert();
const ca = [cert.cert];
const peers: SmtpPeer[] = [];
async function peer(opts: Parameters<typeof startSmtp>[0]): Promise<SmtpPeer> {
  const p = await startSmtp(opts);
  peers.push(p);
  return p;
}
after(async () => {
  await Promise.all(peers.map((p) => p.close()));
});

const q = 'from=backup%40example.com&to=ops%40example.com';

describe('smtp against a real smtp-server', () => {
  it('delivers plain mail, one transaction per recipient, with subject, sender name and UTF-8 text', async () => {
    const p = await peer({});
    const r = await send(
      `smtp://127.0.0.1:${p.port}/?from=backup%40example.com&fromname=Offsite%20Backup&to=a%40example.com%2Cb%40example.com&subject=ignored`,
      {},
      { title: 'Backup ok: 1.2 GiB', message: 'Grüße\nline two', level: 'info' },
    );
    assert.equal(r.ok, true, r.error);
    assert.equal(r.attempts, 2);
    assert.equal(p.messages.length, 2);
    assert.deepEqual(
      p.messages.map((m) => m.to),
      [['a@example.com'], ['b@example.com']],
    );
    const m = p.messages[0]!;
    assert.equal(m.from, 'backup@example.com');
    assert.equal(m.secure, false);
    assert.equal(m.user, undefined);
    assert.match(m.data, /^Subject: Backup ok: 1\.2 GiB\r?$/m);
    assert.match(m.data, /^From: Offsite Backup <backup@example\.com>\r?$/m);
    assert.match(m.data, /^Content-Type: text\/plain; charset=utf-8\r?$/im);
    assert.match(m.data, /Gr=C3=BC=C3=9Fe/);
  });

  it('upgrades with STARTTLS and logs in with PLAIN (percent-encoded password)', async () => {
    const p = await peer({ tls: cert, users: { 'mail user': 'p@ss:w/rd' } });
    const r = await send(`smtp://mail%20user:p%40ss%3Aw%2Frd@127.0.0.1:${p.port}/?${q}&auth=Plain`, { ca });
    assert.equal(r.ok, true, r.error);
    assert.equal(p.messages.length, 1);
    assert.equal(p.messages[0]!.secure, true);
    assert.equal(p.messages[0]!.user, 'mail user');
    assert.deepEqual(p.authMethods, ['PLAIN']);
  });

  for (const [auth, method] of [
    ['Login', 'LOGIN'],
    ['CRAMMD5', 'CRAM-MD5'],
    ['OAuth2', 'XOAUTH2'],
    ['Unknown', 'PLAIN'],
  ] as const) {
    it(`auth=${auth} uses ${method}`, async () => {
      const p = await peer({ tls: cert, users: { u: 'tok-secret' } });
      const r = await send(`smtp://u:tok-secret@127.0.0.1:${p.port}/?${q}&auth=${auth}`, { ca });
      assert.equal(r.ok, true, r.error);
      assert.deepEqual(p.authMethods, [method]);
      assert.equal(p.messages[0]!.user, 'u');
    });
  }

  it('auth=None sends no AUTH even with a user name', async () => {
    const p = await peer({ tls: cert });
    const r = await send(`smtp://u:pw@127.0.0.1:${p.port}/?${q}&auth=None`, { ca });
    assert.equal(r.ok, true, r.error);
    assert.deepEqual(p.authMethods, []);
  });

  it('speaks implicit TLS with encryption=ImplicitTLS', async () => {
    const p = await peer({ secure: true, tls: cert, users: { u: 'pw12' } });
    const r = await send(`smtp://u:pw12@127.0.0.1:${p.port}/?${q}&encryption=ImplicitTLS`, { ca });
    assert.equal(r.ok, true, r.error);
    assert.equal(p.messages[0]!.secure, true);
  });

  it('usestarttls=no stays in plain text; encryption=None alone still upgrades', async () => {
    const p = await peer({ tls: cert });
    assert.equal((await send(`smtp://127.0.0.1:${p.port}/?${q}&usestarttls=no`, { ca })).ok, true);
    assert.equal((await send(`smtp://127.0.0.1:${p.port}/?${q}&encryption=None`, { ca })).ok, true);
    assert.deepEqual(
      p.messages.map((m) => m.secure),
      [false, true],
    );
  });

  it('refuses an untrusted certificate, unless skiptlsverify=yes', async () => {
    const p = await peer({ tls: cert });
    const bad = await send(`smtp://127.0.0.1:${p.port}/?${q}`);
    assert.equal(bad.ok, false);
    assert.match(bad.error!, /certificate/i);
    const ok = await send(`smtp://127.0.0.1:${p.port}/?${q}&skiptlsverify=yes`);
    assert.equal(ok.ok, true, ok.error);
    assert.equal(p.messages.length, 1);
  });

  it('requirestarttls=yes fails against a server without STARTTLS', async () => {
    const p = await peer({});
    const r = await send(`smtp://127.0.0.1:${p.port}/?${q}&requirestarttls=yes`);
    assert.equal(r.ok, false);
    assert.equal(p.messages.length, 0);
  });

  it('refused credentials fail at once (no retry) and the password never shows', async () => {
    const p = await peer({ tls: cert, users: { u: 'right-password' } });
    const r = await send(`smtp://u:wrong-password-123@127.0.0.1:${p.port}/?${q}`, { ca });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.equal(p.refusedLogins, 1);
    assert.match(r.error!, /535|Invalid/);
    assert.doesNotMatch(r.error! + r.url, /wrong-password-123/);
    assert.equal(p.messages.length, 0);
  });

  it('retries a temporary 451 and delivers once', async () => {
    const p = await peer({ failFirst: 1 });
    const r = await send(`smtp://127.0.0.1:${p.port}/?${q}`);
    assert.equal(r.ok, true, r.error);
    assert.equal(r.attempts, 2);
    assert.equal(p.messages.length, 1);
  });

  it('sends clienthost in HELO and HTML with usehtml=yes', async () => {
    const p = await peer({});
    const r = await send(
      `smtp://127.0.0.1:${p.port}/?${q}&clienthost=backup.example.net&usehtml=yes`,
      {},
      { title: 't', message: '<b>bold</b>', level: 'info' },
    );
    assert.equal(r.ok, true, r.error);
    assert.equal(p.messages[0]!.clientHostname, 'backup.example.net');
    assert.match(p.messages[0]!.data, /Content-Type: text\/html/i);
  });

  describe('a server that never answers', () => {
    let silent: ReturnType<typeof createServer>;
    let port = 0;
    const sockets = new Set<import('node:net').Socket>();
    before(async () => {
      silent = createServer((s) => {
        sockets.add(s); /* accept and say nothing */
      });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      port = (silent.address() as { port: number }).port;
    });
    after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    it('times out and the send still ends', async () => {
      const r = await send(`smtp://127.0.0.1:${port}/?${q}`, { timeoutMs: 300 });
      assert.equal(r.ok, false);
      assert.match(r.error!, /no answer|timeout|timed out/i);
      assert.equal(r.attempts, 1);
    });
  });

  it('a refused connection is retried, then reported', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    const r = await send(`smtp://127.0.0.1:${port}/?${q}`, { attempts: 2 });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 2);
    assert.match(r.error!, /ECONNREFUSED|connect/i);
  });
});
