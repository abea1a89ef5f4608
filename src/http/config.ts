/**
 * The control plane's settings (issue 16): the HTTP server, its tokens and the backup key,
 * and the push monitors. Read from the process environment (not per conf.d job).
 */
import { str } from 'envalid';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { quote, type ConfigIssue } from '../errors.ts';
import { registerSecret } from '../redact.ts';
import { validateSection, positiveDuration, integer, list, type Env } from '../config/validate.ts';

export const HTTP_SPEC = {
  OFFSITE_HTTP_ADDR: str({ default: '', desc: 'address the daemon serves HTTP on, e.g. :8080 (unset: no server)' }),
  OFFSITE_METRICS_TOKEN: str({ default: '', desc: 'Bearer token /metrics requires (unset: none)' }),
  OFFSITE_API_TOKEN: str({ default: '', desc: 'one admin token (every scope) for simple setups' }),
  BACKUP_KEY: str({ default: '', desc: 'second secret required to download backups (at least 20 characters)' }),
  OFFSITE_TOKEN_ACTIVATION_DELAY: positiveDuration({ default: 0, desc: 'a new or reset token with download scope works only after this' }),
  OFFSITE_TRUSTED_PROXIES: list({ default: [], desc: 'addresses (or CIDR ranges) whose X-Forwarded-For is believed' }),
  OFFSITE_DOWNLOAD_DAILY_LIMIT: integer({ default: 3, desc: 'downloads and exports per token per UTC day (0: none allowed)' }),
  OFFSITE_HEALTHCHECKS_URL: str({ default: '', desc: 'healthchecks.io ping URL' }),
  OFFSITE_UPTIME_KUMA_URL: str({ default: '', desc: 'Uptime Kuma push URL' }),
  OFFSITE_PUSHGATEWAY_URL: str({ default: '', desc: 'Prometheus Pushgateway the run metrics are pushed to after every run' }),
  OFFSITE_PUSHGATEWAY_INSTANCE: str({ default: '', desc: 'the instance label (grouping key) of pushed metrics; default: the host name' }),
};

/**
 * The variables of this section whose values are secrets: registered for redaction as
 * soon as they are read (never in a log, error, notification or API response).
 * The ping URLs carry their secret in the path (a healthchecks.io UUID, a Kuma push token).
 */
export const HTTP_SECRET_VARIABLES = [
  'OFFSITE_METRICS_TOKEN',
  'OFFSITE_API_TOKEN',
  'BACKUP_KEY',
  'OFFSITE_HEALTHCHECKS_URL',
  'OFFSITE_UPTIME_KUMA_URL',
] as const;

export const BACKUP_KEY_MIN_LENGTH = 20;

export interface HttpConfig {
  /** null: no server. */
  listen: { host: string; port: number } | null;
  metricsToken: string | null;
  apiToken: string | null;
  backupKey: string | null;
  activationDelayMs: number;
  trustedProxies: string[];
  downloadDailyLimit: number;
  healthchecksUrl: string | null;
  uptimeKumaUrl: string | null;
  pushgatewayUrl: string | null;
  /** The grouping key's instance for pushed metrics (OFFSITE_PUSHGATEWAY_INSTANCE, else the host name). */
  pushgatewayInstance?: string;
}

/** `:8080`, `127.0.0.1:8080`, `[::1]:8080`, `8080`. */
export function parseListenAddress(input: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(input.trim()) ?? /^()()(\d{1,5})$/.exec(input.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? m[2] ?? '';
  if (host && m[1] && isIP(host) !== 6) return null;
  return { host: host || '0.0.0.0', port };
}

function pingUrl(name: string, value: string, issues: ConfigIssue[]): string | null {
  if (!value) return null;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    issues.push({ variable: name, message: 'is not a URL; expected http(s)://host/path' });
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    issues.push({ variable: name, message: `has the scheme ${quote(u.protocol)}; expected http: or https:` });
    return null;
  }
  for (const part of u.pathname.split('/')) if (part.length >= 8) registerSecret(part);
  for (const v of u.searchParams.values()) registerSecret(v);
  return value.replace(/\/+$/, '');
}

export function parseHttpConfig(env: Env, issues: ConfigIssue[]): HttpConfig | null {
  // the tokens and the key whole; the ping URLs by their path tokens (pingUrl), so their host stays readable
  for (const k of HTTP_SECRET_VARIABLES) if (env[k] && !k.endsWith('_URL')) registerSecret(env[k]);
  const before = issues.length;
  const v = validateSection(env, HTTP_SPEC, issues);
  let listen: HttpConfig['listen'] = null;
  if (v.OFFSITE_HTTP_ADDR) {
    listen = parseListenAddress(v.OFFSITE_HTTP_ADDR);
    if (!listen)
      issues.push({
        variable: 'OFFSITE_HTTP_ADDR',
        message: `${quote(v.OFFSITE_HTTP_ADDR)} is not an address; expected [HOST]:PORT such as :8080 or 127.0.0.1:8080`,
      });
  }
  const key = v.BACKUP_KEY ?? '';
  if (key && key.length < BACKUP_KEY_MIN_LENGTH) {
    issues.push({
      variable: 'BACKUP_KEY',
      message: `is ${key.length} characters long; it must be at least ${BACKUP_KEY_MIN_LENGTH} (e.g. openssl rand -hex 20), or unset to disable backup downloads`,
    });
  }
  for (const [name, value] of [
    ['OFFSITE_API_TOKEN', v.OFFSITE_API_TOKEN],
    ['OFFSITE_METRICS_TOKEN', v.OFFSITE_METRICS_TOKEN],
  ] as const) {
    if (value && value.length < 16)
      issues.push({ variable: name, message: `is ${value.length} characters long; use at least 16 random characters (e.g. openssl rand -hex 24)` });
  }
  for (const p of v.OFFSITE_TRUSTED_PROXIES ?? []) {
    const [addr, bits] = p.split('/');
    const family = isIP(addr ?? '');
    const max = family === 6 ? 128 : 32;
    if (!family || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) {
      issues.push({ variable: 'OFFSITE_TRUSTED_PROXIES', message: `${quote(p)} is not an IP address or CIDR range such as 10.0.0.0/8` });
    }
  }
  if (v.OFFSITE_DOWNLOAD_DAILY_LIMIT !== undefined && v.OFFSITE_DOWNLOAD_DAILY_LIMIT < 0) {
    issues.push({
      variable: 'OFFSITE_DOWNLOAD_DAILY_LIMIT',
      message: `${quote(env.OFFSITE_DOWNLOAD_DAILY_LIMIT)} is negative; expected 0 or more downloads a day`,
    });
  }
  const healthchecksUrl = pingUrl('OFFSITE_HEALTHCHECKS_URL', v.OFFSITE_HEALTHCHECKS_URL ?? '', issues);
  const uptimeKumaUrl = pingUrl('OFFSITE_UPTIME_KUMA_URL', v.OFFSITE_UPTIME_KUMA_URL ?? '', issues);
  const pushgatewayUrl = pingUrl('OFFSITE_PUSHGATEWAY_URL', v.OFFSITE_PUSHGATEWAY_URL ?? '', issues);
  if (issues.length > before) return null;
  return {
    listen,
    metricsToken: v.OFFSITE_METRICS_TOKEN || null,
    apiToken: v.OFFSITE_API_TOKEN || null,
    backupKey: key || null,
    activationDelayMs: v.OFFSITE_TOKEN_ACTIVATION_DELAY,
    trustedProxies: v.OFFSITE_TRUSTED_PROXIES,
    downloadDailyLimit: v.OFFSITE_DOWNLOAD_DAILY_LIMIT,
    healthchecksUrl,
    uptimeKumaUrl,
    pushgatewayUrl,
    pushgatewayInstance: v.OFFSITE_PUSHGATEWAY_INSTANCE || hostname(),
  };
}
