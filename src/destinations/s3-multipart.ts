/**
 * Streaming upload to S3 with memory the caller bounds: @aws-sdk/client-s3's own
 * PutObject (a body smaller than one part) or CreateMultipartUpload / UploadPart /
 * CompleteMultipartUpload, from a fixed pool of `buffers` part buffers of `partSize`
 * bytes each, allocated once and reused for every part (no per-part allocation, no
 * Buffer.concat of the source's chunks as lib-storage does, and no extra parts held
 * beyond the pool). Reading the source waits while every buffer is being uploaded.
 *
 * Atomic: a multipart upload's object only appears on CompleteMultipartUpload, which is
 * sent only after every part succeeded and the source ended. Any failure (a part, the
 * source, the caller's signal) aborts the parts in flight and sends
 * AbortMultipartUpload (no orphaned parts), then rethrows the first failure.
 */
import type { Readable } from 'node:stream';
import type { S3Client, CompletedPart, StorageClass } from '@aws-sdk/client-s3';

type S3Sdk = typeof import('@aws-sdk/client-s3');

export const MAX_PARTS = 10_000;

export interface StreamUploadOptions {
  sdk: S3Sdk;
  client: S3Client;
  bucket: string;
  key: string;
  partSize: number;
  /** Part buffers in memory at most (each being filled or uploaded); parts uploaded at once is at most this. */
  buffers: number;
  storageClass?: string | null;
  /** Aborts the upload (its requests are cancelled and the multipart upload is aborted). */
  signal: AbortSignal;
  /** A request was answered (a part uploaded): progress for an idle deadline. */
  onProgress?: () => void;
  /** Deadline of AbortMultipartUpload after a failure (ms). */
  abortTimeoutMs: number;
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

/** Upload `source` to `key`; see the file comment. */
export async function uploadStream(source: Readable, o: StreamUploadOptions): Promise<StreamUploadResult> {
  const { sdk, client, bucket, key, partSize } = o;
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
  /** Fills `buf` from the source; returns the bytes written (less than its size only at the end). */
  const fill = async (buf: Buffer): Promise<number> => {
    let len = 0;
    while (len < buf.length && (await pull())) {
      const p = pending!;
      const n = Math.min(p.length, buf.length - len);
      p.copy(buf, len, 0, n);
      len += n;
      pending = n < p.length ? p.subarray(n) : null;
    }
    bytes += len;
    return len;
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
  const take = async (): Promise<Buffer> => {
    for (;;) {
      if (failure.set) throw failure.err;
      const b = free.pop();
      if (b) return b;
      if (allocated < buffers) {
        allocated++;
        return Buffer.allocUnsafeSlow(partSize);
      }
      await Promise.race(inFlight);
    }
  };

  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  try {
    const first = await take();
    const firstLen = await fill(first);
    if (firstLen < partSize || !(await pull())) {
      // smaller than a part (or exactly one): one PutObject, atomic by itself
      await client.send(
        new sdk.PutObjectCommand({
          ...common,
          Body: first.subarray(0, firstLen),
          ContentLength: firstLen,
          ContentType: 'application/octet-stream',
          ...(o.storageClass ? { StorageClass: o.storageClass as StorageClass } : {}),
        }),
        { abortSignal: ac.signal },
      );
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

    const dispatch = (buf: Buffer, len: number, partNumber: number) => {
      const p: Promise<void> = client
        .send(
          new sdk.UploadPartCommand({
            ...common,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: buf.subarray(0, len),
            ContentLength: len,
          }),
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
          free.push(buf);
        });
      inFlight.add(p);
      maxInFlight = Math.max(maxInFlight, inFlight.size);
    };

    let partNumber = 1;
    dispatch(first, firstLen, partNumber);
    while (!eof) {
      const buf = await take();
      const len = await fill(buf);
      if (len === 0) {
        free.push(buf);
        break;
      }
      if (++partNumber > MAX_PARTS) throw new Error(`Exceeded ${MAX_PARTS} parts in multipart upload to Bucket: ${bucket} Key: ${key}.`);
      dispatch(buf, len, partNumber);
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
