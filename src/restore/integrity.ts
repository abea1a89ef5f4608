/**
 * Integrity of a downloaded or imported archive: its size and SHA-256, taken while it
 * streams, checked against its manifest sidecar.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { UserError } from '../errors.ts';
import { type Sidecar } from '../manifest/index.ts';

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
