/** Test streams generated on the fly: never hold a large payload in memory. */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface GeneratedStream {
  stream: Readable;
  /** Resolves with the hex SHA-256 of every byte the stream produced, once it ended. */
  sha256: Promise<string>;
}

/**
 * `size` random bytes in chunks of `chunk`. When `failAfter` is given, the stream
 * errors once that many bytes were produced (a source failing halfway).
 */
export function generated(
  size: number,
  opts: { chunk?: number; failAfter?: number; delayMs?: number; onBytes?: (produced: number) => void } = {},
): GeneratedStream {
  const chunk = opts.chunk ?? 1 << 20;
  const hash = createHash('sha256');
  let produced = 0;
  let resolve!: (v: string) => void;
  const sha256 = new Promise<string>((r) => {
    resolve = r;
  });
  const stream = new Readable({
    highWaterMark: chunk,
    read() {
      const step = () => {
        if (opts.failAfter !== undefined && produced >= opts.failAfter) {
          this.destroy(new Error('source failed on purpose (test)'));
          return;
        }
        if (produced >= size) {
          resolve(hash.digest('hex'));
          this.push(null);
          return;
        }
        let n = Math.min(chunk, size - produced);
        if (opts.failAfter !== undefined) n = Math.min(n, Math.max(1, opts.failAfter - produced));
        const buf = randomBytes(n);
        hash.update(buf);
        produced += n;
        opts.onBytes?.(produced);
        this.push(buf);
      };
      if (opts.delayMs) setTimeout(step, opts.delayMs);
      else step();
    },
  });
  return { stream, sha256 };
}

export function bytes(buf: Buffer | string): GeneratedStream {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf);
  return { stream: Readable.from([b].filter((x) => x.length > 0)), sha256: Promise.resolve(sha256Hex(b)) };
}

export function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Hash and count a stream without keeping it. */
export async function digest(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    hash.update(b);
    size += b.length;
  }
  return { sha256: hash.digest('hex'), size };
}
