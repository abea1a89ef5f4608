/**
 * What to check after a destination failed: the variable(s) to look at, from
 * the destination kind and the error text. Printed once with the failure
 * (terminal summary, log line, notification).
 */
import type { DestinationKind } from '../destinations/types.ts';

interface Rule { test: RegExp; hint: string }

const NETWORK = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ETIMEDOUT|timed? ?out|socket hang up|getaddrinfo/i;
const TLS = /certificate|self[- ]signed|UNABLE_TO_VERIFY|CERT_|SSL|TLS/i;

const RULES: Record<DestinationKind, Rule[]> = {
  S3: [
    { test: /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden|\b403\b|InvalidToken|ExpiredToken|credential/i, hint: 'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and that the key may write to the bucket)' },
    { test: /NoSuchBucket|bucket.*(does not exist|not found)/i, hint: 'check AWS_S3_BUCKET_NAME (the bucket must exist)' },
    { test: /PermanentRedirect|AuthorizationHeaderMalformed|region/i, hint: 'check AWS_REGION' },
    { test: TLS, hint: 'check AWS_ENDPOINT_CA_CERT (or AWS_ENDPOINT_INSECURE for a test server)' },
    { test: NETWORK, hint: 'check AWS_ENDPOINT and AWS_ENDPOINT_PROTO: is the server reachable from here?' },
  ],
  WebDAV: [
    { test: /\b401\b|Unauthorized/i, hint: 'check WEBDAV_USERNAME and WEBDAV_PASSWORD' },
    { test: /\b403\b|Forbidden/i, hint: 'check that WEBDAV_USERNAME may write to WEBDAV_PATH' },
    { test: /\b404\b|\b409\b|Not Found|Conflict/i, hint: 'check WEBDAV_URL and WEBDAV_PATH (the parent directory must exist)' },
    { test: /\b507\b|Insufficient Storage|quota/i, hint: 'the WebDAV server is out of space: free some or lower BACKUP_RETENTION_DAYS' },
    { test: TLS, hint: 'check the server certificate (WEBDAV_URL_INSECURE for a test server)' },
    { test: NETWORK, hint: 'check WEBDAV_URL: is the server reachable from here?' },
  ],
  SSH: [
    { test: /host key|fingerprint|known.hosts/i, hint: 'check SSH_HOST_KEY_FINGERPRINT or SSH_KNOWN_HOSTS' },
    { test: /authentication|auth.*fail|permission denied \(publickey|All configured authentication methods failed|passphrase/i, hint: 'check SSH_USER and SSH_PASSWORD or SSH_IDENTITY_FILE (and SSH_IDENTITY_PASSPHRASE)' },
    { test: /No such file|ENOENT|does not exist/i, hint: 'check SSH_REMOTE_PATH (the directory must exist)' },
    { test: /Permission denied|EACCES/i, hint: 'check that SSH_USER may write to SSH_REMOTE_PATH' },
    { test: NETWORK, hint: 'check SSH_HOST_NAME and SSH_PORT: is the server reachable from here?' },
  ],
  Azure: [
    { test: /AuthenticationFailed|AuthorizationFailure|\b403\b|Signature|credential/i, hint: 'check AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_PRIMARY_ACCOUNT_KEY (or AZURE_STORAGE_CONNECTION_STRING)' },
    { test: /ContainerNotFound|\b404\b/i, hint: 'check AZURE_STORAGE_CONTAINER_NAME (the container must exist)' },
    { test: NETWORK, hint: 'check AZURE_STORAGE_ENDPOINT (or AZURE_STORAGE_ACCOUNT_NAME): is the service reachable from here?' },
  ],
  Dropbox: [
    { test: /invalid_grant|invalid_client|\b400\b|\b401\b|expired_access_token|invalid_access_token|unauthorized/i, hint: 'check DROPBOX_REFRESH_TOKEN, DROPBOX_APP_KEY and DROPBOX_APP_SECRET' },
    { test: /insufficient_space|quota/i, hint: 'the Dropbox account is out of space' },
    { test: /path|not_found|malformed/i, hint: 'check DROPBOX_REMOTE_PATH' },
    { test: NETWORK, hint: 'is api.dropboxapi.com (or DROPBOX_ENDPOINT) reachable from here?' },
  ],
  Local: [
    { test: /ENOSPC|no space/i, hint: 'the disk of BACKUP_ARCHIVE is full: free some space or lower BACKUP_RETENTION_DAYS' },
    { test: /EACCES|EPERM|permission/i, hint: 'check that offsite may write to BACKUP_ARCHIVE (owner and mode of the mounted directory)' },
    { test: /EROFS|read-only/i, hint: 'BACKUP_ARCHIVE is mounted read-only' },
  ],
};

/** The hint for a failure of this destination, or undefined when nothing specific applies. */
export function hintFor(kind: DestinationKind | undefined, message: string): string | undefined {
  if (!kind) return undefined;
  for (const r of RULES[kind] ?? []) if (r.test.test(message)) return r.hint;
  return undefined;
}

/** The hints of a run's failed destinations, one per distinct hint. */
export function hintsFor(failures: ReadonlyArray<{ destination: DestinationKind; error?: string }>): string[] {
  const out: string[] = [];
  for (const f of failures) {
    const h = hintFor(f.destination, f.error ?? '');
    if (h && !out.includes(`${f.destination}: ${h}`)) out.push(`${f.destination}: ${h}`);
  }
  return out;
}
