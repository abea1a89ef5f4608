/** The WebDAV destination's definition (implementation: webdav.ts). */
import { str } from 'envalid';
import { quote, type ConfigIssue } from '../errors.ts';
import { validateSection, boolean, type Env } from '../config/validate.ts';
import { defineDestination, NETWORK_ERROR, TLS_ERROR } from './definition.ts';

/** WebDAV destination (enabled by WEBDAV_URL). */
export interface WebdavConfig {
  /** Server URL without credentials, e.g. `https://dav.example.com/remote.php/dav/files/me`. */
  url: string;
  /** Collection below the URL, always `/`-prefixed, no trailing slash except the root `/`. */
  path: string;
  username: string;
  password: string;
  /** Skip TLS certificate verification (self-signed servers). */
  insecure: boolean;
}

export const WEBDAV_SPEC = {
  WEBDAV_URL: str({ default: '', desc: 'WebDAV server URL; enables the WebDAV destination' }),
  WEBDAV_PATH: str({ default: '/', desc: 'collection below the URL (created when missing)' }),
  WEBDAV_USERNAME: str({ default: '' }),
  WEBDAV_PASSWORD: str({ default: '' }),
  WEBDAV_URL_INSECURE: boolean({ default: false, desc: 'skip TLS certificate verification' }),
};

/** Normalise a remote directory: `/a/b` form, `/` for the root. */
export function normaliseDavPath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  return '/' + parts.join('/');
}

export function parseWebdav(env: Env, issues: ConfigIssue[]): WebdavConfig | null {
  const before = issues.length;
  const v = validateSection(env, WEBDAV_SPEC, issues);
  if (!v.WEBDAV_URL) return null;
  let url: URL | null = null;
  try {
    url = new URL(v.WEBDAV_URL);
  } catch {
    issues.push({ variable: 'WEBDAV_URL', message: 'is not a URL; expected e.g. https://dav.example.com/remote.php/dav/files/me' });
  }
  let username = v.WEBDAV_USERNAME ?? '';
  let password = v.WEBDAV_PASSWORD ?? '';
  if (url) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      issues.push({ variable: 'WEBDAV_URL', message: `has scheme ${quote(url.protocol.replace(/:$/, ''))}; expected http or https` });
    }
    // Credentials inside the URL are accepted for convenience; the variables win.
    if (url.username || url.password) {
      if (!username) username = decodeURIComponent(url.username);
      if (!password) password = decodeURIComponent(url.password);
      url.username = '';
      url.password = '';
    }
    if (url.search || url.hash) issues.push({ variable: 'WEBDAV_URL', message: 'has a query or fragment; expected a plain server URL' });
  }
  if (password && !username) issues.push({ variable: 'WEBDAV_USERNAME', message: 'is required when WEBDAV_PASSWORD is set' });
  if (issues.length > before || !url) return null;
  return {
    url: url.toString().replace(/\/+$/, ''),
    path: normaliseDavPath(v.WEBDAV_PATH ?? '/'),
    username,
    password,
    insecure: v.WEBDAV_URL_INSECURE ?? false,
  };
}

export const webdav = defineDestination<WebdavConfig>({
  kind: 'WebDAV',
  title: 'WebDAV',
  variables: WEBDAV_SPEC,
  secrets: ['WEBDAV_PASSWORD'],
  basicAuth: [['WEBDAV_USERNAME', 'WEBDAV_PASSWORD']],
  trigger: 'WEBDAV_URL',
  parse: parseWebdav,
  async create(config, ctx) {
    const { createWebdavDestination } = await import('./webdav.ts');
    return createWebdavDestination(config, ctx.log, { requestTimeoutMs: ctx.retry.timeoutMs });
  },
  hints: [
    { test: /\b401\b|Unauthorized/i, hint: 'check WEBDAV_USERNAME and WEBDAV_PASSWORD' },
    { test: /\b403\b|Forbidden/i, hint: 'check that WEBDAV_USERNAME may write to WEBDAV_PATH' },
    { test: /\b404\b|\b409\b|Not Found|Conflict/i, hint: 'check WEBDAV_URL and WEBDAV_PATH (the parent directory must exist)' },
    { test: /\b507\b|Insufficient Storage|quota/i, hint: 'the WebDAV server is out of space: free some or lower BACKUP_RETENTION_DAYS' },
    { test: TLS_ERROR, hint: 'check the server certificate (WEBDAV_URL_INSECURE for a test server)' },
    { test: NETWORK_ERROR, hint: 'check WEBDAV_URL: is the server reachable from here?' },
  ],
});
