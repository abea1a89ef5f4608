/**
 * Configuration sections of the destinations in this file's care: retries (all
 * destinations), S3 and Azure Blob. Parsing never loads an SDK.
 */
import { readBoundedFile } from '../config/files.ts';
import { str } from 'envalid';
import { quote, type ConfigIssue } from '../errors.ts';
import { validateSection, boolean, integer, oneOf, positiveDuration, type Env } from '../config/validate.ts';
import { keyPrefix } from './names.ts';
import { DEFAULT_RETRY, type RetrySettings } from './retry.ts';

export type { RetrySettings };

// ---------------------------------------------------------------- retries

export const RETRY_SPEC = {
  BACKUP_RETRY_ATTEMPTS: integer({ default: DEFAULT_RETRY.attempts, desc: 'tries per destination operation, the first included' }),
  BACKUP_RETRY_MAX_DURATION: positiveDuration({ default: DEFAULT_RETRY.maxDurationMs, desc: 'no retry starts after this long' }),
  BACKUP_RETRY_INITIAL_DELAY: positiveDuration({ default: DEFAULT_RETRY.initialDelayMs, desc: 'first backoff, doubled per retry' }),
  BACKUP_DESTINATION_TIMEOUT: positiveDuration({ default: DEFAULT_RETRY.timeoutMs, desc: 'a transfer without progress for this long fails' }),
};

export function parseRetry(env: Env, issues: ConfigIssue[]): RetrySettings | null {
  const before = issues.length;
  const v = validateSection(env, RETRY_SPEC, issues);
  if (v.BACKUP_RETRY_ATTEMPTS !== undefined && (v.BACKUP_RETRY_ATTEMPTS < 1 || v.BACKUP_RETRY_ATTEMPTS > 100)) {
    issues.push({ variable: 'BACKUP_RETRY_ATTEMPTS', message: `${quote(env.BACKUP_RETRY_ATTEMPTS)} is out of range; expected 1 (no retries) to 100` });
  }
  if (v.BACKUP_DESTINATION_TIMEOUT !== undefined && v.BACKUP_DESTINATION_TIMEOUT < 1000) {
    issues.push({ variable: 'BACKUP_DESTINATION_TIMEOUT', message: `${quote(env.BACKUP_DESTINATION_TIMEOUT)} is too short; expected at least 1s` });
  }
  if (issues.length > before) return null;
  return {
    attempts: v.BACKUP_RETRY_ATTEMPTS,
    maxDurationMs: v.BACKUP_RETRY_MAX_DURATION,
    initialDelayMs: v.BACKUP_RETRY_INITIAL_DELAY,
    maxDelayMs: DEFAULT_RETRY.maxDelayMs,
    timeoutMs: v.BACKUP_DESTINATION_TIMEOUT,
  };
}

// ---------------------------------------------------------------- S3

export type S3Checksum = 'when_supported' | 'when_required';

export interface S3Config {
  bucket: string;
  /** Key prefix from AWS_S3_PATH: '' or `a/b/`. */
  path: string;
  /** Static credentials, or null for IAM (AWS_IAM_ROLE_ENDPOINT) or the SDK's default chain. */
  credentials: { accessKeyId: string; secretAccessKey: string } | null;
  /** Instance metadata endpoint for IAM role credentials (AWS_IAM_ROLE_ENDPOINT), or null. */
  iamRoleEndpoint: string | null;
  /** Full endpoint URL for a custom (S3-compatible) server, or null for AWS itself. Path-style addressing when set. */
  endpoint: string | null;
  /** Skip TLS certificate verification (AWS_ENDPOINT_INSECURE). */
  insecure: boolean;
  /** Extra CA certificate(s) in PEM form (AWS_ENDPOINT_CA_CERT, read from a file or given inline). */
  caCert: string | null;
  storageClass: string | null;
  /** Multipart part size in bytes (AWS_PART_SIZE MB). Grows when an archive of known size needs it. */
  partSize: number;
  region: string;
  /** when_required: no default streaming checksums (for S3-compatible servers that reject them). */
  checksum: S3Checksum;
}

const AWS_DEFAULT_ENDPOINT = 's3.amazonaws.com';

export const S3_SPEC = {
  AWS_S3_BUCKET_NAME: str({ default: '' }),
  AWS_S3_PATH: str({ default: '' }),
  AWS_ACCESS_KEY_ID: str({ default: '' }),
  AWS_SECRET_ACCESS_KEY: str({ default: '' }),
  AWS_IAM_ROLE_ENDPOINT: str({ default: '' }),
  AWS_ENDPOINT: str({ default: AWS_DEFAULT_ENDPOINT }),
  AWS_ENDPOINT_PROTO: oneOf(['https', 'http'] as const)({ default: 'https' }),
  AWS_ENDPOINT_INSECURE: boolean({ default: false }),
  AWS_ENDPOINT_CA_CERT: str({ default: '' }),
  AWS_STORAGE_CLASS: str({ default: '' }),
  AWS_PART_SIZE: integer({ default: 16 }),
  AWS_REGION: str({ default: '' }),
  AWS_CHECKSUM: oneOf(['when_supported', 'when_required'] as const)({ default: 'when_supported' }),
};

/** Read a PEM given inline or as a file path. */
function readPem(value: string, variable: string, issues: ConfigIssue[]): string | null {
  if (value.includes('-----BEGIN')) return value.replace(/\\n/g, '\n');
  const read = readBoundedFile(value);
  if (!read.ok) {
    issues.push({ variable, message: `the file ${quote(value)} ${read.problem}; expected a file path or an inline PEM certificate` });
    return null;
  }
  if (!read.text.includes('-----BEGIN')) {
    issues.push({ variable, message: `${quote(value)} does not contain a PEM certificate (-----BEGIN CERTIFICATE-----)` });
    return null;
  }
  return read.text;
}

/** S3 is enabled by AWS_S3_BUCKET_NAME; returns null when it is not set or invalid (issues tell which). */
export function parseS3(env: Env, issues: ConfigIssue[]): S3Config | null {
  const before = issues.length;
  const v = validateSection(env, S3_SPEC, issues);
  if (!v.AWS_S3_BUCKET_NAME) return null;
  if (v.AWS_ACCESS_KEY_ID && !v.AWS_SECRET_ACCESS_KEY) issues.push({ variable: 'AWS_SECRET_ACCESS_KEY', message: 'is required when AWS_ACCESS_KEY_ID is set' });
  if (!v.AWS_ACCESS_KEY_ID && v.AWS_SECRET_ACCESS_KEY) issues.push({ variable: 'AWS_ACCESS_KEY_ID', message: 'is required when AWS_SECRET_ACCESS_KEY is set' });
  if (v.AWS_PART_SIZE !== undefined && (v.AWS_PART_SIZE < 5 || v.AWS_PART_SIZE > 5120)) {
    issues.push({ variable: 'AWS_PART_SIZE', message: `${quote(env.AWS_PART_SIZE)} is out of range; expected 5 to 5120 (MB)` });
  }
  if (v.AWS_STORAGE_CLASS && !/^[A-Za-z0-9_]+$/.test(v.AWS_STORAGE_CLASS)) {
    issues.push({ variable: 'AWS_STORAGE_CLASS', message: `${quote(v.AWS_STORAGE_CLASS)} is not a storage class name; expected e.g. STANDARD, STANDARD_IA, GLACIER_IR` });
  }
  if (v.AWS_IAM_ROLE_ENDPOINT && !/^https?:\/\/[^/]+/.test(v.AWS_IAM_ROLE_ENDPOINT)) {
    issues.push({ variable: 'AWS_IAM_ROLE_ENDPOINT', message: `${quote(v.AWS_IAM_ROLE_ENDPOINT)} is not a URL; expected e.g. http://169.254.169.254` });
  }
  let endpoint: string | null = null;
  const rawEndpoint = (v.AWS_ENDPOINT ?? AWS_DEFAULT_ENDPOINT).trim();
  if (rawEndpoint && rawEndpoint !== AWS_DEFAULT_ENDPOINT) {
    const withScheme = /^[a-z]+:\/\//i.test(rawEndpoint) ? rawEndpoint : `${v.AWS_ENDPOINT_PROTO ?? 'https'}://${rawEndpoint}`;
    try {
      const u = new URL(withScheme);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      endpoint = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
    } catch {
      issues.push({ variable: 'AWS_ENDPOINT', message: `${quote(rawEndpoint)} is not a host[:port]; expected e.g. minio.example.com:9000 (the scheme comes from AWS_ENDPOINT_PROTO)` });
    }
  }
  const caCert = v.AWS_ENDPOINT_CA_CERT ? readPem(v.AWS_ENDPOINT_CA_CERT, 'AWS_ENDPOINT_CA_CERT', issues) : null;
  if (issues.length > before) return null;
  return {
    bucket: v.AWS_S3_BUCKET_NAME,
    path: keyPrefix(v.AWS_S3_PATH),
    credentials: v.AWS_ACCESS_KEY_ID ? { accessKeyId: v.AWS_ACCESS_KEY_ID, secretAccessKey: v.AWS_SECRET_ACCESS_KEY } : null,
    iamRoleEndpoint: v.AWS_IAM_ROLE_ENDPOINT || null,
    endpoint,
    insecure: v.AWS_ENDPOINT_INSECURE,
    caCert,
    storageClass: v.AWS_STORAGE_CLASS ? v.AWS_STORAGE_CLASS.toUpperCase() : null,
    partSize: v.AWS_PART_SIZE * 1024 * 1024,
    region: v.AWS_REGION || 'us-east-1',
    checksum: v.AWS_CHECKSUM,
  };
}

// ---------------------------------------------------------------- Azure Blob

/** Block blob tiers of @azure/storage-blob (`BlockBlobTier`); test/destinations/azure.test.ts checks they match the SDK. */
export const AZURE_BLOCK_BLOB_TIERS = ['Hot', 'Cool', 'Cold', 'Archive'] as const;
export type AzureTier = (typeof AZURE_BLOCK_BLOB_TIERS)[number];

export interface AzureConfig {
  accountName: string;
  /** Exactly one of: account key, connection string, or neither (managed identity). */
  auth: { kind: 'key'; accountKey: string } | { kind: 'connectionString'; connectionString: string } | { kind: 'identity' };
  container: string;
  /** Blob name prefix from AZURE_STORAGE_PATH: '' or `a/b/`. */
  path: string;
  /** Service URL with the account name filled in, ending in '/'. */
  endpoint: string;
  accessTier: AzureTier | null;
}

export const AZURE_DEFAULT_ENDPOINT = 'https://{{ .AccountName }}.blob.core.windows.net/';

export const AZURE_SPEC = {
  AZURE_STORAGE_ACCOUNT_NAME: str({ default: '' }),
  AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: str({ default: '' }),
  AZURE_STORAGE_CONNECTION_STRING: str({ default: '' }),
  AZURE_STORAGE_CONTAINER_NAME: str({ default: '' }),
  AZURE_STORAGE_PATH: str({ default: '' }),
  AZURE_STORAGE_ENDPOINT: str({ default: AZURE_DEFAULT_ENDPOINT }),
  AZURE_STORAGE_ACCESS_TIER: oneOf(AZURE_BLOCK_BLOB_TIERS)({ default: undefined }),
};

/** Azure is enabled by AZURE_STORAGE_ACCOUNT_NAME. */
export function parseAzure(env: Env, issues: ConfigIssue[]): AzureConfig | null {
  const before = issues.length;
  const v = validateSection(env, AZURE_SPEC, issues);
  if (!v.AZURE_STORAGE_ACCOUNT_NAME) return null;
  const account = v.AZURE_STORAGE_ACCOUNT_NAME;
  if (v.AZURE_STORAGE_PRIMARY_ACCOUNT_KEY && v.AZURE_STORAGE_CONNECTION_STRING) {
    issues.push({ variable: 'AZURE_STORAGE_CONNECTION_STRING', message: 'cannot be combined with AZURE_STORAGE_PRIMARY_ACCOUNT_KEY; set only one of them (neither = managed identity)' });
  }
  if (!v.AZURE_STORAGE_CONTAINER_NAME) issues.push({ variable: 'AZURE_STORAGE_CONTAINER_NAME', message: 'is required when AZURE_STORAGE_ACCOUNT_NAME is set' });
  let endpoint = '';
  const template = v.AZURE_STORAGE_ENDPOINT ?? AZURE_DEFAULT_ENDPOINT;
  const filled = template.replace(/\{\{\s*\.AccountName\s*\}\}/g, account);
  if (/\{\{/.test(filled)) {
    issues.push({ variable: 'AZURE_STORAGE_ENDPOINT', message: `${quote(template)} has an unknown template; only {{ .AccountName }} is supported` });
  } else {
    try {
      const u = new URL(filled);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      endpoint = u.toString().endsWith('/') ? u.toString() : `${u.toString()}/`;
    } catch {
      issues.push({ variable: 'AZURE_STORAGE_ENDPOINT', message: `${quote(template)} is not a URL; expected e.g. ${AZURE_DEFAULT_ENDPOINT}` });
    }
  }
  if (issues.length > before) return null;
  const auth: AzureConfig['auth'] = v.AZURE_STORAGE_PRIMARY_ACCOUNT_KEY
    ? { kind: 'key', accountKey: v.AZURE_STORAGE_PRIMARY_ACCOUNT_KEY }
    : v.AZURE_STORAGE_CONNECTION_STRING
      ? { kind: 'connectionString', connectionString: v.AZURE_STORAGE_CONNECTION_STRING }
      : { kind: 'identity' };
  return {
    accountName: account,
    auth,
    container: v.AZURE_STORAGE_CONTAINER_NAME,
    path: keyPrefix(v.AZURE_STORAGE_PATH),
    endpoint,
    accessTier: v.AZURE_STORAGE_ACCESS_TIER ?? null,
  };
}

/**
 * Variables the AWS SDK and Azure identity read from the process environment on their
 * own (default credential chains, endpoints, retries): not offsite's, never warned about.
 */
export const SDK_VARIABLES: readonly string[] = [
  'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_REGION', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME', 'AWS_CREDENTIAL_EXPIRATION', 'AWS_ACCOUNT_ID',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_EC2_METADATA_DISABLED', 'AWS_EC2_METADATA_SERVICE_ENDPOINT', 'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE', 'AWS_EC2_METADATA_V1_DISABLED',
  'AWS_SDK_LOAD_CONFIG', 'AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT', 'AWS_MAX_ATTEMPTS', 'AWS_RETRY_MODE', 'AWS_CA_BUNDLE',
  'AWS_NODEJS_CONNECTION_REUSE_ENABLED', 'AWS_EXECUTION_ENV', 'AWS_REQUEST_CHECKSUM_CALCULATION', 'AWS_RESPONSE_CHECKSUM_VALIDATION',
  'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_SDK_UA_APP_ID',
  'AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_CLIENT_SEND_CERTIFICATE_CHAIN', 'AZURE_USERNAME', 'AZURE_PASSWORD', 'AZURE_AUTHORITY_HOST', 'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_REGIONAL_AUTHORITY_NAME', 'AZURE_ADDITIONALLY_ALLOWED_TENANTS', 'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'AZURE_TOKEN_CREDENTIALS', 'AZURE_LOG_LEVEL',
];

/** Every variable these sections read (for knownVariables / X_FILE). */
export const DESTINATION_CORE_VARIABLES: string[] = [...Object.keys(RETRY_SPEC), ...Object.keys(S3_SPEC), ...Object.keys(AZURE_SPEC)];
