/**
 * Azure Blob Storage (block blobs).
 *
 * Uploads stage blocks (bounded size and concurrency) and commit the block list at the
 * end: nothing is visible under the name before the commit (atomic). Blocks of a failed
 * upload are never committed (Azure discards them after 7 days). Memory: block size ×
 * concurrency (8 MiB × 4 = 32 MiB by default).
 */
import { uploadAbort } from './remote-util.ts';
import { Readable } from 'node:stream';
import type { BlobServiceClient, ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import type { Logger } from '../log.ts';
import { UserError, errorMessage } from '../errors.ts';
import type { AzureConfig } from './azure.def.ts';
import type { BackupObject, Destination, UploadOptions } from './types.ts';
import { assertPlainName } from './names.ts';
import { DEFAULT_RETRY, type RetrySettings } from './retry.ts';
import { guarded, guardStream, metered, isTimeout } from './deadline.ts';
import { describeFailure } from './describe.ts';
import { DestinationError } from './errors.ts';

const MiB = 1024 * 1024;
export const AZURE_MAX_BLOCKS = 50_000;
const BLOCK_SIZE = 8 * MiB;
const MAX_BLOCK_SIZE = 4000 * MiB;
const CONCURRENCY = 4;
const MEMORY_BUDGET = 32 * MiB;
const REMOVE_CONCURRENCY = 16;

/** Block size for an upload: 8 MiB, grown (whole MiB) when a known size needs more than 50,000 blocks. Unknown size: ≤ 390 GiB. */
export function blockSizeFor(size: number | undefined): number {
  if (size === undefined) return BLOCK_SIZE;
  return Math.min(MAX_BLOCK_SIZE, Math.max(BLOCK_SIZE, Math.ceil(size / AZURE_MAX_BLOCKS / MiB) * MiB));
}

export function concurrencyFor(blockSize: number): number {
  return Math.max(1, Math.min(CONCURRENCY, Math.floor(MEMORY_BUDGET / blockSize)));
}

export interface AzureOptions {
  retry?: RetrySettings;
  /** Page size of listings (tests use small pages to exercise paging). */
  pageSize?: number;
}

async function serviceClient(config: AzureConfig, retry: RetrySettings): Promise<BlobServiceClient> {
  // Loaded on first use: a process without Azure never pays for the SDK.
  const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
  const pipeline: StoragePipelineOptions = {
    retryOptions: {
      maxTries: retry.attempts,
      tryTimeoutInMs: retry.timeoutMs,
      retryDelayInMs: Math.max(100, retry.initialDelayMs),
      maxRetryDelayInMs: retry.maxDelayMs,
    },
  };
  switch (config.auth.kind) {
    case 'key':
      return new BlobServiceClient(config.endpoint, new StorageSharedKeyCredential(config.accountName, config.auth.accountKey), pipeline);
    case 'connectionString':
      return BlobServiceClient.fromConnectionString(config.auth.connectionString, pipeline);
    case 'identity': {
      const { DefaultAzureCredential } = await import('@azure/identity');
      return new BlobServiceClient(config.endpoint, new DefaultAzureCredential(), pipeline);
    }
  }
}

function describe(err: unknown, op: string, where: string, ctx: { bytesSent?: number } = {}): Error {
  if (isTimeout(err)) return err as Error;
  const e = err as { code?: string; statusCode?: number; name?: string };
  const code = e?.code ?? '';
  const status = e?.statusCode;
  const msg = firstLine(errorMessage(err));
  if (code === 'ContainerNotFound')
    return new UserError(`Azure ${op} ${where}: the container does not exist`, 'Create the container or fix AZURE_STORAGE_CONTAINER_NAME.', { cause: err });
  if (code === 'AuthenticationFailed' || code === 'InvalidAuthenticationInfo') {
    return new UserError(
      `Azure ${op} ${where}: authentication failed (${code})`,
      'Check AZURE_STORAGE_PRIMARY_ACCOUNT_KEY or AZURE_STORAGE_CONNECTION_STRING.',
      { cause: err },
    );
  }
  if (status === 403)
    return new UserError(`Azure ${op} ${where}: access denied (${code || 'HTTP 403'})`, 'Check the credentials and the role assignments of the identity.', {
      cause: err,
    });
  if (e?.name === 'CredentialUnavailableError' || e?.name === 'AuthenticationError') {
    return new UserError(
      `Azure ${op} ${where}: no managed identity credentials: ${msg}`,
      'Set AZURE_STORAGE_PRIMARY_ACCOUNT_KEY or AZURE_STORAGE_CONNECTION_STRING, or assign a managed identity.',
      { cause: err },
    );
  }
  void msg;
  return new DestinationError(`Azure ${op} ${where} failed: ${describeFailure(err, ctx)}`, { cause: err, status: status || undefined });
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

export function createAzureDestination(config: AzureConfig, options: AzureOptions, log: Logger): Destination {
  const retry = options.retry ?? DEFAULT_RETRY;
  const pageSize = options.pageSize ?? 1000;
  const base = config.path;
  const location = `azure://${config.accountName}/${config.container}/${base}`;
  let containerPromise: Promise<ContainerClient> | null = null;
  const container = () => {
    containerPromise ??= serviceClient(config, retry).then((s) => s.getContainerClient(config.container));
    return containerPromise;
  };
  const blobName = (name: string) => `${base}${name}`;

  /** One operation under the deadline of BACKUP_DESTINATION_TIMEOUT (and the caller's signal). */
  function op<T>(what: string, signal: AbortSignal | undefined, fn: (abortSignal: AbortSignal, progress: () => void) => Promise<T>): Promise<T> {
    return guarded({ timeoutMs: retry.timeoutMs, what, signal }, (g) => fn(g.signal, () => g.progress()));
  }

  async function upload(name: string, source: Readable, opts: UploadOptions = {}): Promise<void> {
    assertPlainName(name, 'Azure');
    const blockSize = blockSizeFor(opts.size);
    let sent = 0;
    try {
      const blob = (await container()).getBlockBlobClient(blobName(name));
      // Guarded to the end: bytes taken, blocks staged and the commit of the block list all count as progress;
      // nothing of them for BACKUP_DESTINATION_TIMEOUT aborts the upload (the commit's answer included).
      await op(`Azure upload to ${location}${name}`, opts.signal, async (abortSignal, progress) => {
        const body = metered(source, progress);
        const abort = uploadAbort(source, abortSignal);
        try {
          await blob.uploadStream(body.stream, blockSize, concurrencyFor(blockSize), {
            abortSignal: abort.controller.signal,
            onProgress: progress,
            blobHTTPHeaders: { blobContentType: 'application/octet-stream' },
            ...(config.accessTier ? { tier: config.accessTier } : {}),
            // the block list is committed only when no blob has this name: an existing backup is never replaced;
            // with `replace`, committing the block list swaps the blob's content atomically
            ...(opts.replace ? {} : { conditions: { ifNoneMatch: '*' } }),
          });
        } catch (err) {
          sent = body.bytes();
          throw abort.failure(err);
        } finally {
          abort.dispose();
        }
      });
    } catch (err) {
      source.destroy();
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      if ((err as Error)?.name === 'AbortError' || isTimeout(err)) throw err;
      const e = err as { code?: string; statusCode?: number };
      if (e?.code === 'BlobAlreadyExists' || e?.code === 'ConditionNotMet' || e?.statusCode === 412) {
        throw new UserError(
          `Azure: ${location}${name} already exists; refusing to overwrite it`,
          'another run produced the same file name: make BACKUP_FILENAME unique per run (it should contain a timestamp)',
          { cause: err },
        );
      }
      throw describe(err, 'upload to', `${location}${name}`, { bytesSent: sent });
    }
    log.debug({ destination: 'Azure', blob: blobName(name), blockSize }, 'stored backup');
  }

  async function list(prefix: string): Promise<BackupObject[]> {
    const out: BackupObject[] = [];
    try {
      const c = await container();
      const ac = new AbortController();
      const pages = c
        .listBlobsByHierarchy('/', { prefix: blobName(prefix), abortSignal: ac.signal })
        .byPage({ maxPageSize: pageSize })
        [Symbol.asyncIterator]();
      for (;;) {
        // each page is one request with its own deadline
        const next = await op(`Azure list ${location}${prefix}`, undefined, (abortSignal) => {
          abortSignal.addEventListener('abort', () => ac.abort(abortSignal.reason), { once: true });
          return pages.next();
        });
        if (next.done) break;
        for (const b of next.value.segment.blobItems) {
          const name = b.name.slice(base.length);
          if (!b.name.startsWith(base) || !name || name.includes('/')) continue;
          out.push({ name, size: b.properties.contentLength ?? 0, modified: b.properties.lastModified });
        }
      }
    } catch (err) {
      throw describe(err, 'list', `${location}${prefix}`);
    }
    return out;
  }

  async function remove(names: string[]): Promise<void> {
    for (const n of names) assertPlainName(n, 'Azure');
    const c = await container();
    const queue = [...names];
    const failures: string[] = [];
    let firstError: unknown = null;
    await Promise.all(
      Array.from({ length: Math.min(REMOVE_CONCURRENCY, queue.length) }, async () => {
        for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
          try {
            await op(`Azure remove ${location}${n}`, undefined, (abortSignal) =>
              c.getBlobClient(blobName(n)).deleteIfExists({ deleteSnapshots: 'include', abortSignal }),
            );
          } catch (err) {
            failures.push(n);
            firstError ??= err;
            if (isTimeout(err)) queue.length = 0; // a stalled server: do not wait for every name in turn
          }
        }
      }),
    );
    if (firstError) {
      const e = describe(firstError, 'remove from', location);
      e.message = `${e.message} (${failures.length} of ${names.length} not removed, e.g. ${failures[0]})`;
      throw e;
    }
  }

  async function download(name: string): Promise<Readable> {
    assertPlainName(name, 'Azure');
    try {
      const ac = new AbortController();
      const res = await op(`Azure download ${location}${name}`, undefined, (abortSignal) => {
        abortSignal.addEventListener('abort', () => ac.abort(abortSignal.reason), { once: true });
        return (async () => (await container()).getBlobClient(blobName(name)).download(0, undefined, { abortSignal: ac.signal }))();
      });
      const body = res.readableStreamBody;
      if (!body) throw new Error('empty response body');
      const stream = body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>);
      return guardStream(stream, { timeoutMs: retry.timeoutMs, what: `Azure download ${location}${name}`, onAbort: () => ac.abort() });
    } catch (err) {
      throw describe(err, 'download', `${location}${name}`);
    }
  }

  return {
    name: 'Azure',
    location,
    upload,
    list,
    remove,
    download,
    async close() {},
  };
}
