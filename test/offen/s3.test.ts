// Translated from offen/docker-volume-backup test/s3 (run.sh, docker-compose.yml): backups to
// an S3-compatible server (offen: MinIO RELEASE.2020-08-04 with bucket `backup`, AWS_ENDPOINT
// minio:9000, AWS_ENDPOINT_PROTO http), named test-$HOSTNAME.tar.gz, retention 7 / 0 / 7 with
// leeway 5s and prefix test; see destination-scenario.ts for the steps. The server is s3rver
// (test/servers/s3rver.ts) and the test reads its data directory directly, as run.sh reads
// MinIO's volume: an object `<key>` is the file `<bucket>/<key>._S3rver_object`, and its
// LastModified is that file's mtime (so offen's `touch -d@...` of an old backup in the volume
// is the same touch here).
// The one difference from offen's compose file comes from the server: s3rver accepts only its
// own access key (S3RVER/S3RVER, not test/GMusLtUmILge2by+z890kQ). No AWS_CHECKSUM is needed:
// s3rver stores offsite's uploads byte for byte with the default setting (the archive extracts;
// a single put and a 40 MiB multipart upload compared equal to the local copy).
import { test } from 'node:test';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FOURTEEN_DAYS_AGO, offenSetup, runOffenDestinationScenario, type Store } from './destination-scenario.ts';
import { s3rverEnv, s3rverWithBucket } from './scenario.ts';

const SUFFIX = '._S3rver_object';
const s3rver = s3rverWithBucket(); // minio: mkdir -p /data/backup

test('offen test/s3: backup found in the bucket and extracts, retention 0 keeps it, retention 7 prunes a 14 days old one', async () => {
  const server = s3rver.server;
  const bucket = join(server.directory, 'backup');
  const store: Store = {
    names: async () =>
      readdirSync(bucket)
        .filter((n) => n.endsWith(SUFFIX))
        .map((n) => n.slice(0, -SUFFIX.length)),
    read: async (name) => readFileSync(join(bucket, name + SUFFIX)),
    putOld: async (name) => {
      mkdirSync(bucket, { recursive: true });
      const file = join(bucket, name + SUFFIX);
      writeFileSync(file, '');
      utimesSync(file, FOURTEEN_DAYS_AGO(), FOURTEEN_DAYS_AGO());
    },
  };
  const setup = offenSetup(s3rverEnv(server.port));
  try {
    await runOffenDestinationScenario(store, setup);
  } finally {
    setup.cleanup();
  }
});
