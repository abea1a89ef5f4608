/** The Google Drive destination's definition (implementation: gdrive.ts). */
import { isAbsolute } from 'node:path';
import { str } from 'envalid';
import { quote, type ConfigIssue } from '../errors.ts';
import { readBoundedFile } from '../config/files.ts';
import { registerSecret } from '../redact.ts';
import { validateSection, type Env } from '../config/validate.ts';
import { defineDestination, NETWORK_ERROR } from './definition.ts';

export const DEFAULT_GDRIVE_ENDPOINT = 'https://www.googleapis.com/';

/** The Google Drive destination's configuration. */
export interface GoogleDriveConfig {
  /** The service account's key file (JSON). */
  credentialsJson: string;
  /** Folder id the backups go to; '' = the root of My Drive (or of the shared drive). */
  folderId: string;
  /** User to impersonate (domain-wide delegation); '' = the service account itself. */
  impersonateSubject: string;
  /** API root URL (`drive/v3/...` and `upload/drive/v3/...` are appended), ending in '/'. */
  endpoint: string;
  /** OAuth2 token endpoint; '' = Google's. */
  tokenUrl: string;
  /** Shared drive id; '' = My Drive. */
  teamDriveId: string;
}

export const GDRIVE_SPEC = {
  GOOGLE_DRIVE_CREDENTIALS_JSON: str({ default: '', desc: 'service account key (JSON), or the path of the key file' }),
  GOOGLE_DRIVE_FOLDER_ID: str({ default: '', desc: 'folder id for the backups (default: the root of My Drive or of the shared drive)' }),
  GOOGLE_DRIVE_IMPERSONATE_SUBJECT: str({ default: '', desc: 'user the service account acts for (domain-wide delegation)' }),
  GOOGLE_DRIVE_ENDPOINT: str({ default: '', desc: 'API root URL (test servers)' }),
  GOOGLE_DRIVE_TOKEN_URL: str({ default: '', desc: 'OAuth2 token endpoint (test servers)' }),
  GOOGLE_DRIVE_TEAM_DRIVE_ID: str({ default: '', desc: 'shared drive id' }),
};

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
}

/** Read and check a service-account key; the message names what is wrong, never the key. */
export function parseServiceAccount(json: string): ServiceAccountKey {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new Error('is not JSON (expected the service account key file Google Cloud gives you, type "service_account")');
  }
  const o = v as Record<string, unknown>;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('is not a JSON object');
  if (o.type !== undefined && o.type !== 'service_account')
    throw new Error(`is a key of type "${String(o.type).slice(0, 40)}"; expected a service account key (type "service_account")`);
  if (typeof o.client_email !== 'string' || !o.client_email) throw new Error('has no client_email');
  if (typeof o.private_key !== 'string' || !/-----BEGIN (RSA )?PRIVATE KEY-----/.test(o.private_key)) throw new Error('has no private_key in PEM form');
  return { client_email: o.client_email, private_key: o.private_key, private_key_id: typeof o.private_key_id === 'string' ? o.private_key_id : undefined };
}

function checkUrl(variable: string, value: string, issues: ConfigIssue[]): string {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return u.toString();
  } catch {
    issues.push({ variable, message: `${quote(value)} is not an http(s) URL` });
    return value;
  }
}

/** Google Drive is enabled by GOOGLE_DRIVE_CREDENTIALS_JSON (or its _FILE form). */
export function parseGoogleDrive(env: Env, issues: ConfigIssue[]): GoogleDriveConfig | null {
  const before = issues.length;
  const v = validateSection(env, GDRIVE_SPEC, issues);
  let json = (v.GOOGLE_DRIVE_CREDENTIALS_JSON ?? '').trim();
  if (!json) return null;
  // offen's own tests name the key file in the variable itself: a path is read (bounded)
  if (!json.startsWith('{') && isAbsolute(json)) {
    const read = readBoundedFile(json);
    if (!read.ok) {
      issues.push({ variable: 'GOOGLE_DRIVE_CREDENTIALS_JSON', message: `names the file ${quote(json)}, which ${read.problem}` });
      return null;
    }
    json = read.text;
  }
  try {
    // the key alone is masked too (an error quoting it, a log of the key file)
    const key = parseServiceAccount(json);
    registerSecret(key.private_key);
    registerSecret(key.private_key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
  } catch (err) {
    issues.push({ variable: 'GOOGLE_DRIVE_CREDENTIALS_JSON', message: (err as Error).message });
  }
  let endpoint = DEFAULT_GDRIVE_ENDPOINT;
  if (v.GOOGLE_DRIVE_ENDPOINT) {
    // the API root; a URL ending in /drive/v3 (the service path) is accepted too
    endpoint = checkUrl('GOOGLE_DRIVE_ENDPOINT', v.GOOGLE_DRIVE_ENDPOINT, issues).replace(/\/?(drive\/v3\/?)?$/, '/');
  }
  const tokenUrl = v.GOOGLE_DRIVE_TOKEN_URL ? checkUrl('GOOGLE_DRIVE_TOKEN_URL', v.GOOGLE_DRIVE_TOKEN_URL, issues) : '';
  for (const k of ['GOOGLE_DRIVE_FOLDER_ID', 'GOOGLE_DRIVE_TEAM_DRIVE_ID'] as const) {
    const id = v[k] ?? '';
    if (id && !/^[A-Za-z0-9_-]+$/.test(id))
      issues.push({ variable: k, message: `${quote(id)} is not a Drive id (letters, digits, - and _; the last part of the folder's URL)` });
  }
  if (issues.length > before) return null;
  return {
    credentialsJson: json,
    folderId: v.GOOGLE_DRIVE_FOLDER_ID ?? '',
    impersonateSubject: v.GOOGLE_DRIVE_IMPERSONATE_SUBJECT ?? '',
    endpoint,
    tokenUrl,
    teamDriveId: v.GOOGLE_DRIVE_TEAM_DRIVE_ID ?? '',
  };
}

export const gdrive = defineDestination<GoogleDriveConfig>({
  kind: 'GoogleDrive',
  title: 'Google Drive',
  variables: GDRIVE_SPEC,
  secrets: ['GOOGLE_DRIVE_CREDENTIALS_JSON'],
  trigger: 'GOOGLE_DRIVE_CREDENTIALS_JSON',
  parse: parseGoogleDrive,
  async create(config, ctx) {
    const { createGoogleDriveDestination } = await import('./gdrive.ts');
    return createGoogleDriveDestination(config, ctx.log, { retry: ctx.retry });
  },
  hints: [
    {
      test: /invalid_grant|unauthorized_client|invalid_scope|credentials|\b401\b|authError/i,
      hint: 'check GOOGLE_DRIVE_CREDENTIALS_JSON and GOOGLE_DRIVE_IMPERSONATE_SUBJECT (domain-wide delegation of the drive scope)',
    },
    {
      test: /storageQuotaExceeded|quotaExceeded|Drive is full/i,
      hint: 'the Drive is full (a service account has no storage of its own: use a shared drive or impersonate a user)',
    },
    {
      test: /not found|notFound|permission denied|insufficient/i,
      hint: 'check GOOGLE_DRIVE_FOLDER_ID (and GOOGLE_DRIVE_TEAM_DRIVE_ID): the folder must exist and be shared with the account',
    },
    { test: NETWORK_ERROR, hint: 'is www.googleapis.com (or GOOGLE_DRIVE_ENDPOINT) reachable from here?' },
  ],
  genericErrorNames: ['GaxiosError'],
});
