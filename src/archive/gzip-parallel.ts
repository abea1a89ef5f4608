/**
 * gzip on several threads: the input is cut into fixed-size blocks, each
 * compressed by an async zlib call (libuv's threadpool runs them
 * concurrently) into an independent gzip member, and the members are emitted
 * in input order. Concatenated members are one valid gzip stream (RFC 1952
 * section 2.2) that every gunzip reads as a whole. At most `threads + 1`
 * blocks are in flight, so memory is bounded.
 *
 * libuv's threadpool has UV_THREADPOOL_SIZE threads (default 4), shared with
 * async fs and dns: more concurrent blocks than that only queue.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { gzip } from 'node:zlib';

export interface ParallelGzipOptions {
  threads: number;
  /** Input bytes per gzip member (default 1 MiB). */
  blockSize?: number;
  level?: number;
}

export class ParallelGzip extends Transform {
  private readonly blockSize: number;
  private readonly threads: number;
  private readonly level: number;
  private readonly results = new Map<number, Buffer>();
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private nextId = 0;
  private nextOut = 0;
  private waiting: (() => void) | null = null;

  constructor(opts: ParallelGzipOptions) {
    super();
    this.threads = Math.max(1, Math.floor(opts.threads));
    this.blockSize = opts.blockSize ?? 1 << 20;
    this.level = opts.level ?? 6;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    while (this.pendingLength >= this.blockSize) this.submit(this.takeBytes(this.blockSize));
    const retry = () => {
      if (this.inFlight() > this.threads) this.waiting = retry;
      else cb();
    };
    retry();
  }

  override _flush(cb: TransformCallback): void {
    if (this.pendingLength > 0) this.submit(this.takeBytes(this.pendingLength));
    const check = () => {
      if (this.inFlight() === 0) cb();
      else this.waiting = check;
    };
    check();
  }

  private inFlight(): number {
    return this.nextId - this.nextOut;
  }

  private takeBytes(n: number): Buffer {
    const first = this.pending[0]!;
    let out: Buffer;
    if (first.length === n) {
      out = first;
      this.pending.shift();
    } else if (first.length > n) {
      out = first.subarray(0, n);
      this.pending[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafeSlow(n);
      let off = 0;
      while (off < n) {
        const c = this.pending[0]!;
        const k = Math.min(c.length, n - off);
        out.set(k === c.length ? c : c.subarray(0, k), off);
        off += k;
        if (k === c.length) this.pending.shift();
        else this.pending[0] = c.subarray(k);
      }
    }
    this.pendingLength -= n;
    return out;
  }

  private submit(data: Buffer): void {
    const id = this.nextId++;
    gzip(data, { level: this.level, chunkSize: 256 * 1024 }, (err, out) => {
      if (this.destroyed) return;
      if (err) { this.destroy(err); return; }
      this.results.set(id, out);
      while (this.results.has(this.nextOut)) {
        const member = this.results.get(this.nextOut)!;
        this.results.delete(this.nextOut);
        this.nextOut++;
        this.push(member);
      }
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.();
    });
  }
}
