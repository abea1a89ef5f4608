/** The hint printed with a destination failure names the variable(s) to check. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hintFor, hintsFor } from '../../src/run/hints.ts';
import { defaultBody } from '../../src/notify/messages.ts';
import { emptyStats } from '../../src/run/run.ts';

const cases: Array<[Parameters<typeof hintFor>[0], string, RegExp]> = [
  ['S3', 'S3 upload to s3://b/x: the access key id was refused (InvalidAccessKeyId)', /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/],
  ['S3', 'status 403 SignatureDoesNotMatch', /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/],
  ['S3', 'The specified bucket does not exist (NoSuchBucket)', /AWS_S3_BUCKET_NAME/],
  ['S3', 'connect ECONNREFUSED 127.0.0.1:9', /AWS_ENDPOINT/],
  ['WebDAV', 'PUT https://dav/x: HTTP 401 Unauthorized', /WEBDAV_USERNAME and WEBDAV_PASSWORD/],
  ['WebDAV', 'HTTP 409 Conflict', /WEBDAV_PATH/],
  ['WebDAV', 'getaddrinfo ENOTFOUND dav.example', /WEBDAV_URL/],
  ['SSH', 'All configured authentication methods failed', /SSH_USER and SSH_PASSWORD or SSH_IDENTITY_FILE/],
  ['SSH', 'the host key fingerprint SHA256:x does not match', /SSH_HOST_KEY_FINGERPRINT or SSH_KNOWN_HOSTS/],
  ['SSH', 'connect ETIMEDOUT 10.0.0.1:22', /SSH_HOST_NAME and SSH_PORT/],
  ['Azure', 'AuthenticationFailed: Server failed to authenticate the request', /AZURE_STORAGE_PRIMARY_ACCOUNT_KEY/],
  ['Azure', 'ContainerNotFound', /AZURE_STORAGE_CONTAINER_NAME/],
  ['Dropbox', 'refreshing the access token: invalid_grant', /DROPBOX_REFRESH_TOKEN, DROPBOX_APP_KEY and DROPBOX_APP_SECRET/],
  ['Local', 'ENOSPC: no space left on device', /BACKUP_ARCHIVE is full/],
  ['Local', 'EACCES: permission denied', /may write to BACKUP_ARCHIVE/],
];
for (const [kind, message, want] of cases) test(`${kind}: ${message}`, () => assert.match(hintFor(kind, message) ?? '', want));

test('no hint when nothing specific applies; one hint per destination and cause', () => {
  assert.equal(hintFor('S3', 'something odd'), undefined);
  assert.equal(hintFor(undefined, 'HTTP 401'), undefined);
  assert.deepEqual(
    hintsFor([
      { destination: 'WebDAV', error: 'HTTP 401' },
      { destination: 'WebDAV', error: 'HTTP 401 again' },
      { destination: 'S3', error: 'weird' },
    ]),
    ['WebDAV: check WEBDAV_USERNAME and WEBDAV_PASSWORD'],
  );
});

test('the notification carries the hint', () => {
  const s = emptyStats('db', new Date());
  s.status = 'failure';
  s.error = { phase: 'upload', message: 'WebDAV: HTTP 401' };
  s.hints = ['WebDAV: check WEBDAV_USERNAME and WEBDAV_PASSWORD'];
  assert.match(defaultBody(s), /\nCheck: WebDAV: check WEBDAV_USERNAME and WEBDAV_PASSWORD\n/);
});
