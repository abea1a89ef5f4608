// Translated from offen/docker-volume-backup test/azure (run.sh, docker-compose.yml): backups to
// Azure Blob storage (offen: azurite 3.35.0, container test-container made by the az CLI,
// AZURE_STORAGE_ENDPOINT http://storage:10000/{{ .AccountName }}/, AZURE_STORAGE_PATH
// path/to/backup, AZURE_STORAGE_ACCESS_TIER Hot) with the literal BACKUP_FILENAME test.tar.gz,
// retention 7 / 0 / 7 with leeway 5s and prefix test. The server is azurite 3.35.0 too
// (test/servers/azurite.ts); the blobs are read with @azure/storage-blob, a client independent
// of offsite's code, as run.sh reads them with `az storage blob download`. The old backup is
// made as in run.sh: a copy of test.tar.gz uploaded as path/to/backup/test-old.tar.gz, azurite
// stopped, the blob's creationTime in azurite's database (__azurite_db_blob__.json) set 14 days
// back with jq, azurite started again. offen prunes by the blob's Last-Modified
// (internal/storage/azure: `v.Properties.LastModified.Before(deadline)`), and so does offsite;
// the database edit sets both times (see the comment at the edit; checked: with creationTime
// alone the old blob is listed as new and is not pruned).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteHandle } from '../servers/azurite.ts';
import { archivesOf, cli, errorLines, FOURTEEN_DAYS_AGO, hasOffenDb, offenSetup } from './destination-scenario.ts';

let server: AzuriteHandle;
before(async () => {
  server = await startAzurite();
  // az storage container create --name test-container
  await BlobServiceClient.fromConnectionString(server.connectionString).getContainerClient('test-container').create();
});
after(async () => {
  await server?.stop();
});

test('offen test/azure: test.tar.gz in path/to/backup extracts, retention 0 keeps it, retention 7 prunes a 14 days old one', async () => {
  const container = () => BlobServiceClient.fromConnectionString(server.connectionString).getContainerClient('test-container');
  const names = async () => {
    const out: string[] = [];
    for await (const b of container().listBlobsFlat({ prefix: 'path/to/backup/' })) out.push(b.name.slice('path/to/backup/'.length));
    return archivesOf(out);
  };
  // download_az: `az storage blob download -n path/to/backup/$1.tar.gz`
  const download = async (name: string) => container().getBlobClient(`path/to/backup/${name}`).downloadToBuffer();
  const setup = offenSetup({
    AZURE_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
    AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: AZURITE_KEY,
    AZURE_STORAGE_CONTAINER_NAME: 'test-container',
    AZURE_STORAGE_ENDPOINT: `http://127.0.0.1:${server.port}/{{ .AccountName }}/`,
    AZURE_STORAGE_PATH: 'path/to/backup',
    AZURE_STORAGE_ACCESS_TIER: 'Hot',
    BACKUP_FILENAME: 'test.tar.gz',
  });
  const backup = async (days: string) => {
    const r = await cli(['backup'], setup.env(days));
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(errorLines(r.out), []);
  };
  try {
    await backup('7');
    assert.ok(hasOffenDb(await download('test.tar.gz'), setup.dir), 'Could not find expeced file in untared backup');

    // retention 0 would delete every backup: nothing is deleted
    await backup('0');
    assert.ok(hasOffenDb(await download('test.tar.gz'), setup.dir), 'Remote backup was deleted');

    await backup('7');
    // az storage blob upload -f /dump/test.tar.gz -n path/to/backup/test-old.tar.gz
    const copy = await download('test.tar.gz');
    await container().getBlockBlobClient('path/to/backup/test-old.tar.gz').uploadData(copy);
    assert.deepEqual(await names(), ['test-old.tar.gz', 'test.tar.gz']);
    await server.restart(() => {
      // run.sh's jq edit of creationTime, and lastModified with it: azurite 3.35 lists a blob's
      // Last-Modified from `properties.lastModified`, which offen and offsite both prune by, so
      // editing creationTime alone would leave the blob 14 days younger than the test means.
      const db = join(server.location, '__azurite_db_blob__.json');
      const doc = JSON.parse(readFileSync(db, 'utf8')) as { collections: { name: string; data: { name: string; properties: Record<string, unknown> }[] }[] };
      const blobs = doc.collections.find((c) => c.name === '$BLOBS_COLLECTION$')!;
      const old = blobs.data.find((b) => b.name === 'path/to/backup/test-old.tar.gz');
      assert.ok(old, 'the uploaded old blob is in azurite database');
      old.properties.creationTime = FOURTEEN_DAYS_AGO().toISOString();
      old.properties.lastModified = FOURTEEN_DAYS_AGO().toISOString();
      writeFileSync(db, JSON.stringify(doc));
    });

    await backup('7');
    await assert.rejects(download('test-old.tar.gz'), (e: { statusCode?: number }) => e.statusCode === 404, 'Backdated file was not deleted');
    assert.ok(hasOffenDb(await download('test.tar.gz'), setup.dir), 'Recent file was not found');
    assert.deepEqual(await names(), ['test.tar.gz']);
  } finally {
    setup.cleanup();
  }
});
