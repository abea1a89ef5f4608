/**
 * Every HTTP notification service through HTTPS_PROXY / HTTP_PROXY, sent by the offsite process
 * (`offsite backup`, so the real environment handling runs): the proxy named is a real forward
 * proxy (tinyproxy, whose log shows each CONNECT), chained to a test proxy
 * (test/servers/mitm-proxy.ts) that answers the CONNECT to the service's own host (hooks.slack.com, api.telegram.org...), terminates
 * TLS with a certificate of a test CA the process trusts through NODE_EXTRA_CA_CERTS, and hands
 * the request to the recorder. What arrives is checked field by field with the per-service tests'
 * own expectations (wire-cases.ts); the message is theirs too (custom templates render it).
 *
 * And the other way: a dead proxy fails the notification (nothing goes around it), and NO_PROXY
 * sends a host around the proxy. Every host name resolves to 127.0.0.1 in the offsite process
 * (test/servers/loopback-dns.ts): a request that went around the proxy never leaves the machine.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startMitmProxy, type MitmProxy } from '../servers/mitm-proxy.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';
import { startTinyproxy, type Tinyproxy } from '../servers/tinyproxy.ts';
import { freePort } from '../servers/util.ts';
import { SERVICES } from '../../src/notify/services/index.ts';
import { MSG, target } from './helpers.ts';
import { WIRE, type WireCase } from './wire-cases.ts';

const LOOPBACK_DNS = fileURLToPath(new URL('../servers/loopback-dns.ts', import.meta.url));

let rec: HttpRecorder;
let proxy: MitmProxy;
/** What offsite is given: tinyproxy, relaying everything to `proxy`. */
let tiny: Tinyproxy;
const dirs: string[] = [];
before(async () => {
  rec = await startRecorder();
  proxy = await startMitmProxy(rec.url);
  tiny = await startTinyproxy({ upstream: `127.0.0.1:${proxy.port}` });
});
after(async () => {
  await tiny?.stop();
  await proxy?.stop();
  await rec?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => {
  rec.reset();
  proxy.reset();
});

/** `offsite backup` (local archive) that notifies `url` with `msg` (custom templates) at level info. */
async function backupNotifying(url: string, msg = MSG, extra: Record<string, string> = {}) {
  const iso = isolatedEnv();
  dirs.push(iso.dir);
  const src = join(iso.dir, 'src');
  const archive = join(iso.dir, 'archive');
  const templates = join(iso.dir, 'templates');
  for (const d of [src, archive, templates]) mkdirSync(d);
  writeFileSync(join(src, 'data.txt'), 'notified through the proxy');
  writeFileSync(join(templates, 'title_success.hbs'), msg.title);
  writeFileSync(join(templates, 'body_success.hbs'), msg.message);
  const env = {
    ...iso.env,
    BACKUP_SOURCES: src,
    BACKUP_ARCHIVE: archive,
    // a comma inside a URL is written %2C in NOTIFICATION_URLS (the list's separator)
    NOTIFICATION_URLS: url.replaceAll(',', '%2C'),
    NOTIFICATION_LEVEL: 'info',
    NOTIFICATION_TEMPLATES_DIR: templates,
    HTTPS_PROXY: tiny.url,
    HTTP_PROXY: tiny.url,
    NODE_EXTRA_CA_CERTS: proxy.caFile,
    // every host name resolves to 127.0.0.1 in the process: a request that went around the proxy
    // fails here instead of reaching the real service
    NODE_OPTIONS: `--import ${LOOPBACK_DNS}`,
    ...extra,
  };
  return runCliAsync(['backup'], env);
}

describe('each HTTP notification service through the proxy, checked field by field', () => {
  for (const [name, c] of Object.entries(WIRE) as [string, WireCase][]) {
    const via = c.https ? `CONNECT ${c.https.includes(':') ? c.https : `${c.https}:443`}` : 'the proxy';
    it(`${name}: ${via} to the recorder`, async () => {
      if (c.replies) rec.queue(...c.replies);
      if (c.handler) rec.handle(c.handler);
      const url = c.url(rec.host);
      const tinyBefore = tiny.requests().length;
      const r = await backupNotifying(url, c.msg);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`notification sent via ${target(url).service}`), r.out);
      assert.ok(rec.requests.length > 0, `nothing arrived; the proxy saw: ${proxy.connects.join(', ')}\n${r.out}`);
      for (const q of rec.requests) {
        const how = String(q.headers['x-test-proxy']);
        if (c.https) {
          // through the tunnel to the service's own host, TLS terminated by the test CA's certificate
          assert.equal(how, via, `${q.method} ${q.path} came ${how}`);
          assert.equal(q.originalScheme, 'https:');
        } else {
          // the recorder is on 127.0.0.1 and reachable without the proxy: this header says it came through it
          assert.match(how, new RegExp(`^(CONNECT ${rec.host}|absolute-uri)$`), `${q.method} ${q.path} came ${how}`);
        }
      }
      c.check(rec.requests, rec.host);
      // and tinyproxy relayed it: its log names the tunnel (written a moment after the relay)
      const expected = c.https ? via.slice('CONNECT '.length) : rec.host;
      const relayed = () =>
        tiny
          .requests()
          .slice(tinyBefore)
          .some((x) => x.target === expected || x.target.startsWith(`http://${expected}/`));
      for (let i = 0; i < 100 && !relayed(); i++) await new Promise((res) => setTimeout(res, 20));
      assert.ok(relayed(), `tinyproxy relayed ${expected}; its log:\n${tiny.log()}`);
    });
  }
});

it('the cases cover every HTTP service (all but smtp, mqtt, stdout and logger)', () => {
  const notHttp = ['smtp', 'mqtt', 'stdout', 'logger'];
  const http = SERVICES.map((s) => s.schemes[0]!).filter((n) => !notHttp.includes(n));
  const covered = new Set(Object.values(WIRE).map((c) => target(c.url('127.0.0.1:1')).service));
  assert.deepEqual(
    http.filter((n) => !covered.has(n)),
    [],
  );
  assert.equal(http.length, 24);
});

describe('the proxy cannot be gone around', () => {
  it('a dead proxy: the notification fails (refused by the proxy address), nothing arrives', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const c = WIRE.slackWebhook;
    const r = await backupNotifying(c.url(rec.host), MSG, { HTTPS_PROXY: dead, HTTP_PROXY: dead });
    assert.match(r.out, /notification via slack failed: .*ECONNREFUSED/, r.out);
    assert.doesNotMatch(r.out, /notification sent via slack/);
    assert.equal(rec.requests.length, 0);
    assert.equal(proxy.connects.length, 0);
  });

  it('a dead proxy for a service on a plain-http server (HTTP_PROXY): fails too', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await backupNotifying(WIRE.generic.url(rec.host), MSG, { HTTPS_PROXY: dead, HTTP_PROXY: dead });
    assert.match(r.out, /notification via generic failed: .*ECONNREFUSED/, r.out);
    assert.equal(rec.requests.length, 0);
  });

  it('NO_PROXY naming the server: the request goes straight to it, not through the proxy', async () => {
    const c = WIRE.generic;
    rec.queue(...(c.replies ?? []));
    const r = await backupNotifying(c.url(rec.host), MSG, { NO_PROXY: '127.0.0.1' });
    assert.match(r.out, /notification sent via generic/, r.out);
    c.check(rec.requests, rec.host);
    assert.equal(rec.requests[0]!.headers['x-test-proxy'], undefined);
    assert.deepEqual(proxy.connects, []);
    assert.deepEqual(proxy.relayed, []);
  });

  it("NO_PROXY naming a fixed-host service's host (lower case no_proxy, a domain suffix): it is reached directly, not through the proxy", async () => {
    // (the name resolves to 127.0.0.1 in that process: the direct attempt stays on this machine)
    const r = await backupNotifying(WIRE.slackWebhook.url(rec.host), MSG, { no_proxy: '.slack.com' });
    // (a connection refused on 127.0.0.1:443, or whatever answers there: not the proxy)
    assert.match(r.out, /notification via slack failed: POST to hooks\.slack\.com failed/, r.out);
    assert.deepEqual(proxy.connects, []);
    assert.equal(rec.requests.length, 0);
  });
});
