// An archive response whose client goes away stops reading its source: the source stream is
// destroyed and reads stop (bounded by the stream buffers), not read to the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { request } from 'node:http';
import { Hono } from 'hono';
import { listen, streamOf } from '../../src/http/server.ts';

test('a client that disconnects mid-download ends the reading of the source', async () => {
  let produced = 0;
  let ended = 0;
  const chunk = Buffer.alloc(64 * 1024, 7);
  // 10 GiB if read to the end
  const source = new Readable({
    read() {
      if (produced >= 10 * 1024 ** 3) {
        this.push(null);
        return;
      }
      produced += chunk.length;
      this.push(chunk);
    },
  });
  const app = new Hono();
  app.get('/dl', (c) =>
    c.body(
      streamOf(
        source,
        () => {
          ended++;
        },
        c.req.raw.signal,
      ),
      200,
      { 'Content-Type': 'application/octet-stream' },
    ),
  );
  const server = await listen(app as never, { host: '127.0.0.1', port: 0 });
  try {
    const u = new URL(`${server.url}/dl`);
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: u.pathname }, (res) => {
        res.on('data', (d: Buffer) => {
          received += d.length;
          if (received > 1024 * 1024) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (e) => {
        if (!req.destroyed) reject(e);
      });
      req.end();
    });
    const deadline = Date.now() + 10_000;
    while (!source.destroyed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(source.destroyed, true, 'the source is still being read after the client left');
    assert.equal(ended, 1);
    const after = produced;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(produced, after, 'reads went on after the source was destroyed');
    assert.ok(produced < 256 * 1024 * 1024, `read ${produced} bytes for a client that took ${received}`);
  } finally {
    await server.close();
  }
});
