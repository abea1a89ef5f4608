import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, retryAfterMs, retryLoop, sleep } from '../src/retry.ts';
import { withRetry, DEFAULT_RETRY } from '../src/destinations/retry.ts';
import { silentLogger } from '../src/log.ts';

describe('the retry engine (src/retry.ts)', () => {
  it('tries again after the wait `next` gives, and ends with the error `next` throws', async () => {
    const waits: number[] = [];
    let calls = 0;
    await assert.rejects(
      retryLoop(
        async () => {
          calls++;
          throw new Error(`fail ${calls}`);
        },
        {
          next: (err, attempt) => {
            if (attempt >= 3) throw new Error(`gave up: ${(err as Error).message}`);
            return attempt * 10;
          },
          sleep: async (ms) => {
            waits.push(ms);
          },
        },
      ),
      /gave up: fail 3/,
    );
    assert.equal(calls, 3);
    assert.deepEqual(waits, [10, 20]);
  });

  it('resolves with the value and the number of tries; a wait of 0 tries again at once', async () => {
    let calls = 0;
    const r = await retryLoop(
      async (attempt) => {
        calls++;
        if (attempt < 2) throw new Error('once');
        return 'ok';
      },
      {
        next: () => 0,
        sleep: () => Promise.reject(new Error('must not wait')),
      },
    );
    assert.deepEqual(r, { value: 'ok', attempts: 2 });
    assert.equal(calls, 2);
  });

  it('an abort ends the wait between tries at once, with the error `stopped` makes', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error('stopping')), 50);
    await assert.rejects(
      retryLoop(
        async () => {
          throw new Error('busy');
        },
        { signal: ac.signal, next: () => 60_000, stopped: (wait, last) => new Error(`${(last as Error).message}; ${(wait as Error).message}`) },
      ),
      /busy; stopping/,
    );
    assert.ok(Date.now() - t0 < 5000, 'the 60 s wait was cut short');
  });

  it('sleep rejects with what onAbort makes of the signal, at once when it is already aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('why'));
    await assert.rejects(sleep(60_000, ac.signal), /why/);
    await assert.rejects(
      sleep(60_000, ac.signal, () => new Error('wrapped')),
      /wrapped/,
    );
  });

  it('backoff doubles from the initial delay, capped, with jitter of 50-100 %', () => {
    const small = { initialDelayMs: 100, maxDelayMs: 1000 };
    // a destination's RetrySettings serve as the backoff too (src/destinations/retry.ts)
    const destination = { ...DEFAULT_RETRY, initialDelayMs: 1000, maxDelayMs: 5000 };
    const cases: [retry: number, backoff: { initialDelayMs: number; maxDelayMs: number }, random: number, ms: number][] = [
      [1, small, 1, 100],
      [3, small, 1, 400],
      [3, small, 0, 200],
      [10, small, 1, 1000],
      [1, destination, 0, 500],
      [1, destination, 1, 1000],
      [3, destination, 1, 4000],
      [10, destination, 1, 5000],
    ];
    for (const [retry, backoff, random, ms] of cases) {
      assert.equal(
        backoffDelay(retry, backoff, () => random),
        ms,
        `retry ${retry}, initial ${backoff.initialDelayMs}, max ${backoff.maxDelayMs}, random ${random}`,
      );
    }
  });

  it('Retry-After as seconds or an HTTP date', () => {
    assert.equal(retryAfterMs('3'), 3000);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', Date.parse('2026-01-01T00:00:00Z')), 5000);
    assert.equal(retryAfterMs('later'), undefined);
    assert.equal(retryAfterMs(undefined), undefined);
  });

  it("withRetry: a destination's own transient judgement and Retry-After decide the tries and the wait", async () => {
    const waits: number[] = [];
    let calls = 0;
    const r = await withRetry(
      async () => {
        calls++;
        if (calls === 1) throw Object.assign(new Error('quota'), { code: 'OurQuota' });
        return 'done';
      },
      {
        settings: { ...DEFAULT_RETRY, initialDelayMs: 10, maxDelayMs: 10 },
        log: silentLogger(),
        what: 'test',
        classify: (e) => ({ transient: (e as { code?: string }).code === 'OurQuota', reason: 'quota' }),
        retryAfter: () => 1234,
        sleep: async (ms) => {
          waits.push(ms);
        },
      },
    );
    assert.deepEqual(r, { value: 'done', attempts: 2 });
    assert.deepEqual(waits, [1234]);
  });
});
