/**
 * Integrity of a downloaded or imported archive: its size and SHA-256, taken while it
 * streams, checked against its manifest sidecar.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { UserError } from '../errors.ts';
import { type Sidecar } from '../manifest/index.ts';
import { ArchiveFile } from '../archive/decode.ts';
import type { Destination } from '../destinations/types.ts';

/** A pass-through that hashes and counts what flows through it. */
class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

interface Hashed {
  /** The bytes, for the consumer. */
  stream: Readable;
  /** Size and SHA-256 once the consumer read everything. */
  done: () => Promise<{ sha256: string; size: number }>;
  /** After the consumer failed: read the rest of the download only to hash it. */
  drain: () => Promise<{ sha256: string; size: number } | null>;
}

export function hashed(source: Readable): Hashed {
  const h = new Hasher({ highWaterMark: 1 << 20 });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  source.on('error', (e) => h.destroy(e));
  h.on('error', (e) => out.destroy(e));
  source.pipe(h).pipe(out);
  let digest: string | null = null;
  const done = async () => {
    if (!h.writableFinished) await finished(h, { readable: false });
    digest ??= h.hash.digest('hex');
    return { sha256: digest, size: h.size };
  };
  return {
    stream: out,
    done,
    drain: async () => {
      if (h.errored) return null;
      if (!h.writableFinished) {
        if (h.destroyed) return null;
        h.unpipe(out);
        h.resume();
      }
      try {
        return await done();
      } catch {
        return null;
      }
    },
  };
}

/** A download as the consumer reads it, with the check against its sidecar for when the consumer is done. */
export interface CheckedDownload {
  /** The bytes, for the consumer. */
  stream: Readable;
  /** Once the consumer read everything: throws when size or SHA-256 differ from the sidecar's; the line for the report, or null without a sidecar. */
  check: () => Promise<string | null>;
  /** After the consumer failed: reads the rest of the download to hash it; null without a sidecar or when it cannot be read. */
  drain: () => Promise<{ sha256: string; size: number } | null>;
}

/**
 * The download checked against its sidecar. Without a sidecar there is nothing to check
 * a digest against and nothing reports one, so the bytes are not hashed at all (the
 * SHA-256 of a large archive is a noticeable share of a restore's CPU) and the consumer
 * reads the download itself, without the hashing stream in between.
 */
export function checkedDownload(source: Readable, sidecar: Sidecar | null, name: string): CheckedDownload {
  if (!sidecar) return { stream: source, check: async () => null, drain: async () => null };
  const h = hashed(source);
  return { stream: h.stream, check: async () => checkIntegrity(await h.done(), sidecar, name), drain: h.drain };
}

/** A stored archive as the consumer (extractArchive) reads it, checked as checkedDownload checks it. */
export interface CheckedSource extends Omit<CheckedDownload, 'stream'> {
  input: Readable | ArchiveFile;
}

/**
 * Like checkedDownload, for a backup on `destination`: a local file is read by the consumer
 * itself with reused buffers (archive/decode.ts ArchiveFile), hashed as it is read when a
 * sidecar exists; anything else is downloaded as a stream.
 */
export async function checkedSource(destination: Destination, name: string, sidecar: Sidecar | null): Promise<CheckedSource> {
  if (!destination.localFile) {
    const { stream, check, drain } = checkedDownload(await destination.download(name), sidecar, name);
    return { input: stream, check, drain };
  }
  const file = new ArchiveFile(await destination.localFile(name), { hash: sidecar !== null });
  if (!sidecar) return { input: file, check: async () => null, drain: async () => null };
  return {
    input: file,
    check: async () => checkIntegrity(await file.digest(), sidecar, name),
    drain: () => file.digest().catch(() => null),
  };
}

export const DAMAGED_HINT = 'the archive was changed or damaged in storage or transfer; try another destination or an older backup';

export function checkIntegrity(got: { sha256: string; size: number }, sidecar: Sidecar | null, name: string): string | null {
  if (!sidecar) return null;
  if (got.size !== sidecar.archive.size) {
    throw new UserError(`${name} is ${got.size} bytes, but its manifest says ${sidecar.archive.size}`, DAMAGED_HINT);
  }
  if (got.sha256 !== sidecar.archive.sha256) {
    throw new UserError(`${name} does not match its manifest: SHA-256 ${got.sha256}, expected ${sidecar.archive.sha256}`, DAMAGED_HINT);
  }
  return `SHA-256 ${got.sha256} and size ${got.size} match the manifest`;
}
