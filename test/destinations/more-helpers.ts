/** Test helpers for the WebDAV, SFTP and Dropbox destination tests. */
import { Readable } from 'node:stream';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Every file below dir, as paths relative to it (sorted). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** A stream that sends `bytes` bytes, then fails with `err`. */
export function failingSource(bytes: number, err = new Error('source broke')): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent < bytes) {
        const n = Math.min(64 << 10, bytes - sent);
        sent += n;
        this.push(Buffer.alloc(n, 1));
      } else {
        this.destroy(err);
      }
    },
  });
}

/** A stream that never ends: emits 64 KiB every few ms until destroyed. Calls onData after `after` bytes. */
export function endlessSource(after: number, onData: () => void): Readable {
  let sent = 0;
  let fired = false;
  return new Readable({
    read() {
      setTimeout(() => {
        sent += 64 << 10;
        if (!fired && sent >= after) {
          fired = true;
          onData();
        }
        this.push(Buffer.alloc(64 << 10, 2));
      }, 2);
    },
  });
}

/** Deterministic pseudo-random bytes (not all one value, so misplaced chunks show). */
export function patterned(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= size) b.writeUInt32LE(x, i);
    else for (let j = i; j < size; j++) b[j] = x & 0xff;
  }
  return b;
}

/** Stream a buffer in 1 MiB pieces. */
export function streamOf(buf: Buffer, piece = 1 << 20): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < buf.length; i += piece) yield buf.subarray(i, i + piece);
    })(),
  );
}

/**
 * `data` as a stream of `piece`-byte chunks (each a copy of its own) and the `written(n)` a
 * destination reports to (UploadOptions.written): every chunk that ends at or before `n` is
 * overwritten at once, as a source reusing its buffers would, so a destination that reports
 * bytes it still needs stores garbage.
 */
export function scribbledOnRelease(data: Buffer, piece: number): { stream: Readable; written: (bytes: number) => void; reported: () => number } {
  const out: { buf: Buffer; end: number }[] = [];
  let reported = 0;
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += piece) {
        const buf = Buffer.from(data.subarray(i, i + piece));
        out.push({ buf, end: i + buf.length });
        yield buf;
      }
    })(),
  );
  return {
    stream,
    written(bytes: number) {
      reported = Math.max(reported, bytes);
      while (out.length > 0 && out[0]!.end <= bytes) out.shift()!.buf.fill(0xee);
    },
    reported: () => reported,
  };
}
