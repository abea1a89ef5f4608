/** The Dropbox destination's definition (implementation: dropbox.ts). */
import { str } from 'envalid';
import { quote, type ConfigIssue } from '../errors.ts';
import { validateSection, integer, type Env } from '../config/validate.ts';
import { defineDestination, NETWORK_ERROR } from './definition.ts';

export const DEFAULT_DROPBOX_ENDPOINT = 'https://api.dropbox.com/';

/** Dropbox destination (enabled when refresh token, app key and app secret are all set). */
export interface DropboxConfig {
  refreshToken: string;
  appKey: string;
  appSecret: string;
  /** Folder in the Dropbox, `/a/b` form, or '' for the root (of the app folder for app-folder apps). */
  remotePath: string;
  /** Concurrent chunk uploads; memory used by an upload is chunk size x this. */
  concurrency: number;
  /** API base URL (routes are appended as `2/files/...`); the default uses Dropbox's own hosts. */
  endpoint: string;
  /** OAuth2 base URL (`oauth2/token` is appended). */
  oauth2Endpoint: string;
}

export const DROPBOX_SPEC = {
  DROPBOX_REFRESH_TOKEN: str({ default: '' }),
  DROPBOX_APP_KEY: str({ default: '' }),
  DROPBOX_APP_SECRET: str({ default: '' }),
  DROPBOX_REMOTE_PATH: str({ default: '' }),
  DROPBOX_CONCURRENCY_LEVEL: integer({ default: 6 }),
  DROPBOX_ENDPOINT: str({ default: DEFAULT_DROPBOX_ENDPOINT }),
  DROPBOX_OAUTH2_ENDPOINT: str({ default: DEFAULT_DROPBOX_ENDPOINT }),
};

/** Dropbox path form: `/a/b`, root is ''. */
export function normaliseDropboxPath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  return parts.length ? '/' + parts.join('/') : '';
}

function checkEndpoint(variable: string, value: string, issues: ConfigIssue[]): string {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return u.toString().endsWith('/') ? u.toString() : `${u.toString()}/`;
  } catch {
    issues.push({ variable, message: `${quote(value)} is not an http(s) URL; expected e.g. ${DEFAULT_DROPBOX_ENDPOINT}` });
    return value;
  }
}

export function parseDropbox(env: Env, issues: ConfigIssue[]): DropboxConfig | null {
  const before = issues.length;
  const v = validateSection(env, DROPBOX_SPEC, issues);
  const creds = { DROPBOX_REFRESH_TOKEN: v.DROPBOX_REFRESH_TOKEN, DROPBOX_APP_KEY: v.DROPBOX_APP_KEY, DROPBOX_APP_SECRET: v.DROPBOX_APP_SECRET };
  const set = Object.entries(creds)
    .filter(([, x]) => x)
    .map(([k]) => k);
  if (set.length === 0) return null;
  if (set.length < 3) {
    for (const [k, x] of Object.entries(creds)) {
      if (!x)
        issues.push({
          variable: k,
          message: `is required: Dropbox needs DROPBOX_REFRESH_TOKEN, DROPBOX_APP_KEY and DROPBOX_APP_SECRET together (set: ${set.join(', ')})`,
        });
    }
  }
  const concurrency = v.DROPBOX_CONCURRENCY_LEVEL ?? 6;
  if (v.DROPBOX_CONCURRENCY_LEVEL !== undefined && (concurrency < 1 || concurrency > 32)) {
    issues.push({
      variable: 'DROPBOX_CONCURRENCY_LEVEL',
      message: `${concurrency} is out of range; expected 1-32 (each concurrent chunk holds 8 MiB of memory)`,
    });
  }
  const endpoint = checkEndpoint('DROPBOX_ENDPOINT', v.DROPBOX_ENDPOINT ?? DEFAULT_DROPBOX_ENDPOINT, issues);
  const oauth2Endpoint = checkEndpoint('DROPBOX_OAUTH2_ENDPOINT', v.DROPBOX_OAUTH2_ENDPOINT ?? DEFAULT_DROPBOX_ENDPOINT, issues);
  if (issues.length > before) return null;
  return {
    refreshToken: v.DROPBOX_REFRESH_TOKEN,
    appKey: v.DROPBOX_APP_KEY,
    appSecret: v.DROPBOX_APP_SECRET,
    remotePath: normaliseDropboxPath(v.DROPBOX_REMOTE_PATH ?? ''),
    concurrency,
    endpoint,
    oauth2Endpoint,
  };
}

export const dropbox = defineDestination<DropboxConfig>({
  kind: 'Dropbox',
  title: 'Dropbox',
  variables: DROPBOX_SPEC,
  secrets: ['DROPBOX_REFRESH_TOKEN', 'DROPBOX_APP_KEY', 'DROPBOX_APP_SECRET'],
  basicAuth: [['DROPBOX_APP_KEY', 'DROPBOX_APP_SECRET']],
  trigger: 'DROPBOX_REFRESH_TOKEN, DROPBOX_APP_KEY and DROPBOX_APP_SECRET',
  parse: parseDropbox,
  async create(config, ctx) {
    const { createDropboxDestination } = await import('./dropbox.ts');
    return createDropboxDestination(config, ctx.log, { requestTimeoutMs: ctx.retry.timeoutMs });
  },
  hints: [
    {
      test: /invalid_grant|invalid_client|\b400\b|\b401\b|expired_access_token|invalid_access_token|unauthorized/i,
      hint: 'check DROPBOX_REFRESH_TOKEN, DROPBOX_APP_KEY and DROPBOX_APP_SECRET',
    },
    { test: /insufficient_space|quota/i, hint: 'the Dropbox account is out of space' },
    { test: /path|not_found|malformed/i, hint: 'check DROPBOX_REMOTE_PATH' },
    { test: NETWORK_ERROR, hint: 'is api.dropboxapi.com (or DROPBOX_ENDPOINT) reachable from here?' },
  ],
  genericErrorNames: ['DropboxResponseError'],
});
