/** The Azure Blob Storage destination's definition (implementation: azure.ts). */
import { str } from 'envalid';
import { quote, type ConfigIssue } from '../errors.ts';
import { validateSection, oneOf, type Env } from '../config/validate.ts';
import { defineDestination, NETWORK_ERROR } from './definition.ts';
import { keyPrefix } from './names.ts';

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
    issues.push({
      variable: 'AZURE_STORAGE_CONNECTION_STRING',
      message: 'cannot be combined with AZURE_STORAGE_PRIMARY_ACCOUNT_KEY; set only one of them (neither = managed identity)',
    });
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

/** Variables Azure identity reads from the process environment on its own (managed identity, service principals). */
const AZURE_SDK_VARIABLES: readonly string[] = [
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_CLIENT_SEND_CERTIFICATE_CHAIN',
  'AZURE_USERNAME',
  'AZURE_PASSWORD',
  'AZURE_AUTHORITY_HOST',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_REGIONAL_AUTHORITY_NAME',
  'AZURE_ADDITIONALLY_ALLOWED_TENANTS',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'AZURE_TOKEN_CREDENTIALS',
  'AZURE_LOG_LEVEL',
];

export const azure = defineDestination<AzureConfig>({
  kind: 'Azure',
  title: 'Azure Blob',
  variables: AZURE_SPEC,
  secrets: ['AZURE_STORAGE_PRIMARY_ACCOUNT_KEY', 'AZURE_STORAGE_CONNECTION_STRING'],
  trigger: 'AZURE_STORAGE_ACCOUNT_NAME',
  passthrough: AZURE_SDK_VARIABLES,
  parse: parseAzure,
  async create(config, ctx) {
    const { createAzureDestination } = await import('./azure.ts');
    return createAzureDestination(config, { retry: ctx.retry }, ctx.log);
  },
  errorCodes: {
    transient: ['ServerBusy', 'OperationTimedOut', 'InternalError', 'InternalServerError', 'ServiceUnavailable'],
    permanent: [
      'AuthenticationFailed',
      'AuthorizationFailure',
      'AuthorizationPermissionMismatch',
      'ContainerNotFound',
      'InvalidAuthenticationInfo',
      'AccountIsDisabled',
      'InsufficientAccountPermissions',
      'InvalidResourceName',
      'CredentialUnavailableError',
      'AuthenticationRequiredError',
    ],
  },
  hints: [
    {
      test: /AuthenticationFailed|AuthorizationFailure|\b403\b|Signature|credential/i,
      hint: 'check AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_PRIMARY_ACCOUNT_KEY (or AZURE_STORAGE_CONNECTION_STRING)',
    },
    { test: /ContainerNotFound|\b404\b/i, hint: 'check AZURE_STORAGE_CONTAINER_NAME (the container must exist)' },
    { test: NETWORK_ERROR, hint: 'check AZURE_STORAGE_ENDPOINT (or AZURE_STORAGE_ACCOUNT_NAME): is the service reachable from here?' },
  ],
  genericErrorNames: ['RestError'],
});
