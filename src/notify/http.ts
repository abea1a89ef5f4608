import { redact } from '../redact.ts';
import type { SendContext } from './types.ts';
import { backoffDelay, retryAfterMs, retryLoop } from '../retry.ts';

/** A response already read (bounded) so retries and error messages can use it. */
export interface HttpResponse {
  status: number;
  statusText: string;
  headers: Headers;
  text: string;
}

export interface RequestInit2 {
  method?: string;
  headers?: Record<string, string>;
  body?: string | URLSearchParams;
  /** Status codes that count as delivered; default 2xx. */
  ok?: (status: number) => boolean;
}

/** A request that failed for good (after retries). */
export class DeliveryError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(redact(message));
    this.name = 'DeliveryError';
    this.status = status;
  }
}

const MAX_BODY = 64 * 1024;

async function readBody(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < MAX_BODY) {
      chunks.push(value);
      size += value.byteLength;
    }
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY);
}

export { retryAfterMs };

function excerpt(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}...` : t;
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string } };
  return e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError';
}

function networkReason(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const c = e?.cause;
  if (c?.code) return `${c.code}${c.message && !c.message.includes(c.code) ? ` (${c.message})` : ''}`;
  return c?.message || e?.message || String(err);
}

/** Host of a URL for messages (never the path: it may hold tokens). */
export function hostForMessage(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the server';
  }
}

/**
 * One HTTP request with a per-try timeout and bounded retries: network errors,
 * 429 (honouring Retry-After) and 5xx are retried with exponential backoff;
 * a timeout is not retried (the server may have acted on it; waiting again
 * would only hold the run). Throws DeliveryError when it does not succeed.
 */
export async function request(ctx: SendContext, url: string, init: RequestInit2 = {}): Promise<HttpResponse> {
  const method = init.method ?? 'POST';
  const host = hostForMessage(url);
  const okStatus = init.ok ?? ((s: number) => s >= 200 && s < 300);
  const { attempts, maxDelayMs } = ctx.retry;
  let lastError = '';
  const stopped = () => new DeliveryError(`${lastError || `${method} to ${host} was not sent`} (stopped before the next try)`);
  const r = await retryLoop(
    async () => {
      if (ctx.signal.aborted) throw stopped();
      ctx.attempts++;
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(ctx.timeoutMs)]);
      const res = await ctx.fetch(url, { method, headers: init.headers, body: init.body, signal, redirect: 'follow' });
      const text = await readBody(res);
      const out: HttpResponse = { status: res.status, statusText: res.statusText, headers: res.headers, text };
      if (okStatus(res.status)) return out;
      throw new RefusedRequest(
        `${method} to ${host} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${text ? `: ${excerpt(text)}` : ''}`,
        out,
      );
    },
    {
      signal: ctx.signal,
      stopped,
      next(err, attempt) {
        if (err instanceof DeliveryError) throw err;
        let delay: number;
        if (err instanceof RefusedRequest) {
          const { status } = err.response;
          if (status !== 429 && status < 500) throw new DeliveryError(err.message, status);
          lastError = err.message;
          const after = retryAfterMs(err.response.headers.get('retry-after'));
          if (after !== undefined && after > maxDelayMs) {
            throw new DeliveryError(
              `${err.message} (the server asks to retry after ${Math.ceil(after / 1000)}s, more than the ${Math.ceil(maxDelayMs / 1000)}s allowed)`,
              status,
            );
          }
          if (attempt >= attempts) throw new DeliveryError(`${err.message} (gave up after ${attempt} tries)`, status);
          delay = after ?? notifyBackoff(ctx, attempt);
        } else {
          if (ctx.signal.aborted) {
            throw new DeliveryError(`${method} to ${host} was stopped: ${ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted'}`);
          }
          if (isTimeout(err)) throw new DeliveryError(`${method} to ${host} got no answer within ${formatMs(ctx.timeoutMs)}`);
          lastError = `${method} to ${host} failed: ${networkReason(err)}`;
          if (attempt >= attempts) throw new DeliveryError(`${lastError} (gave up after ${attempt} tries)`);
          delay = notifyBackoff(ctx, attempt);
        }
        ctx.log.debug({ host, attempt, delayMs: delay }, `notification: retrying: ${lastError}`);
        return delay;
      },
    },
  );
  return r.value;
}

/** An answer that is not a success, read: retried or not by request()'s policy. */
class RefusedRequest extends Error {
  readonly response: HttpResponse;
  constructor(message: string, response: HttpResponse) {
    super(message);
    this.name = 'RefusedRequest';
    this.response = response;
  }
}

/** The wait before retry number `attempt` of a notification (NOTIFICATION_RETRY_* settings). */
export function notifyBackoff(ctx: SendContext, attempt: number): number {
  return backoffDelay(attempt, { initialDelayMs: ctx.retry.backoffMs, maxDelayMs: ctx.retry.maxDelayMs });
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}

/** POST JSON; returns the read response. */
export function postJson(
  ctx: SendContext,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  ok?: (s: number) => boolean,
): Promise<HttpResponse> {
  return request(ctx, url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body), ok });
}

/** POST an urlencoded form. */
export function postForm(
  ctx: SendContext,
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
  ok?: (s: number) => boolean,
): Promise<HttpResponse> {
  return request(ctx, url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
    ok,
  });
}

/** Parse a JSON response body, or undefined. */
export function jsonOf(res: HttpResponse): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(res.text) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Basic authorization header value. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}
