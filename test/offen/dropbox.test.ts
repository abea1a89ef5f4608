// Translated from offen/docker-volume-backup test/dropbox (run.sh, docker-compose.yml): backups
// to Dropbox (DROPBOX_ENDPOINT and DROPBOX_OAUTH2_ENDPOINT pointing at test servers,
// DROPBOX_REMOTE_PATH /test, DROPBOX_CONCURRENCY_LEVEL 6, a refresh token with app key and
// secret), named test-$HOSTNAME.tar.gz, retention 7 / 0 / 7 with leeway 5s and prefix test.
// offen's servers are an OpenAPI mock answering every request with fixed examples (a listing of
// two files, one modified at the start of the test and one 14 days before) and a mock OAuth2
// server; run.sh only greps the backup's log: no "ERROR"; with retention 0 "Refusing to do so,
// please check your configuration"; with retention 7 "Pruned 1 out of 2 backups as they were
// older". Here the server is the Dropbox fake (test/servers/dropbox-fake.ts), which keeps what
// is uploaded, so the test checks the store itself with the steps of the other destination
// scenarios (destination-scenario.ts: the archive extracts, retention 0 deletes nothing, a 14
// days old backup is pruned and the new one kept), reading the fake's files directly, and the
// log as run.sh does: no error-level line in any run, and offsite's line for "Pruned 1 out of 2"
// (`pruned 1 file(s) from Dropbox ..., kept 1 backup(s)`). offen's "Refusing" line comes from
// the mock's fixed listing, in which every file is older than the retention deadline; in a store
// that keeps uploads the backup just written is always newer, so nothing is refused and nothing
// is deleted, which the store check asserts. The fake issues its own app key, secret and refresh
// token (offen's compose file sets `test` for each).
import { test, after, before } from 'node:test';
import { startDropboxFake, type DropboxFake } from '../servers/dropbox-fake.ts';
import { assertOnlyLastRunPruned, FOURTEEN_DAYS_AGO, offenSetup, runOffenDestinationScenario, type Store } from './destination-scenario.ts';

let fake: DropboxFake;
before(async () => {
  fake = await startDropboxFake();
});
after(async () => {
  await fake?.stop();
});

test('offen test/dropbox: backup succeeds without errors, retention 0 deletes nothing, retention 7 prunes 1 of 2 backups', async () => {
  const inFolder = () => [...fake.files.values()].filter((f) => f.pathDisplay.startsWith('/test/'));
  const store: Store = {
    names: async () => inFolder().map((f) => f.pathDisplay.slice('/test/'.length)),
    read: async (name) => fake.files.get(`/test/${name}`.toLowerCase())!.data,
    putOld: async (name) => fake.put(`/test/${name}`, Buffer.alloc(0), FOURTEEN_DAYS_AGO()),
  };
  const setup = offenSetup({
    DROPBOX_ENDPOINT: fake.origin, // offen: http://openapi_mock:8080, no trailing slash
    DROPBOX_OAUTH2_ENDPOINT: fake.origin, // offen: http://oauth2_mock:8090
    DROPBOX_REFRESH_TOKEN: fake.refreshToken,
    DROPBOX_APP_KEY: fake.appKey,
    DROPBOX_APP_SECRET: fake.appSecret,
    DROPBOX_REMOTE_PATH: '/test',
    DROPBOX_CONCURRENCY_LEVEL: '6',
  });
  try {
    assertOnlyLastRunPruned(await runOffenDestinationScenario(store, setup), 'Dropbox');
  } finally {
    setup.cleanup();
  }
});
