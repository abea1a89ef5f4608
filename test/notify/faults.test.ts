import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { after, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { retryAfterMs } from '../../src/notify/http.ts';
import { sendToTargets } from '../../src/notify/send.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';
import { FAST, MSG, send, target } from './helpers.ts';

const rec: HttpRecorder = await startRecorder();
after(() => rec.close());
beforeEach(() => rec.reset());

const TOKEN = 'Aaaaaaaaaaaaaaa';
const gotifyUrl = () => `gotify://${rec.host}/${TOKEN}?disabletls=yes`;

function capture(): { log: pino.Logger; lines: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines: () => out };
}

describe('retries and faults', () => {
  it('500 then 200: retried once, delivered once', async () => {
    rec.queue({ status: 500, body: 'boom' }, { status: 200, body: { id: 1 } });
    const r = await send(gotifyUrl());
    assert.equal(r.ok, true, r.error);
    assert.equal(r.attempts, 2);
    assert.equal(rec.requests.length, 2);
    assert.deepEqual(rec.requests[0]!.json, rec.requests[1]!.json);
  });

  it('429 with Retry-After: waits as asked, then delivers', async () => {
    rec.queue({ status: 429, headers: { 'retry-after': '1' } }, { status: 200 });
    const r = await send(gotifyUrl(), { backoffMs: 10 });
    assert.equal(r.ok, true, r.error);
    assert.equal(r.attempts, 2);
    // the backoff alone would be ~10 ms: the gap shows Retry-After was honoured
    assert.ok(r.durationMs >= 950, `only waited ${r.durationMs} ms`);
  });

  it('a Retry-After beyond the allowed wait fails at once, saying why', async () => {
    rec.queue({ status: 429, headers: { 'retry-after': '3600' } });
    const r = await send(gotifyUrl(), { maxRetryDelayMs: 2000 });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.match(r.error!, /429.*retry after 3600s/);
  });

  it('5xx every time: bounded tries, then a failure naming the status', async () => {
    rec.handle(() => ({ status: 503, body: 'maintenance' }));
    const r = await send(gotifyUrl(), { attempts: 3 });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 3);
    assert.equal(rec.requests.length, 3);
    assert.match(r.error!, /HTTP 503.*maintenance.*gave up after 3 tries/);
  });

  it('refused credentials (401) are not retried', async () => {
    rec.queue({ status: 401, body: { error: 'Unauthorized', errorDescription: 'you need to provide a valid access token' } });
    const r = await send(gotifyUrl());
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.match(r.error!, /401/);
    assert.doesNotMatch(r.error! + r.url, new RegExp(TOKEN));
  });

  it('a server that never answers: the request times out and the send ends', async () => {
    rec.handle(() => ({ hang: true }));
    const r = await send(gotifyUrl(), { timeoutMs: 300 });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.match(r.error!, /no answer within 300ms/);
  });

  it('the per-URL deadline ends a send even when a request would wait longer', async () => {
    rec.handle(() => ({ hang: true }));
    const r = await send(gotifyUrl(), { timeoutMs: 30_000, totalTimeoutMs: 400 });
    assert.equal(r.ok, false);
    assert.match(r.error!, /limit for this URL ran out/);
  });

  it('a refused connection is retried with backoff, then reported', async () => {
    const s = createServer();
    await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((res) => s.close(() => res()));
    const r = await send(`gotify://127.0.0.1:${port}/${TOKEN}?disabletls=yes`, { attempts: 3 });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 3);
    assert.match(r.error!, /ECONNREFUSED/);
  });

  it('a shutdown signal stops the waits between tries', async () => {
    rec.handle(() => ({ status: 500 }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutting down')), 200);
    const r = await send(gotifyUrl(), { attempts: 5, backoffMs: 60_000, maxRetryDelayMs: 60_000, signal: ac.signal });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
  });

  it('sends to every URL concurrently; one failing URL does not stop the others; failures are logged without secrets', async () => {
    rec.handle((q) => (q.path === '/hang/message' ? { hang: true } : q.path === '/bad/message' ? { status: 500 } : { status: 200 }));
    const { log, lines } = capture();
    const targets = [
      target(`gotify://${rec.host}/hang/${TOKEN}?disabletls=yes`),
      target(`gotify://${rec.host}/bad/${TOKEN}?disabletls=yes`),
      target(`gotify://${rec.host}/good/${TOKEN}?disabletls=yes`),
    ];
    const results = await sendToTargets(targets, MSG, log, { ...FAST, timeoutMs: 500, attempts: 2 });
    assert.deepEqual(
      results.map((r) => r.ok),
      [false, false, true],
    );
    assert.deepEqual(
      results.map((r) => r.url),
      [`gotify://${rec.host}/hang/***?disabletls=yes`, `gotify://${rec.host}/bad/***?disabletls=yes`, `gotify://${rec.host}/good/***?disabletls=yes`],
    );
    const text = lines();
    assert.match(text, /notification via gotify failed/);
    assert.match(text, /notification sent via gotify/);
    assert.doesNotMatch(text, new RegExp(TOKEN));
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(retryAfterMs('2'), 2000);
    assert.equal(retryAfterMs('0.5'), 500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', now), 3000);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterMs(null), undefined);
  });
});
