/**
 * mqtt:// and mqtts:// against a real broker (Debian's mosquitto on 127.0.0.1, started with
 * a private config): a subscriber on the broker checks what offsite published.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import { freePort } from '../servers/util.ts';
import { haveMosquitto, startMosquitto, type Mosquitto } from '../servers/mosquitto.ts';
import { makeSelfSignedCert } from '../servers/smtp.ts';
import { send } from './helpers.ts';

const MSG = { title: 'Backup ok', message: 'line one\nline two', level: 'info' as const };

/** A subscriber that collects what the broker delivers on a topic. */
async function subscriber(
  port: number,
  topic: string,
  auth: { username?: string; password?: string } = {},
): Promise<{ client: MqttClient; got: IPublishPacket[]; next(): Promise<IPublishPacket> }> {
  const client = await connectAsync({
    host: '127.0.0.1',
    port,
    protocolVersion: 5,
    reconnectPeriod: 0,
    clientId: `sub-${Math.random().toString(16).slice(2)}`,
    ...auth,
  });
  const got: IPublishPacket[] = [];
  const waiters: ((p: IPublishPacket) => void)[] = [];
  client.on('message', (_t, _p, packet) => {
    got.push(packet);
    waiters.shift()?.(packet);
  });
  await client.subscribeAsync(topic, { qos: 2 });
  return {
    client,
    got,
    next: () =>
      new Promise((resolve, reject) => {
        if (got.length > 0) return resolve(got[got.length - 1]!);
        const t = setTimeout(() => reject(new Error(`nothing arrived on ${topic}`)), 5000);
        waiters.push((p) => {
          clearTimeout(t);
          resolve(p);
        });
      }),
  };
}

describe('mqtt against mosquitto', { skip: haveMosquitto ? false : 'mosquitto is not installed' }, () => {
  let open: Mosquitto;
  let authed: Mosquitto;
  const cert = makeSelfSignedCert();
  const clients: MqttClient[] = [];
  before(async () => {
    open = await startMosquitto({ tls: cert });
    authed = await startMosquitto({ users: { nas: 'br0ker-pw' } });
  });
  after(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    await open?.close();
    await authed?.close();
  });

  it('publishes the text (not the title) to the topic, QoS 0, not retained, as client "shoutrrr"', async () => {
    const sub = await subscriber(open.port, 'offsite/backups');
    clients.push(sub.client);
    const r = await send(`mqtt://127.0.0.1:${open.port}/offsite/backups`, {}, MSG);
    assert.equal(r.ok, true, `${r.error}\n${open.log()}`);
    assert.equal(r.attempts, 1);
    const p = await sub.next();
    assert.equal(p.topic, 'offsite/backups');
    assert.equal(p.payload.toString('utf8'), 'line one\nline two');
    assert.equal(p.qos, 0);
    assert.equal(p.retain, false);
  });

  it('qos=2 arrives with QoS 2; retained=yes is kept by the broker for a later subscriber', async () => {
    const sub = await subscriber(open.port, 'offsite/q2');
    clients.push(sub.client);
    const r = await send(`mqtt://127.0.0.1:${open.port}/offsite/q2?qos=ExactlyOnce&clientid=nas-1`, {}, MSG);
    assert.equal(r.ok, true, r.error);
    assert.equal((await sub.next()).qos, 2);
    const r2 = await send(`mqtt://127.0.0.1:${open.port}/offsite/retained?retained=yes&qos=1`, {}, { ...MSG, message: 'kept' });
    assert.equal(r2.ok, true, r2.error);
    const late = await subscriber(open.port, 'offsite/retained');
    clients.push(late.client);
    const p = await late.next();
    assert.equal(p.payload.toString(), 'kept');
    assert.equal(p.retain, true);
  });

  it('user name and password log in; a wrong password fails at once, naming the refusal, without the password', async () => {
    const sub = await subscriber(authed.port, 'secure/t', { username: 'nas', password: 'br0ker-pw' });
    clients.push(sub.client);
    const ok = await send(`mqtt://nas:br0ker-pw@127.0.0.1:${authed.port}/secure/t`, {}, MSG);
    assert.equal(ok.ok, true, `${ok.error}\n${authed.log()}`);
    assert.equal((await sub.next()).payload.toString(), 'line one\nline two');
    const bad = await send(`mqtt://nas:wrong-pw-77@127.0.0.1:${authed.port}/secure/t`, {}, MSG);
    assert.equal(bad.ok, false);
    assert.equal(bad.attempts, 1);
    assert.match(bad.error!, /[Nn]ot authorized|[Bb]ad user name or password/);
    assert.doesNotMatch(bad.error!, /wrong-pw-77/);
    assert.doesNotMatch(bad.url, /wrong-pw-77/);
    const anon = await send(`mqtt://127.0.0.1:${authed.port}/secure/t`, {}, MSG);
    assert.equal(anon.ok, false);
  });

  it('mqtts:// verifies the broker certificate: trusted CA delivers, unknown CA fails, disabletlsverification=yes skips the check', async () => {
    const sub = await subscriber(open.port, 'tls/t');
    clients.push(sub.client);
    const url = `mqtts://127.0.0.1:${open.tlsPort}/tls/t`;
    const trusted = await send(url, { ca: [cert.cert] }, MSG);
    assert.equal(trusted.ok, true, `${trusted.error}\n${open.log()}`);
    assert.equal((await sub.next()).payload.toString(), 'line one\nline two');
    const untrusted = await send(url, {}, MSG);
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.error!, /self-signed|certificate/i);
    const skipped = await send(`${url}?disabletlsverification=yes`, {}, { ...MSG, message: 'skipped' });
    assert.equal(skipped.ok, true, skipped.error);
  });

  it('mqtts:// with disabletls=yes talks plain MQTT', async () => {
    const sub = await subscriber(open.port, 'plain/t');
    clients.push(sub.client);
    const r = await send(`mqtts://127.0.0.1:${open.port}/plain/t?disabletls=yes`, {}, MSG);
    assert.equal(r.ok, true, r.error);
    assert.equal((await sub.next()).payload.toString(), 'line one\nline two');
  });
});

describe('mqtt failures', () => {
  it('nothing listening: retried with backoff, then a failure naming the broker', async () => {
    const port = await freePort();
    const r = await send(`mqtt://127.0.0.1:${port}/t`, { attempts: 3 }, MSG);
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 3);
    assert.match(r.error!, new RegExp(`mqtt to 127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*gave up after 3 tries`));
  });

  it('a broker that accepts the connection but never answers fails within the request timeout', async () => {
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const srv = createServer((s) => {
      sockets.push(s);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as import('node:net').AddressInfo).port;
    try {
      const started = Date.now();
      const r = await send(`mqtt://127.0.0.1:${port}/t`, { timeoutMs: 500 }, MSG);
      assert.equal(r.ok, false);
      assert.match(r.error!, /no answer within 500ms/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      for (const s of sockets) s.destroy();
      srv.close();
    }
  });

  it('the mqtt client is loaded only when an mqtt URL sends', async () => {
    const { execFileSync: run } = await import('node:child_process');
    const out = run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
      import { createRequire } from 'node:module';
      const req = createRequire(import.meta.url);
      const { parseNotificationUrl } = await import('./src/notify/index.ts');
      if (!parseNotificationUrl('mqtt://broker/t').ok) throw new Error('not parsed');
      console.log(Object.keys(req('module')._cache).filter((k) => k.includes('/node_modules/mqtt/')).length);
    `,
      ],
      { cwd: new URL('../..', import.meta.url), encoding: 'utf8' },
    );
    assert.equal(out.trim(), '0');
  });
});
