/**
 * Reusable output buffers for an archive whose consumer says when it has written its bytes
 * (ArchiveStream.written: the local destination, from its file writes' callbacks).
 *
 * Why: zlib / zstd streams allocate a fresh 64 KiB Buffer per output chunk, and so does the
 * uncompressed path's copy of each ring block. Their memory is freed only when V8 collects
 * the small object that owns it; the ones still in flight (in the stream stages' buffers) at
 * two young-generation GCs are promoted and wait for a major GC. Measured (s5-mem): 17-19 MiB
 * of such Buffers at the peak of a backup, of which ~2-3 MiB were in flight. Here the codec
 * copies its output at once into buffers of this pool (the codec's own chunk then dies young,
 * before any GC could promote it), and a pooled buffer is handed out again only once the
 * consumer reported every byte of it written. The pool holds as many buffers as are in
 * flight, which the streams' backpressure bounds.
 *
 * Safety: a buffer is reused only after `written(n)` covered its last byte, and `written` is
 * called only by a consumer that writes the archive's bytes in order, unchanged, and keeps
 * no reference to a chunk after its write completed (no encryption stage in between:
 * createArchive uses the pool only without one). A consumer that never reports makes the pool
 * allocate a fresh buffer for each chunk (bounded bookkeeping, nothing reused).
 */

/** Pooled buffer size: the codecs' own output chunk size (glibc's malloc recycles same-sized chunks well). */
export const POOL_BUFFER = 64 * 1024;
/** Emitted buffers remembered for reuse (16 MiB): beyond this the oldest is forgotten (left to the GC), never reused. */
const MAX_OUTSTANDING = 256;
/** Free buffers kept (8 MiB). */
const MAX_FREE = 128;

export class OutputPool {
  private readonly free: Buffer[] = [];
  /** Buffers handed out, in stream order, with the stream offset of their end. */
  private readonly outstanding: { end: number; buf: Buffer }[] = [];
  private head = 0;
  private emittedBytes = 0;
  private writtenBytes = 0;
  /** Buffers allocated so far (tests, measurements). */
  allocated = 0;

  /** A buffer of POOL_BUFFER bytes to fill (its contents are stale). */
  take(): Buffer {
    const b = this.free.pop();
    if (b) return b;
    this.allocated++;
    return Buffer.allocUnsafeSlow(POOL_BUFFER);
  }

  /** `chunk` (the first bytes of `buf`, a buffer from take()) goes out now, next in stream order. */
  emit(buf: Buffer, length: number): Buffer {
    this.emittedBytes += length;
    if (this.outstanding.length - this.head >= MAX_OUTSTANDING) this.head++;
    this.outstanding.push({ end: this.emittedBytes, buf });
    this.compact();
    return length === buf.length ? buf : buf.subarray(0, length);
  }

  /** A buffer taken but not emitted (its output was empty) goes back. */
  giveBack(buf: Buffer): void {
    if (this.free.length < MAX_FREE) this.free.push(buf);
  }

  /** The consumer has written the stream's first `bytes` bytes and holds none of them any more. */
  written(bytes: number): void {
    if (bytes <= this.writtenBytes) return;
    this.writtenBytes = Math.min(bytes, this.emittedBytes);
    while (this.head < this.outstanding.length && this.outstanding[this.head]!.end <= this.writtenBytes) {
      const { buf } = this.outstanding[this.head]!;
      this.head++;
      if (this.free.length < MAX_FREE) this.free.push(buf);
    }
    this.compact();
  }

  private compact(): void {
    if (this.head > 64 && this.head * 2 > this.outstanding.length) {
      this.outstanding.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Forgets everything (the archive ended or failed: nothing more is taken). */
  clear(): void {
    this.free.length = 0;
    this.outstanding.length = 0;
    this.head = 0;
  }
}

/** Copies chunks into pooled buffers, filling each one before the next. */
export class PooledWriter {
  private readonly pool: OutputPool;
  private readonly full: Buffer[] = [];
  private cur: Buffer | null = null;
  private fill = 0;

  constructor(pool: OutputPool) {
    this.pool = pool;
  }

  write(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (!this.cur) {
        this.cur = this.pool.take();
        this.fill = 0;
      }
      const n = chunk.copy(this.cur, this.fill, off);
      off += n;
      this.fill += n;
      if (this.fill === this.cur.length) {
        this.full.push(this.cur);
        this.cur = null;
      }
    }
  }

  /** Emits what was written (whole buffers, then the last one's filled part) to `out`, in order, and starts afresh. */
  emitTo(out: (chunk: Buffer) => void): void {
    const full = this.full.splice(0);
    const cur = this.cur;
    const fill = this.fill;
    this.cur = null;
    this.fill = 0;
    for (const b of full) out(this.pool.emit(b, b.length));
    if (cur) {
      if (fill > 0) out(this.pool.emit(cur, fill));
      else this.pool.giveBack(cur);
    }
  }
}
