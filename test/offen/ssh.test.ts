// Translated from offen/docker-volume-backup test/ssh (run.sh, docker-compose.yml): backups over
// SFTP (offen: linuxserver/openssh-server on port 2222, user test, SSH_REMOTE_PATH /tmp, the
// server's /tmp being the volume run.sh reads) logging in with a passphrase-protected RSA key
// in PEM format (`ssh-keygen -t rsa -m pem -N test1234`, SSH_IDENTITY_PASSPHRASE test1234), named
// test-$HOSTNAME.tar.gz, retention 7 / 0 / 7 with leeway 5s and prefix test; see
// destination-scenario.ts for the steps. The server is OpenSSH's sshd (test/servers/sshd.ts)
// with its test user; SSH_REMOTE_PATH is a fresh directory owned by that user (the machine's
// /tmp is shared), read directly by the test; the old backup is created there as the user
// (offen: `docker run --user 1000 ... touch -d@...`). The key is 2048 bits instead of 4096
// (only key generation time differs) and is named by SSH_IDENTITY_FILE: offen mounts it at the
// default /root/.ssh/id_rsa, which a test must not write. No host key is pinned, as in offen.
import { test, after, before } from 'node:test';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startSshd, type SshdServer } from '../servers/sshd.ts';
import { FOURTEEN_DAYS_AGO, offenSetup, runOffenDestinationScenario, type Store } from './destination-scenario.ts';

let server: SshdServer;
let remote: string;
before(async () => {
  server = await startSshd();
  remote = mkdtempSync(join(tmpdir(), 'offen-ssh-data-'));
  const { uid, gid } = statSync(server.home);
  chownSync(remote, uid, gid);
  chmodSync(remote, 0o755);
});
after(async () => {
  await server?.stop();
  if (remote) rmSync(remote, { recursive: true, force: true });
});

test('offen test/ssh: backup found in the remote path and extracts, retention 0 keeps it, retention 7 prunes a 14 days old one', async () => {
  const key = server.addKey('id_rsa', { type: 'rsa', pem: true, passphrase: 'test1234' });
  const store: Store = {
    names: async () => readdirSync(remote),
    read: async (name) => readFileSync(join(remote, name)),
    putOld: async (name) => {
      const file = join(remote, name);
      writeFileSync(file, '');
      const { uid, gid } = statSync(server.home);
      chownSync(file, uid, gid);
      utimesSync(file, FOURTEEN_DAYS_AGO(), FOURTEEN_DAYS_AGO());
    },
  };
  const setup = offenSetup({
    SSH_HOST_NAME: server.host,
    SSH_PORT: String(server.port),
    SSH_USER: server.user,
    SSH_REMOTE_PATH: remote,
    SSH_IDENTITY_FILE: key,
    SSH_IDENTITY_PASSPHRASE: 'test1234',
  });
  try {
    await runOffenDestinationScenario(store, setup);
  } finally {
    setup.cleanup();
  }
});
