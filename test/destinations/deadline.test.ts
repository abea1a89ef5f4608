/** The shared deadline mechanism and error description (src/destinations/deadline.ts, describe.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { guarded, guardStream, metered, isTimeout } from '../../src/destinations/deadline.ts';
import { describeFailure, formatBytes, isOutOfSpace } from '../../src/destinations/describe.ts';
import { classify } from '../../src/destinations/retry.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('guarded', () => {
  test('an operation that never settles is abandoned after the timeout, with a transient timeout naming it', async () => {
    let hook = false;
    const started = Date.now();
    await assert.rejects(
      guarded({ timeoutMs: 200, what: 'Test op' }, (g) => {
        g.onAbort(() => {
          hook = true;
        });
        return new Promise(() => {});
      }),
      (err: Error) => {
        assert.ok(isTimeout(err));
        assert.equal(err.message, 'Test op: timed out after 0.2s with no progress (BACKUP_DESTINATION_TIMEOUT)');
        assert.equal(classify(err).transient, true);
        return true;
      },
    );
    assert.ok(Date.now() - started < 1000);
    assert.ok(hook, 'the abort hook ran (what a signal cannot stop is destroyed)');
  });

  test('progress keeps a long operation alive; the signal is aborted on a stall', async () => {
    const v = await guarded({ timeoutMs: 150, what: 'op' }, async (g) => {
      for (let i = 0; i < 6; i++) {
        await sleep(60);
        g.progress();
      }
      return 42;
    });
    assert.equal(v, 42);
    let seen: unknown = null;
    await assert.rejects(
      guarded(
        { timeoutMs: 100, what: 'op' },
        (g) =>
          new Promise((_, reject) => {
            g.signal.addEventListener('abort', () => {
              seen = g.signal.reason;
              reject(new Error('library says: aborted'));
            });
          }),
      ),
      /timed out after 0.1s/,
    );
    assert.ok(isTimeout(seen), 'the SDK sees the timeout as the abort reason');
  });

  test("the caller's abort ends it at once; a library's own TimeoutError reads as ours", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stopping')), 50);
    await assert.rejects(
      guarded({ timeoutMs: 10_000, what: 'op', signal: ac.signal }, () => new Promise(() => {})),
      /stopping/,
    );
    await assert.rejects(
      guarded({ timeoutMs: 10_000, what: 'Dropbox files/upload', signal: AbortSignal.timeout(50) }, () => new Promise(() => {})),
      /Dropbox files\/upload: timed out after 10s/,
    );
  });

  test('the last error a library retried is named in the timeout', async () => {
    const last = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    await assert.rejects(
      guarded({ timeoutMs: 100, what: 'S3 upload', lastError: () => last }, () => new Promise(() => {})),
      /timed out after 0.1s with no progress \(BACKUP_DESTINATION_TIMEOUT\); last error: connection reset \(ECONNRESET\)/,
    );
  });
});

describe('guardStream and metered', () => {
  test('a download that stops sending fails with a timeout; a slow reader does not', async () => {
    const src = new PassThrough();
    src.write(Buffer.alloc(10));
    const g = guardStream(src, { timeoutMs: 200, what: 'X download' });
    await assert.rejects(
      (async () => {
        for await (const _ of g) {
          /* read */
        }
      })(),
      /X download: timed out after 0.2s/,
    );

    const ok = guardStream(Readable.from([Buffer.alloc(1 << 20), Buffer.alloc(1 << 20)]), { timeoutMs: 100, what: 'Y' });
    let n = 0;
    for await (const c of ok) {
      n += (c as Buffer).length;
      await sleep(250);
    } // slower than the timeout, reading
    assert.equal(n, 2 << 20);
  });

  test('metered counts bytes, reports progress while the destination waits for a slow source, and fails on an early close', async () => {
    let progress = 0;
    const slow = new Readable({ read() {} });
    const m = metered(slow, () => {
      progress++;
    });
    const chunks: Buffer[] = [];
    m.stream.on('data', (c: Buffer) => chunks.push(c));
    slow.push(Buffer.alloc(5));
    await sleep(500); // nothing more from the source: not the destination's stall
    assert.ok(progress >= 2, `progress reported while waiting for the source (${progress})`);
    slow.push(null);
    await new Promise((r) => m.stream.once('end', r));
    assert.equal(m.bytes(), 5);

    const cut = new Readable({ read() {} });
    const m2 = metered(cut, () => {});
    m2.stream.resume();
    const failed = new Promise((resolve) => m2.stream.once('error', resolve));
    cut.push(Buffer.alloc(3));
    cut.destroy();
    assert.match(String(await failed), /closed before it ended/);
  });
});

describe('describeFailure', () => {
  const cases: [string, unknown, string][] = [
    [
      'refused inside fetch failed',
      new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) }),
      'connection refused (ECONNREFUSED)',
    ],
    [
      'S3 507 with its code',
      Object.assign(new Error('x'), { name: 'InsufficientStorage', $metadata: { httpStatusCode: 507 } }),
      'HTTP 507 Insufficient Storage (InsufficientStorage): the destination is out of space',
    ],
    ['Azure 503 with its code', Object.assign(new Error('busy'), { statusCode: 503, code: 'ServerBusy' }), 'HTTP 503 Service Unavailable (ServerBusy)'],
    ['a full disk', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), 'disk full (ENOSPC)'],
    ['socket hang up', new Error('socket hang up'), 'connection closed by the server'],
    ['unknown', new Error('something odd'), 'something odd'],
  ];
  for (const [name, err, want] of cases) test(name, () => assert.equal(describeFailure(err), want));

  test('a reset says how much was sent', () => {
    assert.equal(
      describeFailure(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), { bytesSent: 5_200_000 }),
      'connection reset after 5.2 MB sent (ECONNRESET)',
    );
    assert.equal(formatBytes(512), '512 bytes');
  });

  test('out of space is recognised by status, code and server summaries', () => {
    assert.ok(isOutOfSpace({ status: 507 }));
    assert.ok(isOutOfSpace({ code: 'ENOSPC' }));
    assert.ok(isOutOfSpace({ serverCode: 'path/insufficient_space' }));
    assert.ok(!isOutOfSpace({ status: 500 }));
  });
});
