import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { classify, withRetry, DEFAULT_RETRY, RetryFailedError, DestinationTimeoutError, type RetrySettings } from '../../src/destinations/retry.ts';
import { parseRetry } from '../../src/destinations/config.ts';
import { UserError, type ConfigIssue } from '../../src/errors.ts';
import { registerSecret, clearSecrets } from '../../src/redact.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(c, _e, cb) {
        lines.push(JSON.parse(String(c)));
        cb();
      },
    }),
  );
  return { log, lines };
}

const fast: RetrySettings = { ...DEFAULT_RETRY, attempts: 4, initialDelayMs: 10, maxDelayMs: 40 };
const noSleep = async () => {};

function httpErr(status: number, name = 'Error'): Error {
  return Object.assign(new Error(`status ${status}`), { name, $metadata: { httpStatusCode: status } });
}

describe('classify', () => {
  const cases: [string, unknown, boolean][] = [
    ['connection reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), true],
    ['connection refused inside fetch failed', new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }), true],
    ['AggregateError of refused connections', new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]), true],
    ['S3 SlowDown 503', httpErr(503, 'SlowDown'), true],
    ['HTTP 500', httpErr(500), true],
    ['HTTP 429', Object.assign(new Error('too many'), { status: 429 }), true],
    ['Azure RestError 503', Object.assign(new Error('busy'), { name: 'RestError', statusCode: 503, code: 'ServerBusy' }), true],
    ['our stall timeout', new DestinationTimeoutError('no progress'), true],
    ['SDK TimeoutError', Object.assign(new Error('t'), { name: 'TimeoutError' }), true],
    ['HTTP 403', httpErr(403, 'AccessDenied'), false],
    ['HTTP 401', Object.assign(new Error('unauth'), { status: 401 }), false],
    ['NoSuchBucket', httpErr(404, 'NoSuchBucket'), false],
    ['InvalidAccessKeyId even with a 5xx-looking status', httpErr(500, 'InvalidAccessKeyId'), false],
    ['Azure AuthenticationFailed', Object.assign(new Error('auth'), { name: 'RestError', statusCode: 403, code: 'AuthenticationFailed' }), false],
    ['HTTP 400', httpErr(400), false],
    ['HTTP 501', httpErr(501), false],
    ['ENOSPC', Object.assign(new Error('no space'), { code: 'ENOSPC' }), false],
    ['UserError', new UserError('bad'), false],
    ['explicit transient flag', Object.assign(new Error('x'), { transient: true }), true],
    ['plain Error', new Error('x'), false],
    ['not an object', 'oops', false],
  ];
  for (const [label, err, want] of cases) test(label, () => assert.equal(classify(err).transient, want));
});

describe('withRetry', () => {
  test('retries transient failures, logs each attempt, returns the attempt count', async () => {
    const { log, lines } = capture();
    let n = 0;
    const out = await withRetry(
      async () => {
        if (++n < 3) throw httpErr(503, 'SlowDown');
        return 'ok';
      },
      { settings: fast, log, what: 'upload x', sleep: noSleep },
    );
    assert.deepEqual(out, { value: 'ok', attempts: 3 });
    const warns = lines.filter((l) => l.level === 40);
    assert.equal(warns.length, 2);
    assert.match(String(warns[0]!.msg), /upload x failed \(attempt 1\/4, SlowDown\).*retrying in/);
  });

  test('does not retry permanent failures', async () => {
    const { log } = capture();
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw httpErr(403, 'InvalidAccessKeyId');
        },
        { settings: fast, log, what: 'list', sleep: noSleep },
      ),
      (e: RetryFailedError) => e instanceof RetryFailedError && e.attempts === 1 && /list failed: status 403/.test(e.message),
    );
    assert.equal(n, 1);
  });

  test('gives up after the configured attempts', async () => {
    const { log } = capture();
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
        },
        { settings: fast, log, what: 'op', sleep: noSleep },
      ),
      (e: RetryFailedError) => e.attempts === 4 && /op failed after 4 attempts: reset/.test(e.message),
    );
    assert.equal(n, 4);
  });

  test('stops when the total retry time would be exceeded', async () => {
    const { log } = capture();
    let n = 0;
    const settings = { ...fast, attempts: 10, initialDelayMs: 1000, maxDelayMs: 60_000, maxDurationMs: 2500 };
    const sleeps: number[] = [];
    let clock = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          clock += 100;
          throw httpErr(500);
        },
        {
          settings,
          log,
          what: 'op',
          random: () => 1,
          now: () => clock,
          sleep: async (ms) => {
            sleeps.push(ms);
            clock += ms;
          },
        },
      ),
      /op failed after 2 attempts/,
    );
    // attempt 1 ends at 100 ms, waits 1000; attempt 2 ends at 1200 ms: 1200 + 2000 > 2500, so no third attempt
    assert.deepEqual(sleeps, [1000]);
    assert.equal(n, 2);
  });

  test('does not repeat an operation whose source cannot be replayed', async () => {
    const { log } = capture();
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw httpErr(503);
        },
        { settings: fast, log, what: 'op', sleep: noSleep, canRetry: () => false },
      ),
      /failed: status 503/,
    );
    assert.equal(n, 1);
  });

  test('an outer abort stops retrying at once', async () => {
    const { log } = capture();
    const ac = new AbortController();
    let n = 0;
    const p = withRetry(
      async () => {
        n++;
        if (n === 1) ac.abort(new Error('shutdown'));
        throw httpErr(503);
      },
      { settings: { ...fast, initialDelayMs: 5000 }, log, what: 'op', signal: ac.signal },
    );
    await assert.rejects(p, /op aborted/);
    assert.equal(n, 1);
  });

  test('real backoff waits (small delays) between attempts', async () => {
    const { log } = capture();
    const times: number[] = [];
    await assert.rejects(
      withRetry(
        async () => {
          times.push(Date.now());
          throw httpErr(502);
        },
        { settings: { ...fast, attempts: 3, initialDelayMs: 20, maxDelayMs: 100 }, log, what: 'op' },
      ),
    );
    assert.equal(times.length, 3);
    assert.ok(times[1]! - times[0]! >= 9, 'waited at least half the first delay');
  });

  test('secrets never reach the log or the error', async () => {
    clearSecrets();
    registerSecret('SuperSecretKey123');
    const { log, lines } = capture();
    await assert.rejects(
      withRetry(
        async () => {
          throw Object.assign(new Error('refused for key SuperSecretKey123'), { code: 'ECONNREFUSED' });
        },
        { settings: { ...fast, attempts: 2 }, log, what: 'op', sleep: noSleep },
      ),
      (e: Error) => !e.message.includes('SuperSecretKey123') && e.message.includes('***'),
    );
    assert.ok(lines.length > 0);
    for (const l of lines) assert.ok(!JSON.stringify(l).includes('SuperSecretKey123'));
    clearSecrets();
  });
});

describe('retry settings', () => {
  test('defaults', () => {
    const issues: ConfigIssue[] = [];
    assert.deepEqual(parseRetry({}, issues), DEFAULT_RETRY);
    assert.deepEqual(issues, []);
  });
  test('values and errors', () => {
    const issues: ConfigIssue[] = [];
    const r = parseRetry(
      { BACKUP_RETRY_ATTEMPTS: '5', BACKUP_RETRY_MAX_DURATION: '1h', BACKUP_RETRY_INITIAL_DELAY: '2s', BACKUP_DESTINATION_TIMEOUT: '30s' },
      issues,
    );
    assert.deepEqual(r, { attempts: 5, maxDurationMs: 3600_000, initialDelayMs: 2000, maxDelayMs: 60_000, timeoutMs: 30_000 });
    const bad: ConfigIssue[] = [];
    assert.equal(parseRetry({ BACKUP_RETRY_ATTEMPTS: '0', BACKUP_DESTINATION_TIMEOUT: 'soon' }, bad), null);
    assert.deepEqual(bad.map((i) => i.variable).sort(), ['BACKUP_DESTINATION_TIMEOUT', 'BACKUP_RETRY_ATTEMPTS']);
  });
});
