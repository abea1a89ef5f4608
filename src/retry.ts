/**
 * The one retry engine: destinations (destinations/retry.ts's withRetry, and the request
 * loops of destinations with their own rate limits) and notifications (notify/http.ts, MQTT, SMTP) all try
 * again through retryLoop, wait through sleep, back off with backoffDelay and read
 * Retry-After with retryAfterMs. What differs between them is only their policy: which
 * failures are transient, how many tries, what the final error says (the `next` function).
 */

/** Delays of exponential backoff: initial × 2^(retry-1), capped at max. */
export interface Backoff {
  initialDelayMs: number;
  maxDelayMs: number;
}

/** Delay before retry number `retry` (1-based): initial × 2^(retry-1), capped, with "equal jitter" (50-100 %). */
export function backoffDelay(retry: number, backoff: Backoff, random: () => number = Math.random): number {
  const exp = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * 2 ** (retry - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Retry-After (seconds or HTTP date) in milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(parseFloat(v) * 1000);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/**
 * Wait `ms`; an abort of `signal` ends the wait at once, rejecting with `onAbort(signal)`
 * (by default the signal's reason).
 */
export function sleep(ms: number, signal?: AbortSignal, onAbort: (signal: AbortSignal) => unknown = (s) => s.reason): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(onAbort(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(t);
      reject(onAbort(signal!));
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}

export interface RetryLoopOptions {
  /**
   * After failed try number `attempt`: the wait in ms before the next try (0: at once), or
   * throw to end the loop (with the error the caller should see). The policy lives here.
   */
  next: (err: unknown, attempt: number) => number | Promise<number>;
  /** Ends a wait between tries. */
  signal?: AbortSignal;
  /** Replaces `sleep` (tests). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The error to throw when a wait between tries was ended by the signal (default: the wait's own rejection). */
  stopped?: (waitError: unknown, lastError: unknown, attempt: number) => unknown;
}

/** Run `fn` until it succeeds or `next` throws; resolves with its value and the number of tries. */
export async function retryLoop<T>(fn: (attempt: number) => Promise<T>, opts: RetryLoopOptions): Promise<{ value: T; attempts: number }> {
  const wait = opts.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (err) {
      const delay = await opts.next(err, attempt);
      if (delay <= 0 && !opts.signal?.aborted) continue;
      try {
        await wait(delay, opts.signal);
      } catch (e) {
        throw opts.stopped ? opts.stopped(e, err, attempt) : e;
      }
    }
  }
}
