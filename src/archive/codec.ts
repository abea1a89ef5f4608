/**
 * Compression stages fused into the archive source: each takes tar blocks
 * (views into the worker's shared ring) and hands back each block with
 * `release` once its bytes are consumed, so the ring slot can be refilled.
 * Blocks are released in the order they were written.
 */
export interface CodecOutput {
  /** Output bytes, in order. */
  data(chunk: Buffer): void;
  error(err: Error): void;
  /** The codec can take another block now. */
  ready(): void;
}

export interface Codec {
  canWrite(): boolean;
  /** Takes one tar block; `release` is called (in block order) when its bytes are no longer needed. */
  write(block: Buffer, release: () => void): void;
  /** No more blocks: `done` is called after the last output. */
  end(done: () => void): void;
  destroy(): void;
}

import { PooledWriter, type OutputPool } from './output-pool.ts';

/** Output chunk size: same-sized 64 KiB buffers are what glibc's malloc recycles best (a lower RSS than 1 MiB ones). */
const CHUNK = 64 * 1024;

/** No compression: blocks are copied out (the consumer may keep them) and released at once. */
export class CopyCodec implements Codec {
  private readonly out: CodecOutput;
  /** With a pool: the copies go into its reusable buffers (output-pool.ts). */
  private readonly pooled: PooledWriter | null;
  constructor(out: CodecOutput, pool: OutputPool | null = null) {
    this.out = out;
    this.pooled = pool ? new PooledWriter(pool) : null;
  }
  canWrite(): boolean {
    return true;
  }
  write(block: Buffer, release: () => void): void {
    if (this.pooled) {
      this.pooled.write(block);
      release();
      this.pooled.emitTo(this.out.data);
      return;
    }
    const copies: Buffer[] = [];
    for (let off = 0; off < block.length; off += CHUNK) {
      const n = Math.min(CHUNK, block.length - off);
      const copy = Buffer.allocUnsafeSlow(n);
      block.copy(copy, 0, off, off + n);
      copies.push(copy);
    }
    release();
    for (const c of copies) this.out.data(c);
  }
  end(done: () => void): void {
    done();
  }
  destroy(): void {}
}
