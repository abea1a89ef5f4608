/**
 * backup -> list -> verify -> restore on every destination at once (local,
 * S3 on s3rver, Azure on azurite, WebDAV on webdav-server, SFTP on OpenSSH,
 * Dropbox on the local fake), for the encryption methods that need no
 * scrypt work (the passphrase methods run on Local in roundtrip.test.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import * as openpgp from 'openpgp';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { parseJob, type JobConfig } from '../../src/config/index.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { runJob } from '../../src/run/run.ts';
import { silentLogger } from '../../src/log.ts';
import { createDestinations } from '../../src/destinations/registry.ts';
import { verifyBackup, restoreBackup } from '../../src/restore/index.ts';
import { listBackups } from '../../src/restore/list.ts';
import { makeTree, describeTree } from '../helpers/tree.ts';
import { startS3rver, type S3rverHandle } from '../servers/s3rver.ts';
import { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteHandle } from '../servers/azurite.ts';
import { startWebdavServer, type InProcessDav } from '../servers/webdav-server.ts';
import { startSshd, type SshdServer } from '../servers/sshd.ts';
import { startDropboxFake, type DropboxFake } from '../servers/dropbox-fake.ts';
import { archiveNameOf } from '../../src/archive/layout.ts';

const log = silentLogger();
let base: string;
let src: string;
let s3: S3rverHandle;
let azurite: AzuriteHandle;
let dav: InProcessDav;
let sshd: SshdServer;
let dropbox: DropboxFake;
let destEnv: Record<string, string>;
let keys: { gpgPublic: string; gpgPrivate: string; ageId: string; ageRecipient: string };

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'offsite-dest-roundtrip-'));
  src = join(base, 'volumes', 'app');
  makeTree(src);
  [s3, azurite, dav, sshd, dropbox] = await Promise.all([
    startS3rver({ buckets: ['backups'] }),
    startAzurite(),
    startWebdavServer(),
    startSshd(),
    startDropboxFake(),
  ]);
  await new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).getContainerClient('backups').createIfNotExists();
  const knownHosts = join(base, 'known_hosts');
  writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
  const archive = join(base, 'archive');
  mkdirSync(archive);
  destEnv = {
    BACKUP_ARCHIVE: archive,
    AWS_S3_BUCKET_NAME: 'backups',
    AWS_S3_PATH: 'roundtrip',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT: `127.0.0.1:${s3.port}`,
    AWS_ENDPOINT_PROTO: 'http',
    AWS_CHECKSUM: 'when_required',
    AZURE_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
    AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: AZURITE_KEY,
    AZURE_STORAGE_CONTAINER_NAME: 'backups',
    AZURE_STORAGE_PATH: 'roundtrip',
    AZURE_STORAGE_ENDPOINT: `http://127.0.0.1:${azurite.port}/{{ .AccountName }}/`,
    WEBDAV_URL: dav.url,
    WEBDAV_PATH: 'roundtrip',
    WEBDAV_USERNAME: dav.username,
    WEBDAV_PASSWORD: dav.password,
    SSH_HOST_NAME: sshd.host,
    SSH_PORT: String(sshd.port),
    SSH_USER: sshd.user,
    SSH_PASSWORD: sshd.password,
    SSH_REMOTE_PATH: join(sshd.home, `roundtrip-${process.pid}`),
    SSH_KNOWN_HOSTS: knownHosts,
    DROPBOX_REFRESH_TOKEN: dropbox.refreshToken,
    DROPBOX_APP_KEY: dropbox.appKey,
    DROPBOX_APP_SECRET: dropbox.appSecret,
    DROPBOX_REMOTE_PATH: 'roundtrip',
    DROPBOX_ENDPOINT: `${dropbox.origin}/`,
    DROPBOX_OAUTH2_ENDPOINT: `${dropbox.origin}/`,
  };
  const k = await openpgp.generateKey({ userIDs: [{ email: 'dest@example.invalid' }], format: 'armored' });
  const ageId = await generateX25519Identity();
  keys = { gpgPublic: k.publicKey, gpgPrivate: k.privateKey, ageId, ageRecipient: await identityToRecipient(ageId) };
});

after(async () => {
  await Promise.allSettled([s3?.close(), azurite?.stop(), dav?.stop(), sshd?.stop(), dropbox?.stop()]);
  rmSync(base, { recursive: true, force: true });
});

const methods: Record<string, () => Record<string, string>> = {
  none: () => ({}),
  'gpg public key': () => ({ GPG_PUBLIC_KEY_RING: keys.gpgPublic, GPG_PRIVATE_KEY: keys.gpgPrivate }),
  'age recipients': () => ({ AGE_PUBLIC_KEYS: keys.ageRecipient, AGE_SECRET_KEYS: keys.ageId, BACKUP_COMPRESSION: 'zst' }),
  aes: () => ({ BACKUP_ENCRYPTION_KEY: '9d'.repeat(32) }),
};

for (const [method, env] of Object.entries(methods)) {
  test(`every destination (${method}): backup, list, verify, restore`, async () => {
    const tag = method.replace(/\W+/g, '-');
    const issues: ConfigIssue[] = [];
    const j: JobConfig = parseJob(
      'default',
      'environment',
      {
        BACKUP_SOURCES: src,
        BACKUP_FILENAME: `rt-${tag}-%Y%m%dT%H%M%S.{{ .Extension }}`,
        ...destEnv,
        ...env(),
      },
      issues,
    )!;
    assert.deepEqual(issues, []);
    const stats = await runJob(j, { log, lockFile: join(base, 'lock') });
    assert.equal(stats.status, 'success', JSON.stringify({ error: stats.error, warnings: stats.warnings }));
    assert.deepEqual(stats.destinations.map((d) => d.destination).sort(), ['Azure', 'Dropbox', 'Local', 'S3', 'SSH', 'WebDAV']);
    const dests = await createDestinations(j, log);
    try {
      for (const d of dests) {
        const listed = await listBackups([d], j.retention.prefix);
        assert.equal(listed.length, 1, `${d.name}: ${listed.map((b) => b.name).join(', ')}`);
        assert.equal(listed[0]!.manifest?.archive.sha256, stats.archive!.sha256, `${d.name}: the sidecar is there`);
        const v = await verifyBackup({ destination: d, prefix: j.retention.prefix, keys: j.encryption.keys, log });
        assert.ok(v.ok && v.contentChecked, `${d.name}: ${v.problems.join('; ')}`);
        const target = join(base, `restored-${tag}-${d.name}`);
        await restoreBackup({ destination: d, prefix: j.retention.prefix, target, keys: j.encryption.keys, log });
        assert.deepEqual(describeTree(join(target, archiveNameOf(src)), false), describeTree(src, false), d.name);
      }
    } finally {
      await Promise.allSettled(dests.map((d) => d.close()));
    }
  });
}
