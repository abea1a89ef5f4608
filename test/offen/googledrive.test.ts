// Translated from offen/docker-volume-backup test/googledrive (run.sh, docker-compose.yml):
// backups to Google Drive (GOOGLE_DRIVE_ENDPOINT and GOOGLE_DRIVE_TOKEN_URL pointing at test
// servers, a service account key in GOOGLE_DRIVE_CREDENTIALS_JSON_FILE,
// GOOGLE_DRIVE_IMPERSONATE_SUBJECT me@example.com, GOOGLE_DRIVE_FOLDER_ID root), named
// test-$HOSTNAME.tar.gz, retention 7 / 0 / 7 with leeway 5s and prefix test. offen's servers are
// an OpenAPI mock answering with fixed examples (a listing of test-hostnametoken.tar.gz created
// at the start of the test and test-hostnametoken-old.tar.gz created 14 days before) and a mock
// OAuth2 server; run.sh only greps the backup's log: no "ERROR"; with retention 0 "Refusing to
// do so, please check your configuration"; with retention 7 "Pruned 1 out of 2 backups as they
// were older". Here the server is the Drive v3 fake (test/servers/gdrive-fake.ts), which checks
// the signed assertion and the impersonated subject and keeps what is uploaded, so the test
// checks the store itself with the steps of the other destination scenarios
// (destination-scenario.ts), reading the fake's files directly (the old file is created 14 days
// ago: offen prunes Drive files by createdTime), and the log as run.sh does: no error-level line
// in any run, and offsite's line for "Pruned 1 out of 2" (`pruned 1 file(s) from GoogleDrive
// ..., kept 1 backup(s)`). offen's "Refusing" line comes from the mock's fixed listing, in which
// every file is older than the retention deadline; in a store that keeps uploads the backup
// just written is always newer, so nothing is refused and nothing is deleted, which the store
// check asserts. The key is the fake's own service account (the fake verifies its signature),
// not offen's dummy credentials.json. GOOGLE_DRIVE_FOLDER_ID root is Drive's alias for My Drive's
// root folder, in queries too (`'root' in parents`): the fake learned that alias for this test.
import { test, after, before } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDriveFake, type DriveFake } from '../servers/gdrive-fake.ts';
import { assertOnlyLastRunPruned, FOURTEEN_DAYS_AGO, offenSetup, runOffenDestinationScenario, type Store } from './destination-scenario.ts';

const SUBJECT = 'me@example.com';
let fake: DriveFake;
before(async () => {
  fake = await startDriveFake({ subjects: [SUBJECT] });
});
after(async () => {
  await fake?.stop();
});

test('offen test/googledrive: backup succeeds without errors, retention 0 deletes nothing, retention 7 prunes 1 of 2 backups', async () => {
  const inRoot = () => [...fake.files.values()].filter((f) => !f.trashed && f.parents.includes(fake.rootId));
  const store: Store = {
    names: async () => fake.namesIn(fake.rootId),
    read: async (name) => inRoot().find((f) => f.name === name)!.data,
    putOld: async (name) => {
      fake.put(name, fake.rootId, Buffer.alloc(0), FOURTEEN_DAYS_AGO());
    },
  };
  const keyDir = mkdtempSync(join(tmpdir(), 'offen-gdrive-key-'));
  const credentials = join(keyDir, 'credentials.json'); // ./credentials.json:/etc/gdrive/credentials.json
  writeFileSync(credentials, fake.account.json);
  const scenario = offenSetup({
    GOOGLE_DRIVE_ENDPOINT: fake.origin, // offen: http://openapi_mock:8080, no trailing slash
    GOOGLE_DRIVE_TOKEN_URL: fake.tokenUrl,
    GOOGLE_DRIVE_CREDENTIALS_JSON_FILE: credentials,
    GOOGLE_DRIVE_IMPERSONATE_SUBJECT: SUBJECT,
    GOOGLE_DRIVE_FOLDER_ID: 'root',
  });
  try {
    assertOnlyLastRunPruned(await runOffenDestinationScenario(store, scenario), 'GoogleDrive');
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
    scenario.cleanup();
  }
});
