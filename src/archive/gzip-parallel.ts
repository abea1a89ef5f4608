/**
 * gzip or zstd in independent blocks, on one thread or several: each tar block
 * is compressed into an independent gzip member / zstd frame by one of
 * `threads` long-lived zlib engines (their work runs concurrently on libuv's
 * threadpool), and members are emitted in block order. One block per engine is
 * in flight, so memory is bounded by the thread count; engines are reused, not
 * re-created, between members.
 *
 * - gzip: concatenated members are one valid gzip stream (RFC 1952 section
 *   2.2) that every gunzip (GNU gzip, pigz, Node's zlib) reads as a whole.
 *   Each member is written, finished (Z_FINISH) and the engine reset. A block
 *   of random, encrypted or already compressed data (see `incompressible`) goes
 *   to the slot's second engine, at level 0, and comes out as a member of
 *   stored deflate blocks: deflate would emit stored blocks for it too, after
 *   spending as long on it as on text. zstd needs no such help: it gives up on
 *   such data quickly.
 * - zstd (also on one thread): concatenated frames are one valid zstd stream
 *   (RFC 8878 section 3.1) that the zstd CLI (and so `tar --zstd`) reads as a
 *   whole. The engine's flush mode is ZSTD_e_end, so each write is one whole
 *   frame (zstd starts the next frame by itself, with the block's size in the
 *   header): no separate flush job nor reset per frame, and with the whole
 *   block in one call zstd's match finder works on one contiguous buffer.
 *   One long stream instead goes through zstd's internal ring buffer, whose
 *   wrap-around keeps the slower external-dictionary match finder busy
 *   (ZSTD_compressBlock_doubleFast_extDict) and copies every byte in and out:
 *   measured on the bench corpus, 1 MiB frames cost about 25 % less CPU than
 *   one stream at the same level, and come out no larger.
 *   Node's own ZstdDecompress stops after the first frame when several arrive
 *   in one chunk, so offsite's restore/verify decode frame by frame (zstd.ts);
 *   each frame carries its own content checksum (XXH64) as the CLI writes it.
 *
 * zstd's own worker threads (ZSTD_c_nbWorkers) are not used: Node's stream
 * wrapper mishandles their flushing (ERR_STREAM_PUSH_AFTER_EOF on Node 24).
 *
 * libuv's threadpool has UV_THREADPOOL_SIZE threads (default 4, 8 in the
 * image), shared with async fs and dns: more engines than that only queue.
 */
import * as zlib from 'node:zlib';
import type { Codec, CodecOutput } from './codec.ts';
import { PooledWriter, type OutputPool } from './output-pool.ts';

interface Job {
  /** The output, as the engine made it (without a pool) ... */
  chunks: Buffer[];
  /** ... or copied at once into pooled buffers. */
  pooled: PooledWriter | null;
  done: boolean;
  release: () => void;
}

type ZlibEngine = (zlib.Gzip | zlib.ZstdCompress) & { reset(): void }; // reset() is missing from @types/node

/** One slot: one block in flight, compressed by `z`, or (gzip, incompressible) stored by `store`. */
interface Engine {
  z: ZlibEngine;
  /**
   * gzip at level 0, made on the slot's first incompressible block: no match search,
   * only the copy and the CRC-32 (~1 ms per MiB), on the threadpool like `z`, with the
   * same 64 KiB output chunks. (A gzipSync per block on the main thread made a zlib
   * state and its output per MiB there: +20 MiB of peak RSS on the bench corpus.)
   */
  store: ZlibEngine | null;
  job: Job | null;
}

const CHUNK = 64 * 1024;

/** ZSTD_compressBound (zstd.h): the largest frame zstd makes of `n` bytes in one call with ZSTD_e_end. */
export function zstdCompressBound(n: number): number {
  return n + (n >>> 8) + (n < 128 << 10 ? ((128 << 10) - n) >>> 11 : 0);
}

/** The fields of Node's zlib streams that hold the output slab (lib/zlib.js, unchanged since Node 0.x). */
interface ZlibSlab {
  _outBuffer?: unknown;
  _outOffset?: unknown;
  _chunkSize?: unknown;
}

/** Whether `z` keeps its output in the slab this module rewinds (see ParallelCodec's `rewind`): checked, not assumed. */
function hasSlab(z: ZlibEngine, chunkSize: number): boolean {
  const s = z as unknown as ZlibSlab;
  return s._chunkSize === chunkSize && s._outOffset === 0 && Buffer.isBuffer(s._outBuffer) && s._outBuffer.length === chunkSize;
}

/** zstd level 3 with a content checksum, as the zstd CLI writes it by default; every write ends a frame (ZSTD_e_end). */
export function zstdEngineOptions(chunkSize: number): zlib.ZstdOptions {
  const c = zlib.constants;
  return { chunkSize, flush: c.ZSTD_e_end, params: { [c.ZSTD_c_compressionLevel]: 3, [c.ZSTD_c_checksumFlag]: 1 } };
}

/** Blocks below this size are always deflated (a small sample's entropy says little). */
const STORE_MIN = 64 * 1024;
/**
 * Order-0 entropy (bits per byte) from which a block is taken as incompressible:
 * random, encrypted or already compressed data measures 7.999+ on 1 MiB, while a
 * block with even a few percent of text, or the tar headers of small files, falls
 * clearly below. Deflate cannot shrink such a block either (it would itself emit
 * stored blocks) but spends as much time trying as on text (~45 ms per MiB here);
 * storing it costs a histogram and a copy.
 */
const STORE_ENTROPY = 7.99;
const PAGE = 4096;
const counts = new Uint32Array(1024);

/** Whether deflate would not shrink `block`: its byte entropy, sampled on every other 4 KiB page, is at least STORE_ENTROPY. */
export function incompressible(block: Buffer): boolean {
  if (block.length < STORE_MIN) return false;
  counts.fill(0);
  let n = 0;
  // four histograms, so that consecutive bytes do not wait on the same counter
  for (let p = 0; p < block.length; p += 2 * PAGE) {
    const end = p + (Math.min(block.length - p, PAGE) & ~3);
    for (let i = p; i < end; i += 4) {
      counts[block[i]!]!++;
      counts[256 + block[i + 1]!]!++;
      counts[512 + block[i + 2]!]!++;
      counts[768 + block[i + 3]!]!++;
    }
    n += end - p;
  }
  let bits = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]! + counts[256 + i]! + counts[512 + i]! + counts[768 + i]!;
    if (c > 0) bits -= c * Math.log2(c / n);
  }
  return bits / n >= STORE_ENTROPY;
}

export class ParallelCodec implements Codec {
  private readonly out: CodecOutput;
  private readonly engines: Engine[] = [];
  /** gzip ends each member with a flush (Z_FINISH) and a reset; a zstd write is a whole frame already. */
  private readonly gzip: boolean;
  /** Jobs in block order, emitted from the front once done. */
  private readonly jobs: Job[] = [];
  private ending: (() => void) | null = null;
  private readonly pool: OutputPool | null;
  /**
   * zstd with a pool: each engine's output slab holds a whole frame (ZSTD_compressBound of the
   * largest block) and is rewound after each frame, so that a frame is one call into libzstd
   * and one callback on the main thread, instead of one per 64 KiB of output.
   *
   * Why: with 64 KiB of output room zstd cannot compress straight into the output (it does
   * only with ZSTD_compressBound(input) of room), so it copied each block into its own input
   * buffer and its output through its own; and each 64 KiB of output came back to the main
   * thread before zstd went on, the engine idle meanwhile (a frame of random data made 9 such
   * round trips). Node's zlib stream writes output into a slab from `_outOffset` on and takes
   * a new slab only once the old one is full, so a large slab alone would start most frames
   * with too little room, and each slab, alive across several frames, was promoted and died
   * in the old generation (s6-zst: 1 MiB slabs, +4-10 MiB of peak RSS). Rewinding reuses the
   * one slab per engine for every frame: no output allocation at all. It is safe only because
   * the pool copies each chunk at once (the 'data' listener) and nothing stays buffered in the
   * stream (`readableLength` 0): no slice of the slab is referenced when it is rewound.
   * Without a pool the chunks are handed on as they are, so they keep 64 KiB of their own.
   */
  private readonly rewind: boolean;

  /**
   * With `pool`, each output chunk is copied into the pool's buffers as it comes (see output-pool.ts).
   * `maxBlock`: the largest block written (zstd: the frame slab's size, see `rewind`).
   */
  constructor(compression: 'gz' | 'zst', threads: number, out: CodecOutput, pool: OutputPool | null = null, maxBlock = 512 << 10) {
    this.out = out;
    this.pool = pool;
    this.gzip = compression === 'gz';
    const zstdChunk = pool ? zstdCompressBound(maxBlock) : CHUNK;
    let rewind = !this.gzip && pool !== null;
    for (let i = 0; i < Math.max(1, threads); i++) {
      let z = (this.gzip ? zlib.createGzip({ chunkSize: CHUNK }) : zlib.createZstdCompress(zstdEngineOptions(zstdChunk))) as ZlibEngine;
      if (rewind && !hasSlab(z, zstdChunk)) {
        // not the zlib stream this was written for: 64 KiB chunks, as without a pool
        z.destroy();
        z = zlib.createZstdCompress(zstdEngineOptions(CHUNK)) as ZlibEngine;
        rewind = false;
      }
      const e: Engine = { z, store: null, job: null };
      this.listen(e, z);
      this.engines.push(e);
    }
    this.rewind = rewind;
  }

  private listen(e: Engine, z: ZlibEngine): void {
    z.on('data', (chunk: Buffer) => {
      const job = e.job;
      if (!job) return;
      if (job.pooled) job.pooled.write(chunk);
      else job.chunks.push(chunk);
    });
    z.on('error', (err) => this.out.error(err));
  }

  private storeEngine(e: Engine): ZlibEngine {
    if (!e.store) {
      e.store = zlib.createGzip({ level: 0, chunkSize: CHUNK }) as ZlibEngine;
      this.listen(e, e.store);
    }
    return e.store;
  }

  canWrite(): boolean {
    return this.engines.some((e) => e.job === null);
  }

  write(block: Buffer, release: () => void): void {
    const e = this.engines.find((x) => x.job === null);
    if (!e) throw new Error('ParallelCodec.write while all engines are busy');
    const z = this.gzip && incompressible(block) ? this.storeEngine(e) : e.z;
    const job: Job = { chunks: [], pooled: this.pool ? new PooledWriter(this.pool) : null, done: false, release };
    e.job = job;
    this.jobs.push(job);
    // the member's / frame's output arrives (as 'data') before this callback
    const finished = (err?: Error | null) => {
      if (err || z.destroyed) return; // errors are also emitted as 'error'
      job.done = true;
      e.job = null;
      if (this.gzip)
        z.reset(); // the next member starts afresh
      else if (this.rewind && z.readableLength === 0) (z as unknown as ZlibSlab)._outOffset = 0;
      // zstd: the free engine takes its next block before this frame's output is pushed:
      // pushing runs SHA-256 and the consumer's stages synchronously, and the engine would
      // idle meanwhile (zst 613 MiB, 5 and 10 alternating pairs: wall -4 %, RSS +0.5-1 MiB).
      // gzip keeps the old order: there it cost +1.1 MiB of peak RSS on 2 threads (4 pairs),
      // which P5 (96 MiB) cannot afford.
      if (!this.gzip) this.out.ready();
      this.emitDone();
      if (this.gzip) this.out.ready();
    };
    if (this.gzip) {
      z.write(block);
      z.flush(zlib.constants.Z_FINISH, () => finished());
    } else {
      z.write(block, finished);
    }
  }

  end(done: () => void): void {
    this.ending = done;
    this.emitDone();
  }

  destroy(): void {
    for (const e of this.engines) {
      e.z.destroy();
      e.store?.destroy();
    }
  }

  private emitDone(): void {
    while (this.jobs.length > 0 && this.jobs[0]!.done) {
      const job = this.jobs.shift()!;
      if (job.pooled) job.pooled.emitTo(this.out.data);
      else for (const c of job.chunks) this.out.data(c);
      job.release();
    }
    if (this.ending && this.jobs.length === 0) {
      const done = this.ending;
      this.ending = null;
      this.destroy();
      done();
    }
  }
}
