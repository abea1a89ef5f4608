/**
 * A tar reader without a stream object or a tick per entry: tar bytes are pushed
 * in as they are decoded, headers are decoded by tar-stream's own header code
 * (`headers.decode`, `decodePax`, `decodeLongPath`: the same checks and the same
 * errors as its `extract()`), and an entry's content is handed out as views of
 * the pushed buffers, so small files need no copy and the caller can write them
 * with synchronous calls.
 *
 * Same rules as tar-stream's extract(): an all-zero block is skipped (the
 * end-of-archive marker and a record's padding), a header with a bad checksum or
 * an unknown format is an error, GNU long names and pax headers (global and per
 * entry: path, linkpath, size) apply to the next entry, a long header over 4 MiB
 * is refused, a directory has no content, and input that ends inside a header,
 * an entry's content or its padding is "Unexpected end of data".
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Header } from 'tar-stream';

interface TarStreamHeaders {
  decode(buf: Buffer, filenameEncoding: string, allowUnknownFormat: boolean): (Header & { pax: Record<string, string> | null; byteOffset: number }) | null;
  decodePax(buf: Buffer): Record<string, string>;
  decodeLongPath(buf: Buffer, encoding: string): string;
}

const require = createRequire(import.meta.url);
// tar-stream's header decoder (headers.js; `extract()` builds on it); the package's exports
// map hides the file, so it is loaded by path (the bundle rewrites this, scripts/bundle.ts)
const headers = require(join(dirname(require.resolve('tar-stream')), 'headers.js')) as TarStreamHeaders;

/** tar-stream's bound on a pax or GNU long-name header. */
export const MAX_LONG_HEADER = 4 * 1024 * 1024;

export type TarHeader = Header & {
  pax: Record<string, string> | null;
  /** Where the entry's content starts in the tar stream. */
  byteOffset: number;
};

const EMPTY = Buffer.alloc(0);

const overflow = (size: number): number => {
  const r = size % 512;
  return r && 512 - r;
};

export class TarReader {
  private bufs: Buffer[] = [];
  /** Bytes already consumed of bufs[0]. */
  private head = 0;
  /** Bytes pushed and not consumed. */
  buffered = 0;
  /** Bytes consumed so far: the position in the tar stream. */
  offset = 0;
  /** Content bytes of the current entry not handed out yet. */
  left = 0;
  /** Padding (or a long header's content) to skip before the next header. */
  private pad = 0;
  private long: { type: string; size: number } | null = null;
  private pax: Record<string, string> | null = null;
  private paxGlobal: Record<string, string> | null = null;
  private gnuLongPath: string | null = null;
  private gnuLongLinkPath: string | null = null;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.bufs.push(b);
    this.buffered += b.length;
  }

  /** True when the input may end here (not inside a header, an entry, its padding or a long header). */
  get complete(): boolean {
    return this.buffered === 0 && this.left === 0 && this.pad === 0 && this.long === null;
  }

  /** Up to `n` buffered bytes from the front, without a copy (fewer when the first buffer ends first). */
  private front(n: number): Buffer {
    const b = this.bufs[0]!;
    const end = Math.min(b.length, this.head + n);
    const out = this.head === 0 && end === b.length ? b : b.subarray(this.head, end);
    this.consumed(end - this.head);
    return out;
  }

  private consumed(n: number): void {
    this.head += n;
    this.buffered -= n;
    this.offset += n;
    if (this.head === this.bufs[0]!.length) {
      this.bufs.shift();
      this.head = 0;
    }
  }

  /** Exactly `n` bytes (n <= buffered): a view when they lie in one buffer, a copy otherwise. */
  private take(n: number): Buffer {
    const first = this.front(n);
    if (first.length === n) return first;
    const out = Buffer.allocUnsafe(n);
    first.copy(out, 0);
    let at = first.length;
    while (at < n) {
      const p = this.front(n - at);
      p.copy(out, at);
      at += p.length;
    }
    return out;
  }

  private discard(n: number): number {
    let done = 0;
    while (done < n && this.buffered > 0) done += this.front(n - done).length;
    return done;
  }

  /**
   * The next entry's header, or null when more input is needed. Long-name and pax
   * headers are applied on the way. Throws tar-stream's errors for a corrupt header.
   * The previous entry's content must have been read or skipped.
   */
  next(): TarHeader | null {
    if (this.left > 0) throw new Error('TarReader: the previous entry was not read to its end');
    for (;;) {
      if (this.pad > 0) {
        this.pad -= this.discard(this.pad);
        if (this.pad > 0) return null;
      }
      if (this.long) {
        if (this.buffered < this.long.size) return null;
        const buf = this.take(this.long.size);
        const type = this.long.type;
        this.pad = overflow(this.long.size);
        this.long = null;
        switch (type) {
          case 'gnu-long-path':
            this.gnuLongPath = headers.decodeLongPath(buf, 'utf-8');
            break;
          case 'gnu-long-link-path':
            this.gnuLongLinkPath = headers.decodeLongPath(buf, 'utf-8');
            break;
          case 'pax-global-header':
            this.paxGlobal = headers.decodePax(buf);
            break;
          case 'pax-header':
            this.pax = this.paxGlobal === null ? headers.decodePax(buf) : Object.assign({}, this.paxGlobal, headers.decodePax(buf));
            break;
        }
        continue;
      }
      if (this.buffered < 512) return null;
      const h = headers.decode(this.take(512), 'utf-8', false);
      if (h === null) continue; // an all-zero block
      switch (h.type as string) {
        case 'gnu-long-path':
        case 'gnu-long-link-path':
        case 'pax-global-header':
        case 'pax-header':
          if (h.size > MAX_LONG_HEADER) throw new Error('Header exceeds max size');
          this.long = { type: h.type, size: h.size };
          continue;
      }
      if (this.gnuLongPath !== null) {
        h.name = this.gnuLongPath;
        this.gnuLongPath = null;
      }
      if (this.gnuLongLinkPath !== null) {
        h.linkname = this.gnuLongLinkPath;
        this.gnuLongLinkPath = null;
      }
      if (this.pax) {
        if (this.pax.path) h.name = this.pax.path;
        if (this.pax.linkpath) h.linkname = this.pax.linkpath;
        if (this.pax.size) h.size = parseInt(this.pax.size, 10);
        h.pax = this.pax;
        this.pax = null;
      }
      if (!(h.size >= 0)) throw new Error('Invalid header');
      h.byteOffset = this.offset;
      // as in tar-stream, a directory entry has no content whatever its size field says
      this.left = h.type === 'directory' ? 0 : h.size;
      this.pad = overflow(this.left);
      return h;
    }
  }

  /** The next buffered piece of the current entry's content (a view, no copy), or null when none is buffered or none is left. */
  read(): Buffer | null {
    if (this.left === 0 || this.buffered === 0) return null;
    const b = this.front(this.left);
    this.left -= b.length;
    return b;
  }

  /** The whole rest of the current entry's content when all of it is buffered (a view when it lies in one buffer), else null. */
  readAll(): Buffer | null {
    if (this.left > this.buffered) return null;
    if (this.left === 0) return EMPTY;
    const b = this.take(this.left);
    this.left = 0;
    return b;
  }

  /** Drop what is buffered of the current entry's content; returns the bytes still to come. */
  skip(): number {
    this.left -= this.discard(this.left);
    return this.left;
  }
}

/** How many decoded bytes may wait in the reader before the stream is paused. */
export const FEED_HIGH_WATER = 1 << 20;

/**
 * Feed `reader` from a byte stream through its 'data' events, pausing the stream while
 * `high` bytes or more wait in the reader. (An async iterator's `read()` concatenates
 * every chunk buffered in the stream into a fresh buffer and costs a promise per chunk;
 * here each decoded chunk goes into the reader as it is.) `more()` waits for new bytes:
 * true once some arrived since the last call, false at the end of the stream; it throws
 * the stream's error (bytes that arrived before it are handed in first, as an iterator
 * does) or ERR_STREAM_PREMATURE_CLOSE when the stream was destroyed without one.
 */
export function feedReader(src: Readable, reader: TarReader, high = FEED_HIGH_WATER): { more: () => Promise<boolean>; total: () => number } {
  let total = 0;
  let fresh = false;
  let ended = false;
  let failed: Error | null = null;
  let wake: (() => void) | null = null;
  const signal = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  src.on('data', (b: Buffer) => {
    total += b.length;
    reader.push(b);
    fresh = true;
    if (reader.buffered >= high) src.pause();
    signal();
  });
  src.once('end', () => {
    ended = true;
    signal();
  });
  // kept for the stream's lifetime: an error after the reader gave up must not be unhandled
  src.on('error', (e: Error) => {
    failed ??= e;
    signal();
  });
  src.once('close', () => {
    if (!ended && !failed) failed = Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    signal();
  });
  const more = async (): Promise<boolean> => {
    for (;;) {
      if (fresh) {
        fresh = false;
        return true;
      }
      if (failed) throw failed;
      if (ended) return false;
      if (src.isPaused()) src.resume();
      await new Promise<void>((r) => (wake = r));
    }
  };
  return { more, total: () => total };
}
