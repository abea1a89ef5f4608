import type { Logger } from '../log.ts';

/** NOTIFICATION_LEVEL: `error` sends only for failed, partial or degraded runs; `info` for every run. */
export type NotifyLevel = 'error' | 'info';

/** What one notification says. */
export interface NotifyMessage {
  title: string;
  message: string;
  /** `info` for a successful run (and tests), `error` otherwise. */
  level: 'info' | 'error';
}

export interface RetryOptions {
  /** Total tries of one HTTP request (1 = no retry). */
  attempts: number;
  /** First backoff delay; doubles on every retry (with jitter). */
  backoffMs: number;
  /** Longest wait between tries; a Retry-After beyond it fails the request at once. */
  maxDelayMs: number;
}

/** Handed to a service's send(). */
export interface SendContext {
  /** Injectable fetch (tests rewrite origins to a local recorder). */
  fetch: typeof fetch;
  /** Aborts everything this URL is doing (overall deadline or shutdown). */
  signal: AbortSignal;
  /** Timeout of one request (one HTTP request or one SMTP session). */
  timeoutMs: number;
  retry: RetryOptions;
  /** Requests tried so far for this URL (retries included); services bump it through request(). */
  attempts: number;
  /** Extra trusted CA certificates (PEM) for services that open their own TLS connections (smtp). */
  ca?: string[];
  log: Logger;
}

/** A parsed service configuration: every service's config carries its secrets. */
export interface BaseServiceConfig {
  /** Values to mask in every log line and error (tokens, passwords, path tokens). */
  secrets: string[];
  /** Things the user should know at start-up (settings accepted but not honoured). */
  notes?: string[];
}

/**
 * One notification service. parse() throws NotifyUrlError for a URL that cannot be used;
 * send() throws on failure (after its own retries through request()).
 */
export interface NotifyService<C extends BaseServiceConfig = BaseServiceConfig> {
  /** Lower-case schemes this service answers to. */
  readonly schemes: readonly string[];
  parse(url: URL): C;
  send(config: C, message: NotifyMessage, ctx: SendContext): Promise<void>;
}

/** A usable notification URL: which service, its parsed config and how to show it. */
export interface NotificationTarget {
  /** Service name (its first scheme), e.g. `slack`. */
  service: string;
  /** The URL with its secrets masked; the only form that is ever logged. */
  redacted: string;
  config: BaseServiceConfig;
}

/** The outcome of sending to one URL. */
export interface NotificationResult {
  /** The URL with its secrets masked. */
  url: string;
  service: string;
  ok: boolean;
  /** Requests tried (retries included). */
  attempts: number;
  durationMs: number;
  /** Why it failed (secrets masked). */
  error?: string;
}

/** A URL that cannot be used: what is wrong and what to do. */
export class NotifyUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotifyUrlError';
  }
}
