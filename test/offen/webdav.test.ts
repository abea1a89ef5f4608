// Translated from offen/docker-volume-backup test/webdav (run.sh, docker-compose.yml): backups
// to a WebDAV server (offen: bytemark/webdav 2.4, i.e. Apache httpd mod_dav, with AUTH_TYPE
// Digest, user test/test) at WEBDAV_URL http://webdav/ with WEBDAV_PATH /my/new/path/ (created
// by the backup) and WEBDAV_URL_INSECURE true, named test-$HOSTNAME.tar.gz, retention 7 / 0 / 7
// with leeway 5s and prefix test; see destination-scenario.ts for the steps. The server is
// Apache httpd mod_dav with Digest authentication (test/servers/apache.ts), and the test reads
// its DAV root on disk directly, as run.sh reads the server's volume (/var/lib/dav/data): the
// old backup is created there with a modification time 14 days ago, as offen's `touch -d@...`.
import { test, after, before } from 'node:test';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startApache, type ApacheServer } from '../servers/apache.ts';
import { FOURTEEN_DAYS_AGO, offenSetup, runOffenDestinationScenario, type Store } from './destination-scenario.ts';

let server: ApacheServer;
before(async () => {
  server = await startApache({ digest: true, username: 'test', password: 'test' });
});
after(async () => {
  await server?.stop();
});

test('offen test/webdav: backup found under /my/new/path and extracts, retention 0 keeps it, retention 7 prunes a 14 days old one', async () => {
  const folder = join(server.root, 'my', 'new', 'path');
  const store: Store = {
    names: async () => (existsSync(folder) ? readdirSync(folder) : []),
    read: async (name) => readFileSync(join(folder, name)),
    putOld: async (name) => {
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, name), '');
      utimesSync(join(folder, name), FOURTEEN_DAYS_AGO(), FOURTEEN_DAYS_AGO());
    },
  };
  const setup = offenSetup({
    WEBDAV_URL: `${server.url}/`,
    WEBDAV_URL_INSECURE: 'true',
    WEBDAV_PATH: '/my/new/path/',
    WEBDAV_USERNAME: 'test',
    WEBDAV_PASSWORD: 'test',
  });
  try {
    await runOffenDestinationScenario(store, setup);
  } finally {
    setup.cleanup();
  }
});
