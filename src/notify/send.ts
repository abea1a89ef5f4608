import type { Logger } from '../log.ts';
import { redact } from '../redact.ts';
import { serviceFor } from './router.ts';
import type { NotificationResult, NotificationTarget, NotifyMessage, SendContext } from './types.ts';

export interface SendOptions {
  /** Injectable fetch (tests). Default: the global fetch. */
  fetch?: typeof fetch;
  /** Timeout of one request; default 10 s. */
  timeoutMs?: number;
  /** Tries of one request, retries included; default 3. */
  attempts?: number;
  /** First backoff delay; default 1 s (then 2 s, 4 s ...). */
  backoffMs?: number;
  /** Longest wait between tries (a longer Retry-After fails at once); default 30 s. */
  maxRetryDelayMs?: number;
  /** Deadline for everything one URL does; default 60 s. */
  totalTimeoutMs?: number;
  /** Stops every send (shutdown). */
  signal?: AbortSignal;
  /** Extra trusted CA certificates (PEM) for smtp. */
  ca?: string[];
}

export const SEND_DEFAULTS = { timeoutMs: 10_000, attempts: 3, backoffMs: 1_000, maxRetryDelayMs: 30_000, totalTimeoutMs: 60_000 } as const;

/** Mask the URL's own secrets and every registered secret in a message. */
function clean(text: string, target: NotificationTarget): string {
  let out = text;
  for (const s of [...target.config.secrets].sort((a, b) => b.length - a.length)) {
    if (s && s.length >= 3) out = out.split(s).join('***');
  }
  return redact(out);
}

/**
 * Send one message to every target concurrently. Each URL gets its own
 * deadline and retries; a failure is logged and returned, never thrown.
 */
export async function sendToTargets(
  targets: readonly NotificationTarget[],
  msg: NotifyMessage,
  log: Logger,
  opts: SendOptions = {},
): Promise<NotificationResult[]> {
  return Promise.all(targets.map((t) => sendOne(t, msg, log, opts)));
}

async function sendOne(target: NotificationTarget, msg: NotifyMessage, log: Logger, opts: SendOptions): Promise<NotificationResult> {
  const started = Date.now();
  const total = opts.totalTimeoutMs ?? SEND_DEFAULTS.totalTimeoutMs;
  const deadline = AbortSignal.timeout(total);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const ctx: SendContext = {
    fetch: opts.fetch ?? fetch,
    signal,
    timeoutMs: opts.timeoutMs ?? SEND_DEFAULTS.timeoutMs,
    retry: {
      attempts: Math.max(1, opts.attempts ?? SEND_DEFAULTS.attempts),
      backoffMs: opts.backoffMs ?? SEND_DEFAULTS.backoffMs,
      maxDelayMs: opts.maxRetryDelayMs ?? SEND_DEFAULTS.maxRetryDelayMs,
    },
    attempts: 0,
    ca: opts.ca,
    log,
  };
  const base = { url: target.redacted, service: target.service };
  try {
    const service = serviceFor(target.service);
    if (!service) throw new Error(`no service for ${target.service}`);
    // every registered secret is masked in what is sent, as in logs and errors
    await service.send(target.config, { ...msg, title: redact(msg.title), message: redact(msg.message) }, ctx);
    const result: NotificationResult = { ...base, ok: true, attempts: ctx.attempts, durationMs: Date.now() - started };
    log.info({ notification: target.redacted, attempts: ctx.attempts }, `notification sent via ${target.service}`);
    return result;
  } catch (err) {
    let message = err instanceof Error ? err.message : String(err);
    if (deadline.aborted && !opts.signal?.aborted) message = `${message} (the ${Math.round(total / 1000)}s limit for this URL ran out)`;
    const error = clean(message, target);
    log.error({ notification: target.redacted, attempts: ctx.attempts, error }, `notification via ${target.service} failed: ${error}`);
    return { ...base, ok: false, attempts: ctx.attempts, durationMs: Date.now() - started, error };
  }
}
