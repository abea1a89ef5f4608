import { quote, type ConfigIssue } from '../errors.ts';
import type { Env } from '../config/validate.ts';
import { loadTemplates, type Templates } from './messages.ts';
import { parseNotificationUrl, registerTargetSecrets } from './router.ts';
import type { NotificationTarget, NotifyLevel } from './types.ts';

export const DEFAULT_TEMPLATES_DIR = '/etc/dockervolumebackup/notifications.d';

/** Every variable this section reads (each may also be given as X_FILE). */
export const NOTIFY_VARIABLES = [
  'NOTIFICATION_URLS',
  'NOTIFICATION_LEVEL',
  'NOTIFICATION_TEMPLATES_DIR',
  'EMAIL_NOTIFICATION_RECIPIENT',
  'EMAIL_NOTIFICATION_SENDER',
  'EMAIL_SMTP_HOST',
  'EMAIL_SMTP_PORT',
  'EMAIL_SMTP_USERNAME',
  'EMAIL_SMTP_PASSWORD',
] as const;

/**
 * The secrets among them: each URL's secret parts (not its scheme and host) are registered when
 * it is parsed (router.ts registerTargetSecrets); `offsite config` shows the whole list as ***.
 */
export const NOTIFY_SECRETS: readonly string[] = ['NOTIFICATION_URLS', 'EMAIL_SMTP_PASSWORD'];
/** Sent as (user, password) to the SMTP server. */
export const NOTIFY_BASIC_AUTH: ReadonlyArray<readonly [string, string]> = [['EMAIL_SMTP_USERNAME', 'EMAIL_SMTP_PASSWORD']];

export interface NotifyConfig {
  /** Usable URLs, parsed (one per NOTIFICATION_URLS entry, plus the legacy EMAIL_* one). */
  targets: NotificationTarget[];
  level: NotifyLevel;
  templates: Templates;
  /** Things to tell the user at start-up (deprecated variables); the caller logs them. */
  warnings: string[];
}

/** Split NOTIFICATION_URLS: on commas, trimmed, empties skipped (a comma inside a URL is %2C). */
export function splitUrls(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The deprecated EMAIL_* variables as one smtp:// URL (as docker-volume-backup converts them), or null. */
export function legacyEmailUrl(env: Env, issues: ConfigIssue[]): string | null {
  const to = env.EMAIL_NOTIFICATION_RECIPIENT?.trim();
  if (!to) return null;
  const host = env.EMAIL_SMTP_HOST?.trim();
  if (!host) {
    issues.push({ variable: 'EMAIL_SMTP_HOST', message: 'is required when EMAIL_NOTIFICATION_RECIPIENT is set (better: use NOTIFICATION_URLS=smtp://...)' });
    return null;
  }
  const portRaw = env.EMAIL_SMTP_PORT?.trim() || '587';
  if (!/^\d+$/.test(portRaw) || +portRaw < 1 || +portRaw > 65535) {
    issues.push({ variable: 'EMAIL_SMTP_PORT', message: `${quote(portRaw)} is not a port number` });
    return null;
  }
  const user = env.EMAIL_SMTP_USERNAME ?? '';
  const pass = env.EMAIL_SMTP_PASSWORD ?? '';
  const from = env.EMAIL_NOTIFICATION_SENDER?.trim() || 'noreply@nohost';
  const userinfo = user || pass ? `${encodeURIComponent(user)}${pass ? `:${encodeURIComponent(pass)}` : ''}@` : '';
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `smtp://${userinfo}${hostPart}:${portRaw}/?fromaddress=${encodeURIComponent(from)}&toaddresses=${encodeURIComponent(to)}`;
}

/**
 * The notifications section: NOTIFICATION_URLS (or the deprecated EMAIL_*),
 * NOTIFICATION_LEVEL, NOTIFICATION_TEMPLATES_DIR. Every unusable URL is an issue on
 * NOTIFICATION_URLS naming the URL with its secrets masked. Secrets are registered
 * for redaction here, at parse time.
 */
export function parseNotifyConfig(env: Env, issues: ConfigIssue[]): NotifyConfig | null {
  const before = issues.length;
  const warnings: string[] = [];
  const targets: NotificationTarget[] = [];

  const levelRaw = (env.NOTIFICATION_LEVEL ?? '').trim().toLowerCase() || 'error';
  let level: NotifyLevel = 'error';
  if (levelRaw === 'error' || levelRaw === 'info') level = levelRaw;
  else issues.push({ variable: 'NOTIFICATION_LEVEL', message: `${quote(env.NOTIFICATION_LEVEL)} is not one of error, info` });

  const urls = splitUrls(env.NOTIFICATION_URLS);
  urls.forEach((raw, i) => {
    const out = parseNotificationUrl(raw);
    registerTargetSecrets(raw, out.ok ? out.target : null);
    if (out.ok) {
      targets.push(out.target);
      for (const n of out.target.config.notes ?? []) warnings.push(`NOTIFICATION_URLS entry ${i + 1} (${out.target.redacted}): ${n}`);
    } else issues.push({ variable: 'NOTIFICATION_URLS', message: `entry ${i + 1} (${out.redacted}): ${out.issue}` });
  });

  const legacy = legacyEmailUrl(env, issues);
  const legacyNames = NOTIFY_VARIABLES.filter((n) => n.startsWith('EMAIL_'));
  const legacySet = legacyNames.filter((n) => env[n]);
  if (legacy) {
    const out = parseNotificationUrl(legacy);
    registerTargetSecrets(legacy, out.ok ? out.target : null);
    if (out.ok) {
      targets.push(out.target);
      warnings.push(
        `${legacySet.join(', ')} ${legacySet.length === 1 ? 'is' : 'are'} deprecated; set NOTIFICATION_URLS=${out.target.redacted} instead (with the real password)`,
      );
    } else {
      issues.push({ variable: 'EMAIL_NOTIFICATION_RECIPIENT', message: `the EMAIL_* settings give an unusable URL (${out.redacted}): ${out.issue}` });
    }
  } else if (legacySet.length > 0 && !env.EMAIL_NOTIFICATION_RECIPIENT) {
    warnings.push(
      `${legacySet.join(', ')} ${legacySet.length === 1 ? 'is' : 'are'} set but EMAIL_NOTIFICATION_RECIPIENT is not, so no e-mail is sent; these variables are deprecated, use NOTIFICATION_URLS=smtp://...`,
    );
  }

  const explicitDir = (env.NOTIFICATION_TEMPLATES_DIR ?? '').trim();
  const templates = loadTemplates(explicitDir || DEFAULT_TEMPLATES_DIR, explicitDir !== '', 'NOTIFICATION_TEMPLATES_DIR', issues, env);

  if (issues.length > before) return null;
  return { targets, level, templates, warnings };
}
