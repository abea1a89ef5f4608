/**
 * S3 and S3-compatible servers (MinIO, Ceph, Wasabi, Scaleway, ...).
 *
 * Uploads (s3-multipart.ts): a body smaller than one part is a single PutObject, anything
 * larger a multipart upload through the SDK's own commands, which only becomes visible
 * when it is completed (atomic). A failed or aborted multipart upload is aborted on the
 * server (no orphaned parts). Memory: a pool of part buffers, part size × queue size
 * (32 MiB with the default 16 MB parts), reused for every part.
 */
import { uploadAbort } from './remote-util.ts';
import { uploadStream } from './s3-multipart.ts';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { proxyAgentOptions } from '../proxy.ts';
import { rootCertificates } from 'node:tls';
import { Readable } from 'node:stream';
import type { S3Client, ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { Logger } from '../log.ts';
import { UserError, errorMessage } from '../errors.ts';
import type { S3Config } from './s3.def.ts';
import type { BackupObject, Destination, UploadOptions } from './types.ts';
import { assertPlainName } from './names.ts';
import type { LeftoverPolicy, LeftoverReport } from './leftovers.ts';
import { DEFAULT_RETRY, type RetrySettings } from './retry.ts';
import { guarded, guardStream, metered, isTimeout } from './deadline.ts';
import { describeFailure } from './describe.ts';
import { DestinationError, NeedsSizeError } from './errors.ts';

/** The SDK is loaded on first use: a process without S3 never pays for it (~25 MiB, ~150 ms). */
type Sdk = {
  s3: typeof import('@aws-sdk/client-s3');
  imds: typeof import('@smithy/credential-provider-imds');
};
let sdkPromise: Promise<Sdk> | null = null;
function loadSdk(): Promise<Sdk> {
  sdkPromise ??= Promise.all([import('@aws-sdk/client-s3'), import('@smithy/credential-provider-imds')]).then(([s3, imds]) => ({ s3, imds }));
  return sdkPromise;
}

const MiB = 1024 * 1024;
export const S3_MAX_PARTS = 10_000;
/** Upper bound of part size × queue size (bytes held in memory by one upload). */
const MEMORY_BUDGET = 32 * MiB;
const DELETE_BATCH = 1000;

/**
 * Part size for an upload: the configured one, grown (to a whole MiB) when an archive of
 * known size would need more than 10,000 parts. Unknown size keeps the configured one,
 * which caps a streamed archive at partSize × 10,000 (16 MB → 156 GiB).
 */
export function partSizeFor(configured: number, size: number | undefined): number {
  if (size === undefined) return configured;
  const needed = Math.ceil(size / S3_MAX_PARTS / MiB) * MiB;
  return Math.max(configured, needed);
}

/** Parts uploaded at once: 2 with 16 MiB parts, 4 with 8 MiB or less, 1 above 16 MiB: part size × queue ≤ 32 MiB (unless one part is bigger). */
export function queueSizeFor(partSize: number): number {
  return Math.max(1, Math.min(4, Math.floor(MEMORY_BUDGET / partSize)));
}

export interface S3Options {
  retry?: RetrySettings;
}

function iamProvider(sdk: Sdk, endpoint: string, log: Logger): AwsCredentialIdentityProvider {
  const { fromContainerMetadata, fromInstanceMetadata } = sdk.imds;
  if (process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI) {
    log.debug('S3: using container (ECS task) credentials');
    return fromContainerMetadata({ maxRetries: 2, timeout: 5000 });
  }
  // The IMDS client reads its endpoint from this variable only.
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = endpoint;
  log.debug({ endpoint }, 'S3: using instance metadata (IAM role) credentials');
  return fromInstanceMetadata({ maxRetries: 2, timeout: 5000 });
}

export async function createS3Client(config: S3Config, retry: RetrySettings, log: Logger): Promise<S3Client> {
  const sdk = await loadSdk();
  const checksum = config.checksum === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  // Agent instances, not options: the SDK replaces agents built from options by plain ones
  // (without the CA / insecure settings) for requests sent with `Expect: 100-continue` (large parts).
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 16,
    rejectUnauthorized: !config.insecure,
    ...(config.caCert ? { ca: [...rootCertificates, config.caCert] } : {}),
    // HTTP_PROXY / HTTPS_PROXY / NO_PROXY (src/proxy.ts)
    ...proxyAgentOptions(),
  });
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16, ...proxyAgentOptions(process.env, 'http') });
  return new sdk.s3.S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
    // a copy: the SDK writes into the credentials object ($source), and JobConfig is deep-frozen
    credentials: config.credentials ? { ...config.credentials } : config.iamRoleEndpoint ? iamProvider(sdk, config.iamRoleEndpoint, log) : undefined,
    maxAttempts: retry.attempts,
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    requestHandler: {
      connectionTimeout: Math.min(retry.timeoutMs, 30_000),
      socketTimeout: retry.timeoutMs,
      httpsAgent,
      httpAgent,
    },
  });
}

/** Make SDK errors say what failed and where; keep the original as cause (for retry classification). */
function describe(err: unknown, op: string, where: string, ctx: { bytesSent?: number } = {}): Error {
  const e = err as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const code = e?.Code ?? e?.name ?? '';
  const status = e?.$metadata?.httpStatusCode;
  const msg = errorMessage(err);
  if (code === 'NoSuchBucket')
    return new UserError(`S3 ${op} ${where}: the bucket does not exist`, 'Create the bucket or fix AWS_S3_BUCKET_NAME.', { cause: err });
  if (code === 'InvalidAccessKeyId')
    return new UserError(`S3 ${op} ${where}: the access key id was refused (InvalidAccessKeyId)`, 'Check AWS_ACCESS_KEY_ID.', { cause: err });
  if (code === 'SignatureDoesNotMatch')
    return new UserError(`S3 ${op} ${where}: the secret access key was refused (SignatureDoesNotMatch)`, 'Check AWS_SECRET_ACCESS_KEY.', { cause: err });
  if (code === 'AccessDenied' || status === 403)
    return new UserError(`S3 ${op} ${where}: access denied (${code || 'HTTP 403'}): ${msg}`, 'Check the credentials and the bucket policy.', { cause: err });
  if (/Exceeded \d+ parts/.test(msg)) {
    // an attempt that knows the archive's size picks a part size that fits (see upload.ts)
    return new NeedsSizeError(
      `S3 ${op} ${where}: the archive needs more than ${S3_MAX_PARTS} parts`,
      'Raise AWS_PART_SIZE (MB): the largest streamed archive is AWS_PART_SIZE × 10,000.',
      { cause: err },
    );
  }
  if (/self[- ]signed|unable to verify|certificate/i.test(msg)) {
    return new UserError(
      `S3 ${op} ${where}: TLS certificate not trusted: ${msg}`,
      "Give the server's CA with AWS_ENDPOINT_CA_CERT, or (unsafe) AWS_ENDPOINT_INSECURE=true.",
      { cause: err },
    );
  }
  if (isTimeout(err)) return err as Error;
  return new DestinationError(`S3 ${op} ${where} failed: ${describeFailure(err, ctx)}`, { cause: err, status: status || undefined });
}

export function createS3Destination(config: S3Config, options: S3Options, log: Logger): Destination {
  const retry = options.retry ?? DEFAULT_RETRY;
  let clientPromise: Promise<S3Client> | null = null;
  /** Errors of single request attempts (the SDK retries them): what a timeout or a failed abort hides. */
  const attemptErrors: { command: string; err: unknown; seq: number }[] = [];
  let attemptSeq = 0;
  const client = () => {
    clientPromise ??= createS3Client(config, retry, log).then((c) => {
      c.middlewareStack.add(
        (next, context) => async (args) => {
          try {
            return await next(args);
          } catch (err) {
            attemptErrors.push({ command: String(context.commandName ?? ''), err, seq: ++attemptSeq });
            if (attemptErrors.length > 20) attemptErrors.shift();
            throw err;
          }
        },
        { step: 'deserialize', priority: 'high', name: 'offsiteAttemptErrors' },
      );
      return c;
    });
    return clientPromise;
  };
  /** The first (or last) error of a request attempt after mark `since`, other than of aborting a multipart upload. */
  const attemptError = (since: number, which: 'first' | 'last'): unknown => {
    const seen = attemptErrors.filter((e) => e.seq > since && e.command !== 'AbortMultipartUploadCommand');
    return (which === 'first' ? seen[0] : seen[seen.length - 1])?.err;
  };
  const bucket = config.bucket;
  const base = config.path;
  const location = `s3://${bucket}/${base}`;
  const key = (name: string) => `${base}${name}`;

  async function upload(name: string, source: Readable, opts: UploadOptions = {}): Promise<void> {
    assertPlainName(name, 'S3');
    const partSize = partSizeFor(config.partSize, opts.size);
    const sdk = await loadSdk();
    const where = `s3://${bucket}/${key(name)}`;
    // S3 replaces an object on PUT; refuse when the name is taken (not every S3-compatible server
    // supports conditional writes, so this is a check before the upload).
    // With `replace`, a PUT (or the completion of a multipart upload) swaps the object atomically.
    let taken: unknown = null;
    try {
      if (!opts.replace && (await existsKey(sdk, key(name), opts.signal))) {
        taken = new UserError(
          `S3: s3://${bucket}/${key(name)} already exists; refusing to overwrite it`,
          'another run produced the same file name: make BACKUP_FILENAME unique per run (it should contain a timestamp)',
        );
      }
    } catch (err) {
      taken = err;
    }
    if (taken) {
      source.destroy();
      throw taken;
    }
    const s3 = await client();
    let sent = 0;
    const since = attemptSeq;
    try {
      // No progress (no bytes taken by the SDK, no part answered) for BACKUP_DESTINATION_TIMEOUT aborts the upload.
      await guarded(
        { timeoutMs: retry.timeoutMs, what: `S3 upload to ${where}`, signal: opts.signal, lastError: () => attemptError(since, 'last') },
        async (g) => {
          const body = metered(source, () => g.progress());
          const abort = uploadAbort(source, g.signal);
          try {
            await uploadStream(body.stream, {
              sdk: sdk.s3,
              client: s3,
              bucket,
              key: key(name),
              partSize,
              buffers: queueSizeFor(partSize),
              storageClass: config.storageClass,
              signal: abort.controller.signal,
              onProgress: () => g.progress(),
              abortTimeoutMs: retry.timeoutMs,
              ...(opts.file !== undefined ? { file: opts.file } : {}),
              ...(opts.written ? { written: opts.written } : {}),
            });
          } catch (err) {
            sent = body.bytes();
            throw abort.failure(err);
          } finally {
            abort.dispose();
          }
        },
      );
    } catch (err) {
      source.destroy();
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      if ((err as Error)?.name === 'AbortError' || isTimeout(err)) throw err;
      throw describe(err, 'upload to', where, { bytesSent: sent });
    }
    log.debug({ destination: 'S3', key: key(name), partSize }, 'stored backup');
  }

  /** One request with the deadline of BACKUP_DESTINATION_TIMEOUT (and the caller's signal). */
  async function send<T>(what: string, signal: AbortSignal | undefined, command: (s: S3Client, abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const s3 = await client();
    return guarded({ timeoutMs: retry.timeoutMs, what, signal }, (g) => command(s3, g.signal));
  }

  /** Is there an object under this key? Unknown (403: write-only credentials) counts as no. */
  async function existsKey(sdk: Sdk, k: string, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await send(`S3 HEAD s3://${bucket}/${k}`, signal, (s3, abortSignal) =>
        s3.send(new sdk.s3.HeadObjectCommand({ Bucket: bucket, Key: k }), { abortSignal }),
      );
      return true;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = e?.$metadata?.httpStatusCode;
      if (status === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey') return false;
      if (status === 403) return false;
      if (signal?.aborted) throw signal.reason ?? err;
      if (isTimeout(err)) throw err;
      throw describe(err, 'upload to', `s3://${bucket}/${k}`);
    }
  }

  async function list(prefix: string): Promise<BackupObject[]> {
    const out: BackupObject[] = [];
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        const { ListObjectsV2Command } = (await loadSdk()).s3;
        page = await send(`S3 list ${location}${prefix}`, undefined, (s3, abortSignal) =>
          s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key(prefix), Delimiter: '/', ContinuationToken: token }), { abortSignal }),
        );
      } catch (err) {
        throw describe(err, 'list', `${location}${prefix}`);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key || !o.Key.startsWith(base)) continue;
        const name = o.Key.slice(base.length);
        if (!name || name.includes('/')) continue;
        out.push({ name, size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async function remove(names: string[]): Promise<void> {
    for (const n of names) assertPlainName(n, 'S3');
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      const batch = names.slice(i, i + DELETE_BATCH);
      let res;
      try {
        const { DeleteObjectsCommand } = (await loadSdk()).s3;
        res = await send(`S3 remove from ${location}`, undefined, (s3, abortSignal) =>
          s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((n) => ({ Key: key(n) })), Quiet: true } }), { abortSignal }),
        );
      } catch (err) {
        throw describe(err, 'remove from', location);
      }
      const errors = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (errors.length > 0) {
        const first = errors[0]!;
        throw Object.assign(
          new Error(`S3 remove from ${location}: ${errors.length} object(s) not removed, e.g. ${first.Key}: ${first.Code} ${first.Message ?? ''}`.trim()),
          { code: first.Code },
        );
      }
    }
  }

  async function download(name: string): Promise<Readable> {
    assertPlainName(name, 'S3');
    const where = `s3://${bucket}/${key(name)}`;
    try {
      const { GetObjectCommand } = (await loadSdk()).s3;
      // the deadline covers the answer; the body has its own (no data for the timeout while it is read)
      const ac = new AbortController();
      const res = await send(`S3 download ${where}`, undefined, (s3, abortSignal) => {
        abortSignal.addEventListener('abort', () => ac.abort(abortSignal.reason), { once: true });
        return s3.send(new GetObjectCommand({ Bucket: bucket, Key: key(name) }), { abortSignal: ac.signal });
      });
      const body = res.Body;
      let stream: Readable;
      if (body instanceof Readable) stream = body;
      else if (body && typeof (body as { transformToWebStream?: unknown }).transformToWebStream === 'function') {
        stream = Readable.fromWeb((body as { transformToWebStream(): import('node:stream/web').ReadableStream }).transformToWebStream());
      } else throw new Error('empty response body');
      return guardStream(stream, { timeoutMs: retry.timeoutMs, what: `S3 download ${where}`, onAbort: () => ac.abort() });
    } catch (err) {
      if (isTimeout(err)) throw err;
      throw describe(err, 'download', where);
    }
  }

  /**
   * Abort unfinished multipart uploads under AWS_S3_PATH (parts of an upload whose process
   * was killed; the provider bills them until they are aborted). Their writer cannot be
   * told from a listing, so only the age rule applies: initiated before policy.olderThan.
   * Servers that do not implement ListMultipartUploads (s3rver, some gateways) are noted.
   */
  async function cleanupLeftovers(policy: LeftoverPolicy, signal?: AbortSignal): Promise<LeftoverReport> {
    const sdk = await loadSdk();
    const c = await client();
    const removed: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (let page = 0; page < 1000; page++) {
      let res;
      try {
        res = await c.send(new sdk.s3.ListMultipartUploadsCommand({ Bucket: bucket, Prefix: base, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }), {
          abortSignal: signal,
        });
      } catch (err) {
        const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
        if (e?.name === 'NotImplemented' || e?.Code === 'NotImplemented' || e?.$metadata?.httpStatusCode === 501 || e?.$metadata?.httpStatusCode === 405) {
          return {
            removed,
            note: 'the server does not list unfinished multipart uploads (ListMultipartUploads not implemented); set a lifecycle rule AbortIncompleteMultipartUpload on the bucket instead',
          };
        }
        throw describe(err, 'list unfinished uploads in', location);
      }
      for (const u of res.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Key.startsWith(base)) continue;
        const name = u.Key.slice(base.length);
        if (!name || name.includes('/')) continue;
        if (!u.Initiated || u.Initiated.getTime() >= policy.olderThan.getTime()) continue;
        try {
          await c.send(new sdk.s3.AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }), { abortSignal: signal });
          removed.push(`${name} (unfinished multipart upload from ${u.Initiated.toISOString()})`);
        } catch (err) {
          const e = err as { name?: string };
          if (e?.name !== 'NoSuchUpload') throw describe(err, 'abort an unfinished upload in', location);
        }
      }
      if (!res.IsTruncated) break;
      keyMarker = res.NextKeyMarker;
      uploadIdMarker = res.NextUploadIdMarker;
      if (!keyMarker && !uploadIdMarker) break;
    }
    return { removed };
  }

  return {
    name: 'S3',
    location,
    upload,
    list,
    remove,
    download,
    cleanupLeftovers,
    async close() {
      if (clientPromise) (await clientPromise.catch(() => null))?.destroy();
    },
  };
}
