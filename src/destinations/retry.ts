/**
 * Retries for destination operations: transient failures (connection reset/refused,
 * timeouts, HTTP 5xx, 408, 429 and throttling codes) are retried with exponential
 * backoff and jitter, bounded by an attempt count and a total duration. Every failed
 * attempt is logged (redacted). Authentication and configuration failures (401/403,
 * NoSuchBucket, InvalidAccessKeyId, AuthenticationFailed, ...) are never retried.
 */
import { destinationDefinitions } from './registry.ts';
import type { Logger } from '../log.ts';
import { ConfigError, UserError, errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';
import { backoffDelay, retryLoop, sleep } from '../retry.ts';

export interface RetrySettings {
  /** Tries per operation, the first included (>= 1). BACKUP_RETRY_ATTEMPTS. */
  attempts: number;
  /** No new attempt starts once this long has passed since the first began. BACKUP_RETRY_MAX_DURATION. */
  maxDurationMs: number;
  /** Wait before the first retry; doubles per retry, capped at maxDelayMs, with jitter. BACKUP_RETRY_INITIAL_DELAY. */
  initialDelayMs: number;
  maxDelayMs: number;
  /**
   * A request or upload that makes no progress for this long fails (transient).
   * Also the connect timeout handed to the SDKs. BACKUP_DESTINATION_TIMEOUT.
   */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetrySettings = Object.freeze({
  attempts: 3,
  maxDurationMs: 15 * 60_000,
  initialDelayMs: 1000,
  maxDelayMs: 60_000,
  timeoutMs: 10 * 60_000,
});

/** Raised when an operation made no progress for `timeoutMs`. Transient. */
export class DestinationTimeoutError extends Error {
  declare readonly code?: string;
  declare readonly timeoutMs?: number;
  readonly transient = true;
  constructor(message: string, facts: { code?: string; timeoutMs?: number; cause?: unknown } = {}) {
    super(message, facts.cause === undefined ? undefined : { cause: facts.cause });
    this.name = 'DestinationTimeoutError';
    if (facts.code !== undefined) (this as { code?: string }).code = facts.code;
    if (facts.timeoutMs !== undefined) (this as { timeoutMs?: number }).timeoutMs = facts.timeoutMs;
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ESOCKETTIMEDOUT',
  'ENOTCONN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** Error names of offsite's own that mean "try again later" (each destination adds its service's: errorCodes). */
const TRANSIENT_NAMES = new Set(['TimeoutError', 'DestinationTimeoutError', 'TransientError']);

/** The error names/codes the registered destinations declare (definition.errorCodes), with offsite's own. */
function declaredCodes(): { transient: Set<string>; permanent: Set<string> } {
  const transient = new Set(TRANSIENT_NAMES);
  const permanent = new Set<string>();
  for (const d of destinationDefinitions()) {
    for (const c of d.errorCodes?.transient ?? []) transient.add(c);
    for (const c of d.errorCodes?.permanent ?? []) permanent.add(c);
  }
  return { transient, permanent };
}

export interface Classification {
  transient: boolean;
  /** Short reason for logs: `HTTP 503`, `ECONNRESET`, `SlowDown`, ... */
  reason: string;
}

function httpStatus(e: Record<string, unknown>): number | undefined {
  const meta = e.$metadata as { httpStatusCode?: unknown } | undefined;
  const resp = e.response as { status?: unknown; statusCode?: unknown } | undefined;
  for (const v of [meta?.httpStatusCode, e.statusCode, e.status, resp?.status, resp?.statusCode]) {
    if (typeof v === 'number' && v >= 100 && v < 600) return v;
  }
  return undefined;
}

/**
 * Is this failure worth retrying? Looks at explicit `transient` flags, permanent and
 * transient error names/codes, HTTP status, and Node/undici socket error codes, through
 * `cause` chains and AggregateErrors. Unknown errors are not retried.
 */
export function classify(err: unknown, depth = 0): Classification {
  if (!err || typeof err !== 'object' || depth > 5) return { transient: false, reason: 'unknown' };
  if (err instanceof UserError || err instanceof ConfigError) return { transient: false, reason: 'user error' };
  const e = err as Record<string, unknown>;
  if (typeof e.transient === 'boolean') return { transient: e.transient, reason: String(e.code ?? e.name ?? 'flagged') };
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';
  const awsCode = typeof e.Code === 'string' ? e.Code : '';
  const codes = declaredCodes();
  for (const n of [code, awsCode, name]) if (n && codes.permanent.has(n)) return { transient: false, reason: n };
  const status = httpStatus(e);
  if (status === 401 || status === 403 || status === 404) return { transient: false, reason: `HTTP ${status}` };
  for (const n of [code, awsCode, name]) if (n && (codes.transient.has(n) || TRANSIENT_CODES.has(n))) return { transient: true, reason: n };
  const retryable = e.$retryable as { throttling?: boolean } | undefined;
  if (retryable) return { transient: true, reason: retryable.throttling ? 'throttling' : name || 'retryable' };
  if (status !== undefined) {
    if (status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505)) return { transient: true, reason: `HTTP ${status}` };
    return { transient: false, reason: `HTTP ${status}` };
  }
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const c = classify(inner, depth + 1);
      if (c.transient) return c;
    }
  }
  if (e.cause) return classify(e.cause, depth + 1);
  return { transient: false, reason: name || code || 'error' };
}

export function isTransient(err: unknown): boolean {
  return classify(err).transient;
}

export interface RetryOptions {
  settings: RetrySettings;
  log: Logger;
  /** What is attempted, for logs and errors: `upload to <kind> <location>`. */
  what: string;
  /** Aborting stops at once (no further attempts) and rethrows. */
  signal?: AbortSignal;
  /** Return false when the operation cannot be repeated (e.g. its source stream was consumed). */
  canRetry?: () => boolean;
  /**
   * The operation can run only once by design (why, e.g. "streamed without staging"): one
   * attempt, and the log names the reason instead of counting attempts.
   */
  once?: string;
  /** Is this failure transient? The destination's own judgement (default: classify). */
  classify?: (err: unknown) => Classification;
  /** How long the service asked to wait (Retry-After), in ms: the wait before the next try is at least this. */
  retryAfter?: (err: unknown) => number | undefined;
  /** For tests: replaces setTimeout-based waiting. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

export interface RetryOutcome<T> {
  value: T;
  attempts: number;
}

/** Thrown when an operation failed for good; `attempts` says how many tries were made. */
export class RetryFailedError extends Error {
  readonly attempts: number;
  constructor(message: string, attempts: number, cause: unknown) {
    super(message, { cause });
    this.name = 'RetryFailedError';
    this.attempts = attempts;
  }
}

export { backoffDelay };

/** The engine's wait: an abort rejects with the signal's reason. */
export const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> => sleep(ms, signal);

/**
 * Run `fn` until it succeeds, fails permanently, runs out of attempts or of time.
 * Resolves with the value and the number of attempts; rejects with RetryFailedError
 * (message: what failed, after how many attempts, and the last error, redacted).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<RetryOutcome<T>> {
  const { settings, log, what, signal } = opts;
  const random = opts.random ?? Math.random;
  const max = opts.once ? 1 : Math.max(1, settings.attempts);
  const now = opts.now ?? Date.now;
  const start = now();
  return retryLoop(
    (attempt) => {
      signal?.throwIfAborted();
      return fn(attempt);
    },
    {
      signal,
      sleep: opts.sleep,
      stopped: (e, err, attempt) => new RetryFailedError(`${what} aborted: ${redact(errorMessage(e))}`, attempt, err),
      next(err, attempt) {
        const message = redact(errorMessage(err));
        if (signal?.aborted) throw new RetryFailedError(`${what} aborted: ${message}`, attempt, err);
        const c = (opts.classify ?? classify)(err);
        const elapsed = now() - start;
        const delay = Math.max(backoffDelay(attempt, settings, random), (c.transient && opts.retryAfter?.(err)) || 0);
        let stop = '';
        if (!c.transient) stop = 'not retried';
        else if (attempt >= max) stop = attempt > 1 ? `gave up after ${attempt} attempts` : 'retries disabled';
        else if (opts.canRetry && !opts.canRetry()) stop = 'cannot be repeated (the source stream was consumed)';
        else if (elapsed + delay > settings.maxDurationMs)
          stop = `gave up after ${attempt} attempts (retry time limit ${Math.round(settings.maxDurationMs / 1000)}s)`;
        // the final failure is thrown: the caller reports it once (a log line here would repeat it)
        if (stop && opts.once) {
          log.debug({ reason: c.reason, transient: c.transient }, `${what} failed (not retried: ${opts.once}): ${message}`);
          throw new RetryFailedError(`${what} failed (not retried: ${opts.once}): ${message}`, attempt, err);
        }
        if (stop) {
          log.debug({ attempt, attempts: max, reason: c.reason, transient: c.transient }, `${what} failed (attempt ${attempt}/${max}, ${stop}): ${message}`);
          throw new RetryFailedError(`${what} failed${attempt > 1 ? ` after ${attempt} attempts` : ''}: ${message}`, attempt, err);
        }
        log.warn(
          { attempt, attempts: max, reason: c.reason, delayMs: delay },
          `${what} failed (attempt ${attempt}/${max}, ${c.reason}): ${message}; retrying in ${(delay / 1000).toFixed(1)}s`,
        );
        return delay;
      },
    },
  );
}
