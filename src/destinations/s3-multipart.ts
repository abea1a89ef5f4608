/**
 * Streaming upload to S3 with memory the caller bounds: @aws-sdk/client-s3's own
 * PutObject (a body smaller than one part) or CreateMultipartUpload / UploadPart /
 * CompleteMultipartUpload, at most `buffers` parts uploading at once.
 *
 * Where a part's bytes come from:
 * - `file` given (the staged archive, which holds the source's bytes from offset 0): the
 *   source is read only to count and hash each part (SHA-256 for SigV4's
 *   x-amz-content-sha256, CRC32 when checksums are on), and the part is sent as a read
 *   stream of its byte range of the file: no part in memory at all. The SDK does not retry
 *   a stream body, so the body is a placeholder until the last middleware before the wire,
 *   which opens the range afresh for every attempt: the SDK's own retries (maxAttempts,
 *   backoff) apply as they do to a buffer, and the signature uses the hash computed from
 *   the source (S3 refuses a body that does not match it).
 * - no `file`: a fixed pool of `buffers` part buffers of `partSize` bytes each, allocated
 *   once and reused for every part (no per-part allocation, no Buffer.concat of the
 *   source's chunks as lib-storage does). Reading the source waits while every buffer is
 *   being uploaded.
 *
 * Atomic: a multipart upload's object only appears on CompleteMultipartUpload, which is
 * sent only after every part succeeded and the source ended. Any failure (a part, the
 * source, reading the file, the caller's signal) aborts the parts in flight and sends
 * AbortMultipartUpload (no orphaned parts), then rethrows the first failure.
 */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { S3Client, CompletedPart, StorageClass } from '@aws-sdk/client-s3';

type S3Sdk = typeof import('@aws-sdk/client-s3');

export const MAX_PARTS = 10_000;
/** Read size of a part's byte range from the file (each read is one socket write of the request body). */
const PART_READ_CHUNK = 256 << 10;

export interface StreamUploadOptions {
  sdk: S3Sdk;
  client: S3Client;
  bucket: string;
  key: string;
  partSize: number;
  /** Part buffers in memory at most (each being filled or uploaded); parts uploaded at once is at most this. */
  buffers: number;
  /** A file holding the source's bytes from offset 0: parts are sent from it (see the file comment). */
  file?: string;
  storageClass?: string | null;
  /** Aborts the upload (its requests are cancelled and the multipart upload is aborted). */
  signal: AbortSignal;
  /** A request was answered (a part uploaded): progress for an idle deadline. */
  onProgress?: () => void;
  /** Deadline of AbortMultipartUpload after a failure (ms). */
  abortTimeoutMs: number;
  /**
   * Told the source's bytes taken so far whenever a chunk was used up (hashed, or copied into
   * a part buffer) and nothing here holds it any more: the source may reuse its buffer
   * (UploadOptions.written). A chunk that straddles a part boundary is reported once its
   * second half is used too.
   */
  written?: (bytes: number) => void;
}

export interface StreamUploadResult {
  /** 0 for a single PutObject. */
  parts: number;
  bytes: number;
  /** Part buffers allocated (never more than `buffers`). */
  buffersAllocated: number;
  /** The most parts uploading at the same time. */
  maxInFlight: number;
}

/** One part: bytes [start, start + len) of the source, in `buf` (the pool) or in the file. */
interface Part {
  start: number;
  len: number;
  /** The pool buffer holding the part (no `file`). */
  buf?: Buffer;
  /** Hex SHA-256 of the part (from `file`). */
  sha256?: string;
  /** Base64 CRC32 of the part (from `file`, checksums on). */
  crc32?: string;
}

/** The slice of a command's middleware stack used here (the SDK's types are generic over every command). */
type Next = (args: { request: unknown; input: unknown }) => Promise<unknown>;
interface Stack {
  add(mw: (next: Next) => Next, options: { step: 'build' | 'deserialize'; priority?: 'high' | 'normal' | 'low'; name?: string }): void;
}

const crc32Base64 = (crc: number): string => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
};

/** Upload `source` to `key`; see the file comment. */
export async function uploadStream(source: Readable, o: StreamUploadOptions): Promise<StreamUploadResult> {
  const { sdk, client, bucket, key, partSize, file } = o;
  const buffers = Math.max(1, Math.floor(o.buffers));
  const common = { Bucket: bucket, Key: key };
  const checksums = (await client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
  // parts are cancelled on the first failure as well as by the caller's signal
  const ac = new AbortController();
  const onOuter = () => ac.abort(o.signal.reason);
  if (o.signal.aborted) onOuter();
  o.signal.addEventListener('abort', onOuter, { once: true });
  // a source waiting for data does not see a signal: destroying it ends the wait
  const onAbort = () => {
    if (!source.destroyed) source.destroy(ac.signal.reason instanceof Error ? ac.signal.reason : new Error('upload aborted'));
  };
  ac.signal.addEventListener('abort', onAbort, { once: true });

  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer | null = null;
  let eof = false;
  let bytes = 0;
  /** The next source chunk into `pending`; false at the end. */
  const pull = async (): Promise<boolean> => {
    while (!pending) {
      const r = await it.next();
      if (r.done) {
        eof = true;
        return false;
      }
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      if (b.length > 0) pending = b;
    }
    return true;
  };
  /** Takes up to `limit` bytes from the source, each piece to `each` (at its offset in the part); returns the count (less only at the end). */
  const consume = async (limit: number, each: (chunk: Buffer, at: number) => void): Promise<number> => {
    let len = 0;
    while (len < limit && (await pull())) {
      const p = pending!;
      const n = Math.min(p.length, limit - len);
      each(n < p.length ? p.subarray(0, n) : p, len);
      len += n;
      pending = n < p.length ? p.subarray(n) : null;
      if (!pending) o.written?.(bytes + len);
    }
    bytes += len;
    return len;
  };
  /** The next part of the source (`buf`: the pool buffer to fill, null with `file`). */
  const readPart = async (buf: Buffer | null): Promise<Part> => {
    const start = bytes;
    if (buf) return { start, len: await consume(buf.length, (c, at) => c.copy(buf, at)), buf };
    const hash = createHash('sha256');
    let crc = 0;
    const len = await consume(partSize, (c) => {
      hash.update(c);
      if (checksums) crc = crc32(c, crc);
    });
    return { start, len, sha256: hash.digest('hex'), ...(checksums ? { crc32: crc32Base64(crc) } : {}) };
  };

  const free: Buffer[] = [];
  let allocated = 0;
  const inFlight = new Set<Promise<void>>();
  let maxInFlight = 0;
  const failure: { err?: unknown; set: boolean } = { set: false };
  const fail = (err: unknown) => {
    if (!failure.set) Object.assign(failure, { err, set: true });
    ac.abort(err);
  };
  /** Waits for room for one more part: a pool buffer (null with `file`: a free upload slot). */
  const take = async (): Promise<Buffer | null> => {
    for (;;) {
      if (failure.set) throw failure.err;
      if (file !== undefined) {
        if (inFlight.size < buffers) return null;
      } else {
        const b = free.pop();
        if (b) return b;
        if (allocated < buffers) {
          allocated++;
          return Buffer.allocUnsafeSlow(partSize);
        }
      }
      await Promise.race(inFlight);
    }
  };
  const EMPTY = Buffer.alloc(0);
  /** The Body and checksum members of a part's command (the file's parts get their body in `fromFile`). */
  const bodyOf = (part: Part) =>
    part.buf
      ? { Body: part.buf.subarray(0, part.len) }
      : { Body: EMPTY, ...(part.crc32 !== undefined && part.len > 0 ? { ChecksumAlgorithm: sdk.ChecksumAlgorithm.CRC32, ChecksumCRC32: part.crc32 } : {}) };
  /**
   * A part from the file: the SHA-256 goes into x-amz-content-sha256 before the request is
   * signed, and each attempt (the SDK's retries included) sends a fresh read stream of the
   * part's range in place of the placeholder body.
   */
  const fromFile = <C extends { middlewareStack: unknown }>(command: C, part: Part): C => {
    if (part.buf || part.len === 0 || file === undefined) return command;
    const stack = command.middlewareStack as Stack;
    const sha256 = part.sha256!;
    stack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = sha256;
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'offsitePartHash' },
    );
    stack.add(
      (next) => async (args) => {
        const request = args.request as object;
        const body = createReadStream(file, { start: part.start, end: part.start + part.len - 1, highWaterMark: PART_READ_CHUNK });
        // the file cannot be read: the upload fails (the request would otherwise wait for a body that never comes)
        body.once('error', fail);
        try {
          return await next({ ...args, request: Object.assign(Object.create(Object.getPrototypeOf(request) as object) as object, request, { body }) });
        } finally {
          body.destroy();
        }
      },
      { step: 'deserialize', priority: 'low', name: 'offsitePartBody' },
    );
    return command;
  };

  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  try {
    const first = await readPart(await take());
    if (first.len < partSize || !(await pull())) {
      // smaller than a part (or exactly one): one PutObject, atomic by itself
      await client.send(
        fromFile(
          new sdk.PutObjectCommand({
            ...common,
            ...bodyOf(first),
            ContentLength: first.len,
            ContentType: 'application/octet-stream',
            ...(o.storageClass ? { StorageClass: o.storageClass as StorageClass } : {}),
          }),
          first,
        ),
        { abortSignal: ac.signal },
      );
      if (failure.set) throw failure.err;
      o.onProgress?.();
      return { parts: 0, bytes, buffersAllocated: allocated, maxInFlight: 1 };
    }
    const created = await client.send(
      new sdk.CreateMultipartUploadCommand({
        ...common,
        ContentType: 'application/octet-stream',
        ...(o.storageClass ? { StorageClass: o.storageClass as StorageClass } : {}),
        ...(checksums ? { ChecksumAlgorithm: sdk.ChecksumAlgorithm.CRC32 } : {}),
      }),
      { abortSignal: ac.signal },
    );
    uploadId = created.UploadId;
    if (!uploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
    o.onProgress?.();

    const dispatch = (part: Part, partNumber: number) => {
      const p: Promise<void> = client
        .send(
          fromFile(
            new sdk.UploadPartCommand({
              ...common,
              UploadId: uploadId,
              PartNumber: partNumber,
              ...bodyOf(part),
              ContentLength: part.len,
            }),
            part,
          ),
          { abortSignal: ac.signal },
        )
        .then((res) => {
          if (!res.ETag) throw new Error(`part ${partNumber} is missing an ETag in the UploadPart answer`);
          parts.push({
            PartNumber: partNumber,
            ETag: res.ETag,
            ...(res.ChecksumCRC32 ? { ChecksumCRC32: res.ChecksumCRC32 } : {}),
            ...(res.ChecksumCRC32C ? { ChecksumCRC32C: res.ChecksumCRC32C } : {}),
            ...(res.ChecksumSHA1 ? { ChecksumSHA1: res.ChecksumSHA1 } : {}),
            ...(res.ChecksumSHA256 ? { ChecksumSHA256: res.ChecksumSHA256 } : {}),
          });
          o.onProgress?.();
        })
        .catch(fail)
        .finally(() => {
          // the SDK is done with the body (also after its own retries): the buffer is free again
          inFlight.delete(p);
          if (part.buf) free.push(part.buf);
        });
      inFlight.add(p);
      maxInFlight = Math.max(maxInFlight, inFlight.size);
    };

    let partNumber = 1;
    dispatch(first, partNumber);
    while (!eof) {
      const part = await readPart(await take());
      if (part.len === 0) {
        if (part.buf) free.push(part.buf);
        break;
      }
      if (++partNumber > MAX_PARTS) throw new Error(`Exceeded ${MAX_PARTS} parts in multipart upload to Bucket: ${bucket} Key: ${key}.`);
      dispatch(part, partNumber);
    }
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure.set) throw failure.err;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(new sdk.CompleteMultipartUploadCommand({ ...common, UploadId: uploadId, MultipartUpload: { Parts: parts } }), { abortSignal: ac.signal });
    o.onProgress?.();
    uploadId = undefined;
    return { parts: partNumber, bytes, buffersAllocated: allocated, maxInFlight };
  } catch (err) {
    const first = failure.set ? failure.err : err;
    ac.abort(first);
    // the parts in flight end (cancelled) before the upload is aborted, so none lands after the abort
    await Promise.allSettled([...inFlight]);
    if (uploadId) {
      try {
        await client.send(new sdk.AbortMultipartUploadCommand({ ...common, UploadId: uploadId }), { abortSignal: AbortSignal.timeout(o.abortTimeoutMs) });
      } catch {
        // the failure that ended the upload is what the user must see (not this one: some
        // servers, s3rver among them, do not implement it); a lifecycle rule or the next
        // run's leftover cleanup removes the parts
      }
    }
    throw first;
  } finally {
    o.signal.removeEventListener('abort', onOuter);
    ac.signal.removeEventListener('abort', onAbort);
    free.length = 0;
  }
}
