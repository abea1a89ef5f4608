/** The S3 destination's definition (implementation: s3.ts): AWS S3 and S3-compatible servers. */
import { str } from 'envalid';
import { readBoundedFile } from '../config/files.ts';
import { quote, type ConfigIssue } from '../errors.ts';
import { validateSection, boolean, integer, oneOf, type Env } from '../config/validate.ts';
import { defineDestination, NETWORK_ERROR, TLS_ERROR } from './definition.ts';
import { keyPrefix } from './names.ts';

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
    issues.push({
      variable: 'AWS_STORAGE_CLASS',
      message: `${quote(v.AWS_STORAGE_CLASS)} is not a storage class name; expected e.g. STANDARD, STANDARD_IA, GLACIER_IR`,
    });
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
      issues.push({
        variable: 'AWS_ENDPOINT',
        message: `${quote(rawEndpoint)} is not a host[:port]; expected e.g. minio.example.com:9000 (the scheme comes from AWS_ENDPOINT_PROTO)`,
      });
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

/** Variables the AWS SDK reads from the process environment on its own (credential chain, endpoints, retries). */
const AWS_SDK_VARIABLES: readonly string[] = [
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SESSION_TOKEN',
  'AWS_DEFAULT_REGION',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_ACCOUNT_ID',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE',
  'AWS_EC2_METADATA_V1_DISABLED',
  'AWS_SDK_LOAD_CONFIG',
  'AWS_USE_FIPS_ENDPOINT',
  'AWS_USE_DUALSTACK_ENDPOINT',
  'AWS_MAX_ATTEMPTS',
  'AWS_RETRY_MODE',
  'AWS_CA_BUNDLE',
  'AWS_NODEJS_CONNECTION_REUSE_ENABLED',
  'AWS_EXECUTION_ENV',
  'AWS_REQUEST_CHECKSUM_CALCULATION',
  'AWS_RESPONSE_CHECKSUM_VALIDATION',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_SDK_UA_APP_ID',
];

export const s3 = defineDestination<S3Config>({
  kind: 'S3',
  title: 'S3',
  variables: S3_SPEC,
  secrets: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  trigger: 'AWS_S3_BUCKET_NAME',
  passthrough: AWS_SDK_VARIABLES,
  parse: parseS3,
  async create(config, ctx) {
    const { createS3Destination } = await import('./s3.ts');
    return createS3Destination(config, { retry: ctx.retry }, ctx.log);
  },
  errorCodes: {
    transient: [
      'RequestTimeout',
      'RequestTimeoutException',
      'SlowDown',
      'Throttling',
      'ThrottlingException',
      'ThrottledException',
      'TooManyRequestsException',
      'RequestThrottled',
      'RequestLimitExceeded',
      'ServiceUnavailable',
      'InternalError',
      'BandwidthLimitExceeded',
      'PriorRequestNotComplete',
      'EC2ThrottledException',
    ],
    permanent: [
      'NoSuchBucket',
      'InvalidAccessKeyId',
      'SignatureDoesNotMatch',
      'AccessDenied',
      'AuthorizationHeaderMalformed',
      'InvalidBucketName',
      'AllAccessDisabled',
      'AccountProblem',
      'InvalidToken',
      'ExpiredToken',
      'CredentialsProviderError',
    ],
  },
  hints: [
    {
      test: /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden|\b403\b|InvalidToken|ExpiredToken|credential/i,
      hint: 'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and that the key may write to the bucket)',
    },
    { test: /NoSuchBucket|bucket.*(does not exist|not found)/i, hint: 'check AWS_S3_BUCKET_NAME (the bucket must exist)' },
    { test: /PermanentRedirect|AuthorizationHeaderMalformed|region/i, hint: 'check AWS_REGION' },
    { test: TLS_ERROR, hint: 'check AWS_ENDPOINT_CA_CERT (or AWS_ENDPOINT_INSECURE for a test server)' },
    { test: NETWORK_ERROR, hint: 'check AWS_ENDPOINT and AWS_ENDPOINT_PROTO: is the server reachable from here?' },
  ],
});
