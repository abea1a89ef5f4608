/**
 * offen/docker-volume-backup's configuration as offen names it: the fields of its Config struct
 * (cmd/backup/config.go), each with its variable, kind and default. `backup print-config` prints
 * them as offen does, and offen's notification templates read them as `.Config.<Field>`.
 */
import type { JobConfig } from '../config/index.ts';
import { expandVars } from '../config/expand.ts';
import { parseDuration } from '../config/duration.ts';
import { isSecretName, redact } from '../redact.ts';
import { redactNotificationUrl } from '../notify/router.ts';

export type OffenKind = 'string' | 'bool' | 'list' | 'int' | 'duration' | 'cert' | 'regexp';

/** [Go field name, variable, kind, default] in offen's order. */
export const OFFEN_FIELDS: readonly (readonly [string, string, OffenKind, string?])[] = [
  ['AwsS3BucketName', 'AWS_S3_BUCKET_NAME', 'string'],
  ['AwsS3Path', 'AWS_S3_PATH', 'string'],
  ['AwsEndpoint', 'AWS_ENDPOINT', 'string', 's3.amazonaws.com'],
  ['AwsEndpointProto', 'AWS_ENDPOINT_PROTO', 'string', 'https'],
  ['AwsEndpointInsecure', 'AWS_ENDPOINT_INSECURE', 'bool'],
  ['AwsEndpointCACert', 'AWS_ENDPOINT_CA_CERT', 'cert'],
  ['AwsStorageClass', 'AWS_STORAGE_CLASS', 'string'],
  ['AwsAccessKeyID', 'AWS_ACCESS_KEY_ID', 'string'],
  ['AwsSecretAccessKey', 'AWS_SECRET_ACCESS_KEY', 'string'],
  ['AwsIamRoleEndpoint', 'AWS_IAM_ROLE_ENDPOINT', 'string'],
  ['AwsPartSize', 'AWS_PART_SIZE', 'int'],
  ['BackupCompression', 'BACKUP_COMPRESSION', 'string', 'gz'],
  ['GzipParallelism', 'GZIP_PARALLELISM', 'int', '1'],
  ['BackupSources', 'BACKUP_SOURCES', 'string', '/backup'],
  ['BackupFilename', 'BACKUP_FILENAME', 'string', 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}'],
  ['BackupFilenameExpand', 'BACKUP_FILENAME_EXPAND', 'bool'],
  ['BackupLatestSymlink', 'BACKUP_LATEST_SYMLINK', 'string'],
  ['BackupArchive', 'BACKUP_ARCHIVE', 'string', '/archive'],
  ['BackupCronExpression', 'BACKUP_CRON_EXPRESSION', 'string', '@daily'],
  ['BackupJitter', 'BACKUP_JITTER', 'duration', '0s'],
  ['BackupRetentionDays', 'BACKUP_RETENTION_DAYS', 'int', '-1'],
  ['BackupPruningLeeway', 'BACKUP_PRUNING_LEEWAY', 'duration', '1m'],
  ['BackupPruningPrefix', 'BACKUP_PRUNING_PREFIX', 'string'],
  ['BackupStopContainerLabel', 'BACKUP_STOP_CONTAINER_LABEL', 'string'],
  ['BackupStopDuringBackupLabel', 'BACKUP_STOP_DURING_BACKUP_LABEL', 'string', 'true'],
  ['BackupStopDuringBackupNoRestartLabel', 'BACKUP_STOP_DURING_BACKUP_NO_RESTART_LABEL', 'string', 'true'],
  ['BackupStopServiceTimeout', 'BACKUP_STOP_SERVICE_TIMEOUT', 'duration', '5m'],
  ['BackupFromSnapshot', 'BACKUP_FROM_SNAPSHOT', 'bool'],
  ['BackupExcludeRegexp', 'BACKUP_EXCLUDE_REGEXP', 'regexp'],
  ['BackupSkipBackendsFromPrune', 'BACKUP_SKIP_BACKENDS_FROM_PRUNE', 'list'],
  ['GpgPassphrase', 'GPG_PASSPHRASE', 'string'],
  ['GpgPublicKeyRing', 'GPG_PUBLIC_KEY_RING', 'string'],
  ['AgePassphrase', 'AGE_PASSPHRASE', 'string'],
  ['AgePublicKeys', 'AGE_PUBLIC_KEYS', 'list'],
  ['NotificationURLs', 'NOTIFICATION_URLS', 'list'],
  ['NotificationLevel', 'NOTIFICATION_LEVEL', 'string', 'error'],
  ['EmailNotificationRecipient', 'EMAIL_NOTIFICATION_RECIPIENT', 'string'],
  ['EmailNotificationSender', 'EMAIL_NOTIFICATION_SENDER', 'string', 'noreply@nohost'],
  ['EmailSMTPHost', 'EMAIL_SMTP_HOST', 'string'],
  ['EmailSMTPPort', 'EMAIL_SMTP_PORT', 'int', '587'],
  ['EmailSMTPUsername', 'EMAIL_SMTP_USERNAME', 'string'],
  ['EmailSMTPPassword', 'EMAIL_SMTP_PASSWORD', 'string'],
  ['WebdavUrl', 'WEBDAV_URL', 'string'],
  ['WebdavUrlInsecure', 'WEBDAV_URL_INSECURE', 'bool'],
  ['WebdavPath', 'WEBDAV_PATH', 'string', '/'],
  ['WebdavUsername', 'WEBDAV_USERNAME', 'string'],
  ['WebdavPassword', 'WEBDAV_PASSWORD', 'string'],
  ['SSHHostName', 'SSH_HOST_NAME', 'string'],
  ['SSHPort', 'SSH_PORT', 'string', '22'],
  ['SSHUser', 'SSH_USER', 'string'],
  ['SSHPassword', 'SSH_PASSWORD', 'string'],
  ['SSHIdentityFile', 'SSH_IDENTITY_FILE', 'string', '/root/.ssh/id_rsa'],
  ['SSHIdentityPassphrase', 'SSH_IDENTITY_PASSPHRASE', 'string'],
  ['SSHRemotePath', 'SSH_REMOTE_PATH', 'string'],
  ['ExecLabel', 'EXEC_LABEL', 'string'],
  ['ExecForwardOutput', 'EXEC_FORWARD_OUTPUT', 'bool'],
  ['LockTimeout', 'LOCK_TIMEOUT', 'duration', '60m'],
  ['AzureStorageAccountName', 'AZURE_STORAGE_ACCOUNT_NAME', 'string'],
  ['AzureStoragePrimaryAccountKey', 'AZURE_STORAGE_PRIMARY_ACCOUNT_KEY', 'string'],
  ['AzureStorageConnectionString', 'AZURE_STORAGE_CONNECTION_STRING', 'string'],
  ['AzureStorageContainerName', 'AZURE_STORAGE_CONTAINER_NAME', 'string'],
  ['AzureStoragePath', 'AZURE_STORAGE_PATH', 'string'],
  ['AzureStorageEndpoint', 'AZURE_STORAGE_ENDPOINT', 'string', 'https://{{ .AccountName }}.blob.core.windows.net/'],
  ['AzureStorageAccessTier', 'AZURE_STORAGE_ACCESS_TIER', 'string'],
  ['DropboxEndpoint', 'DROPBOX_ENDPOINT', 'string', 'https://api.dropbox.com/'],
  ['DropboxOAuth2Endpoint', 'DROPBOX_OAUTH2_ENDPOINT', 'string', 'https://api.dropbox.com/'],
  ['DropboxRefreshToken', 'DROPBOX_REFRESH_TOKEN', 'string'],
  ['DropboxAppKey', 'DROPBOX_APP_KEY', 'string'],
  ['DropboxAppSecret', 'DROPBOX_APP_SECRET', 'string'],
  ['DropboxRemotePath', 'DROPBOX_REMOTE_PATH', 'string'],
  ['DropboxConcurrencyLevel', 'DROPBOX_CONCURRENCY_LEVEL', 'int', '6'],
  ['GoogleDriveCredentialsJSON', 'GOOGLE_DRIVE_CREDENTIALS_JSON', 'string'],
  ['GoogleDriveFolderID', 'GOOGLE_DRIVE_FOLDER_ID', 'string'],
  ['GoogleDriveImpersonateSubject', 'GOOGLE_DRIVE_IMPERSONATE_SUBJECT', 'string'],
  ['GoogleDriveEndpoint', 'GOOGLE_DRIVE_ENDPOINT', 'string'],
  ['GoogleDriveTokenURL', 'GOOGLE_DRIVE_TOKEN_URL', 'string'],
  ['GoogleDriveTeamDriveID', 'GOOGLE_DRIVE_TEAM_DRIVE_ID', 'string'],
  ['Timezone', 'TZ', 'string'],
];

/** Go's time.Duration.String() for a number of milliseconds: 1m0s, 1h30m0s, 1.5s, 0s. */
export function goDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  ns = Math.abs(ns);
  const frac = (v: number, unit: number) => {
    const whole = Math.floor(v / unit);
    const rest = v % unit;
    if (rest === 0) return String(whole);
    return `${whole}.${String(rest)
      .padStart(String(unit).length - 1, '0')
      .replace(/0+$/, '')}`;
  };
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${frac(ns, 1e3)}µs`;
  if (ns < 1e9) return `${sign}${frac(ns, 1e6)}ms`;
  const h = Math.floor(ns / 3.6e12);
  const m = Math.floor((ns % 3.6e12) / 6e10);
  const s = frac(ns % 6e10, 1e9);
  if (h) return `${sign}${h}h${m}m${s}s`;
  if (m) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}

/** A Go time.Duration value for templates: prints as Go prints it, compares as nanoseconds. */
export class GoDuration {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  toString(): string {
    return goDuration(this.ms);
  }
  valueOf(): number {
    return Math.round(this.ms * 1e6);
  }
  toJSON(): number {
    return Math.round(this.ms * 1e6);
  }
}

function truthy(v: string): boolean {
  return ['1', 't', 'true', 'yes', 'y', 'on'].includes(v.trim().toLowerCase());
}

/** The raw value offen would read for a field in this job (its default when unset or empty). */
function rawValue(job: Pick<JobConfig, 'env'>, env: string, def: string | undefined): string {
  const v = job.env[env];
  return v === undefined || v === '' ? (def ?? '') : v;
}

/**
 * The job's configuration under offen's field names, typed as offen's template data holds it
 * (strings, booleans, numbers, lists, durations). BACKUP_FILENAME, BACKUP_LATEST_SYMLINK and
 * BACKUP_PRUNING_PREFIX are expanded when BACKUP_FILENAME_EXPAND says so, as offen's resolve()
 * does. Secrets are included: callers decide what to show.
 */
export function offenConfigValues(job: Pick<JobConfig, 'env'>): Record<string, unknown> {
  const expand = truthy(rawValue(job, 'BACKUP_FILENAME_EXPAND', 'false'));
  const out: Record<string, unknown> = {};
  for (const [field, env, kind, def] of OFFEN_FIELDS) {
    let raw = rawValue(job, env, def);
    if (expand && ['BACKUP_FILENAME', 'BACKUP_LATEST_SYMLINK', 'BACKUP_PRUNING_PREFIX'].includes(env)) raw = expandVars(raw, job.env);
    switch (kind) {
      case 'bool':
        out[field] = raw === '' ? false : truthy(raw);
        break;
      case 'int':
        out[field] = raw === '' ? 0 : Number.parseInt(raw, 10) || 0;
        break;
      case 'list':
        out[field] = raw === '' ? [] : raw.split(',');
        break;
      case 'duration':
        out[field] = new GoDuration(parseDuration(raw) ?? 0);
        break;
      default:
        out[field] = raw;
    }
  }
  return out;
}

/** Go's %v of one value, secrets masked. */
function show(env: string, kind: OffenKind, v: unknown): string {
  if (kind === 'list') {
    const items = v as string[];
    if (env === 'NOTIFICATION_URLS') return `[${items.map((u) => redactNotificationUrl(u.trim())).join(' ')}]`;
    return `[${items.map((i) => (isSecretName(env) && i ? '***' : redact(i))).join(' ')}]`;
  }
  if (kind === 'cert') return v ? '{Cert:(a certificate)}' : '{Cert:<nil>}';
  if (kind === 'regexp') return v ? `{Re:${String(v)}}` : '{Re:<nil>}';
  const s = String(v);
  return isSecretName(env) && s ? '***' : redact(s);
}

/**
 * `backup print-config` (offen's command): for each job a `source=` line (`from environment` or
 * the conf.d file name), `warning:` lines, then one `Field:value` line per offen field, as offen
 * prints its Config struct; secrets are masked (offen prints them in clear).
 */
export function printOffenConfig(jobs: readonly JobConfig[], warnings: (job: JobConfig) => readonly string[], out: (line: string) => void): void {
  for (const job of jobs) {
    out(`source=${job.source === 'environment' ? 'from environment' : job.source.split('/').pop()}`);
    for (const w of warnings(job)) out(`warning:${w}`);
    const values = offenConfigValues(job);
    for (const [field, env, kind] of OFFEN_FIELDS) out(`${field}:${show(env, kind, values[field])}`);
  }
}
