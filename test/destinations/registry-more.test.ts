import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, knownVariables } from '../../src/config/index.ts';
import { createDestinations } from '../../src/destinations/registry.ts';
import { silentLogger } from '../../src/log.ts';
import { ConfigError } from '../../src/errors.ts';

describe('WebDAV, SSH and Dropbox in the configuration and the registry', () => {
  it('every variable is known (so X_FILE works for each)', () => {
    const known = knownVariables();
    for (const v of [
      'WEBDAV_URL',
      'WEBDAV_PATH',
      'WEBDAV_USERNAME',
      'WEBDAV_PASSWORD',
      'WEBDAV_URL_INSECURE',
      'SSH_HOST_NAME',
      'SSH_PORT',
      'SSH_REMOTE_PATH',
      'SSH_USER',
      'SSH_PASSWORD',
      'SSH_IDENTITY_FILE',
      'SSH_IDENTITY_PASSPHRASE',
      'SSH_KNOWN_HOSTS',
      'SSH_HOST_KEY_FINGERPRINT',
      'DROPBOX_REFRESH_TOKEN',
      'DROPBOX_APP_KEY',
      'DROPBOX_APP_SECRET',
      'DROPBOX_REMOTE_PATH',
      'DROPBOX_CONCURRENCY_LEVEL',
      'DROPBOX_ENDPOINT',
      'DROPBOX_OAUTH2_ENDPOINT',
    ]) {
      assert.ok(known.has(v), v);
    }
  });

  it('a configured job gets the three destinations, secrets read from _FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'offsite-reg-'));
    try {
      writeFileSync(join(dir, 'dav'), 'dav-secret\n');
      const cfg = loadConfig({
        cwd: dir,
        env: {
          WEBDAV_URL: 'https://dav.example.com/files',
          WEBDAV_PATH: 'backups',
          WEBDAV_USERNAME: 'me',
          WEBDAV_PASSWORD_FILE: join(dir, 'dav'),
          SSH_HOST_NAME: 'sftp.example.com',
          SSH_USER: 'bk',
          SSH_PASSWORD: 'pw',
          SSH_REMOTE_PATH: '/srv/b',
          DROPBOX_REFRESH_TOKEN: 'rt',
          DROPBOX_APP_KEY: 'ak',
          DROPBOX_APP_SECRET: 'as',
          DROPBOX_REMOTE_PATH: 'host1',
        },
      });
      const job = cfg.jobs[0]!;
      assert.equal((job.destinations.find((d) => d.kind === 'WebDAV')?.config as { password?: string } | undefined)?.password, 'dav-secret');
      const ds = await createDestinations(job, silentLogger());
      assert.deepEqual(
        ds.map((d) => [d.name, d.location]),
        [
          ['WebDAV', 'https://dav.example.com/files/backups/'],
          ['SSH', 'sftp://bk@sftp.example.com/srv/b'],
          ['Dropbox', 'dropbox:/host1'],
        ],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a partial Dropbox set and a bad SSH port are configuration errors', () => {
    assert.throws(
      () => loadConfig({ env: { DROPBOX_APP_KEY: 'ak', SSH_HOST_NAME: 'h', SSH_USER: 'u', SSH_PORT: 'x' } }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.issues.map((i) => i.variable).sort(), ['DROPBOX_APP_SECRET', 'DROPBOX_REFRESH_TOKEN', 'SSH_PORT']);
        return true;
      },
    );
  });
});
