import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BlobServiceClient, BlockBlobTier, StorageSharedKeyCredential } from '@azure/storage-blob';
import { createAzureDestination, blockSizeFor, concurrencyFor } from '../../src/destinations/azure.ts';
import { parseAzure, AZURE_BLOCK_BLOB_TIERS, type AzureConfig } from '../../src/destinations/azure.def.ts';
import { DEFAULT_RETRY } from '../../src/destinations/retry.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { runDestinationContract, viaFaultProxy } from './contract.ts';
import { startAzurite, freePort, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteHandle } from '../servers/azurite.ts';
import { bytes, digest, generated } from './streams.ts';

const log = silentLogger();
const MiB = 1 << 20;
// a generous deadline: these cases test behaviour, not timeouts (azurite is slow on a loaded machine)
const retry = { ...DEFAULT_RETRY, attempts: 2, initialDelayMs: 50, timeoutMs: 30_000 };

function config(endpoint: string, path: string, extra: Partial<AzureConfig> = {}): AzureConfig {
  return { accountName: AZURITE_ACCOUNT, auth: { kind: 'key', accountKey: AZURITE_KEY }, container: 'backups', path, endpoint, accessTier: null, ...extra };
}

async function createContainer(a: AzuriteHandle, name: string): Promise<BlobServiceClient> {
  const svc = new BlobServiceClient(a.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  await svc.getContainerClient(name).createIfNotExists();
  return svc;
}

runDestinationContract('Azure', async () => {
  const server = await startAzurite();
  await createContainer(server, 'backups');
  return {
    create: async (path) => createAzureDestination(config(server.endpoint, path), { retry, pageSize: 400 }, log),
    unreachable: async (path, timeoutMs) => {
      const port = await freePort();
      return createAzureDestination(config(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}/`, path), { retry: { ...retry, timeoutMs } }, log);
    },
    failing: (path) =>
      viaFaultProxy(server.port, (port) => createAzureDestination(config(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}/`, path), { retry }, log)),
    teardown: () => server.stop(),
  };
});

describe('Azure specifics', () => {
  let server: AzuriteHandle;
  let svc: BlobServiceClient;
  before(async () => {
    server = await startAzurite();
    svc = await createContainer(server, 'backups');
  });
  after(async () => {
    await server?.stop();
  });

  test('configured from the environment with a connection string', async () => {
    const issues: ConfigIssue[] = [];
    const c = parseAzure(
      {
        AZURE_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
        AZURE_STORAGE_CONNECTION_STRING: server.connectionString,
        AZURE_STORAGE_CONTAINER_NAME: 'backups',
        AZURE_STORAGE_PATH: 'cs',
      },
      issues,
    );
    assert.deepEqual(issues, []);
    const d = createAzureDestination(c!, { retry }, log);
    const g = generated(9 * MiB);
    await d.upload('backup-cs.tar.gz', g.stream);
    assert.deepEqual(
      (await d.list('backup-')).map((o) => [o.name, o.size]),
      [['backup-cs.tar.gz', 9 * MiB]],
    );
    assert.equal((await digest(await d.download('backup-cs.tar.gz'))).sha256, await g.sha256);
  });

  test('shared key with the endpoint template', async () => {
    const issues: ConfigIssue[] = [];
    const c = parseAzure(
      {
        AZURE_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
        AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: AZURITE_KEY,
        AZURE_STORAGE_CONTAINER_NAME: 'backups',
        AZURE_STORAGE_ENDPOINT: `http://127.0.0.1:${server.port}/{{ .AccountName }}/`,
        AZURE_STORAGE_PATH: '/key/',
      },
      issues,
    );
    assert.deepEqual(issues, []);
    assert.equal(c!.endpoint, server.endpoint);
    const d = createAzureDestination(c!, { retry }, log);
    await d.upload('backup-key.tar', bytes('k').stream);
    assert.ok(await svc.getContainerClient('backups').getBlobClient('key/backup-key.tar').exists());
  });

  test('access tier is applied', async () => {
    const d = createAzureDestination(config(server.endpoint, 'tier/', { accessTier: 'Cool' }), { retry }, log);
    await d.upload('backup-cool.tar', generated(MiB).stream);
    const props = await svc.getContainerClient('backups').getBlobClient('tier/backup-cool.tar').getProperties();
    assert.equal(props.accessTier, 'Cool');
  });

  test('a wrong key is refused with a clear error without the key', async () => {
    const wrong = Buffer.from('x'.repeat(64)).toString('base64');
    const d = createAzureDestination(config(server.endpoint, '', { auth: { kind: 'key', accountKey: wrong } }), { retry }, log);
    await assert.rejects(
      d.upload('backup-x.tar', bytes('x').stream),
      (e: Error) => /authentication failed|access denied/i.test(e.message) && !e.message.includes(wrong),
    );
    await assert.rejects(d.list(''), /authentication failed|access denied/i);
  });

  test('refuses to overwrite an existing backup (small and block uploads) and keeps it intact', async () => {
    const d = createAzureDestination(config(server.endpoint, 'nooverwrite/'), { retry }, log);
    const first = generated(9 * MiB);
    await d.upload('backup-same.tar.gz', first.stream);
    for (const size of [5, 9 * MiB]) {
      await assert.rejects(d.upload('backup-same.tar.gz', generated(size).stream), (e: Error) => /already exists; refusing to overwrite/.test(e.message));
    }
    assert.equal((await digest(await d.download('backup-same.tar.gz'))).sha256, await first.sha256);
  });

  test('a missing container fails clearly', async () => {
    const d = createAzureDestination(config(server.endpoint, '', { container: 'nope' }), { retry }, log);
    await assert.rejects(d.list(''), /container does not exist/);
  });
});

describe('Azure configuration', () => {
  test('key and connection string together is an error; container is required', () => {
    const issues: ConfigIssue[] = [];
    assert.equal(parseAzure({ AZURE_STORAGE_ACCOUNT_NAME: 'a', AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: 'k', AZURE_STORAGE_CONNECTION_STRING: 'c' }, issues), null);
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['AZURE_STORAGE_CONNECTION_STRING', 'AZURE_STORAGE_CONTAINER_NAME']);
  });

  test('neither key nor connection string means managed identity; default endpoint', () => {
    const issues: ConfigIssue[] = [];
    const c = parseAzure({ AZURE_STORAGE_ACCOUNT_NAME: 'acct', AZURE_STORAGE_CONTAINER_NAME: 'c', AZURE_STORAGE_ACCESS_TIER: 'cold' }, issues);
    assert.deepEqual(issues, []);
    assert.deepEqual(c!.auth, { kind: 'identity' });
    assert.equal(c!.endpoint, 'https://acct.blob.core.windows.net/');
    assert.equal(c!.accessTier, 'Cold');
  });

  test('unknown tier and template are errors', () => {
    const issues: ConfigIssue[] = [];
    parseAzure(
      {
        AZURE_STORAGE_ACCOUNT_NAME: 'a',
        AZURE_STORAGE_CONTAINER_NAME: 'c',
        AZURE_STORAGE_ACCESS_TIER: 'Lukewarm',
        AZURE_STORAGE_ENDPOINT: 'https://{{ .Account }}.x/',
      },
      issues,
    );
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['AZURE_STORAGE_ACCESS_TIER', 'AZURE_STORAGE_ENDPOINT']);
  });

  test('tiers match the SDK', () => {
    assert.deepEqual([...AZURE_BLOCK_BLOB_TIERS].sort(), Object.values(BlockBlobTier).sort());
  });

  test('block size grows for huge known sizes; memory bounded', () => {
    assert.equal(blockSizeFor(undefined), 8 * MiB);
    assert.equal(blockSizeFor(10 * 1024 * MiB), 8 * MiB);
    const tb = 1024 * 1024 * MiB;
    assert.ok(blockSizeFor(tb) * 50_000 >= tb);
    assert.equal(concurrencyFor(8 * MiB), 4);
    assert.equal(concurrencyFor(blockSizeFor(tb)), 1);
  });
});
