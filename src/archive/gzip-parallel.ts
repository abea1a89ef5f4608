/**
 * gzip or zstd on several threads: each tar block is compressed into an
 * independent gzip member / zstd frame by one of `threads` long-lived zlib
 * engines (their work runs concurrently on libuv's threadpool), and members
 * are emitted in block order. One block per engine is in flight, so memory is
 * bounded by the thread count; engines are reset, not re-created, between
 * members.
 *
 * - gzip: concatenated members are one valid gzip stream (RFC 1952 section
 *   2.2) that every gunzip (GNU gzip, pigz, Node's zlib) reads as a whole.
 * - zstd: concatenated frames are one valid zstd stream (RFC 8878 section 3.1)
 *   that the zstd CLI (and so `tar --zstd`) reads as a whole. Node's own
 *   ZstdDecompress stops after the first frame when several arrive in one
 *   chunk, so offsite's restore/verify decode frame by frame (zstd.ts); each
 *   frame carries its own content checksum (XXH64) as the CLI writes it.
 *
 * libuv's threadpool has UV_THREADPOOL_SIZE threads (default 4, 8 in the
 * image), shared with async fs and dns: more engines than that only queue.
 */
import * as zlib from 'node:zlib';
import type { Codec, CodecOutput } from './codec.ts';

interface Job {
  chunks: Buffer[];
  done: boolean;
  release: () => void;
}

type ZlibEngine = (zlib.Gzip | zlib.ZstdCompress) & { reset(): void }; // reset() is missing from @types/node

interface Engine {
  z: ZlibEngine;
  job: Job | null;
}

/** zstd level 3 with a content checksum, as the zstd CLI writes it by default. */
export function zstdEngineOptions(chunkSize: number): zlib.ZstdOptions {
  const c = zlib.constants;
  return { chunkSize, params: { [c.ZSTD_c_compressionLevel]: 3, [c.ZSTD_c_checksumFlag]: 1 } };
}

export class ParallelCodec implements Codec {
  private readonly out: CodecOutput;
  private readonly engines: Engine[] = [];
  /** zlib flush mode that ends a member / frame. */
  private readonly finish: number;
  /** Jobs in block order, emitted from the front once done. */
  private readonly jobs: Job[] = [];
  private ending: (() => void) | null = null;

  constructor(compression: 'gz' | 'zst', threads: number, out: CodecOutput) {
    this.out = out;
    this.finish = compression === 'gz' ? zlib.constants.Z_FINISH : zlib.constants.ZSTD_e_end;
    for (let i = 0; i < Math.max(1, threads); i++) {
      const z = (compression === 'gz' ? zlib.createGzip({ chunkSize: 64 * 1024 }) : zlib.createZstdCompress(zstdEngineOptions(64 * 1024))) as ZlibEngine;
      const e: Engine = { z, job: null };
      z.on('data', (chunk: Buffer) => e.job?.chunks.push(chunk));
      z.on('error', (err) => out.error(err));
      this.engines.push(e);
    }
  }

  canWrite(): boolean {
    return this.engines.some((e) => e.job === null);
  }

  write(block: Buffer, release: () => void): void {
    const e = this.engines.find((x) => x.job === null);
    if (!e) throw new Error('ParallelCodec.write while all engines are busy');
    const job: Job = { chunks: [], done: false, release };
    e.job = job;
    this.jobs.push(job);
    e.z.write(block);
    // Z_FINISH / ZSTD_e_end ends the member (its output arrives before this callback); reset starts the next.
    e.z.flush(this.finish, () => {
      if (e.z.destroyed) return;
      job.done = true;
      e.job = null;
      e.z.reset();
      this.emitDone();
      this.out.ready();
    });
  }

  end(done: () => void): void {
    this.ending = done;
    this.emitDone();
  }

  destroy(): void {
    for (const e of this.engines) e.z.destroy();
  }

  private emitDone(): void {
    while (this.jobs.length > 0 && this.jobs[0]!.done) {
      const job = this.jobs.shift()!;
      for (const c of job.chunks) this.out.data(c);
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

/** Parallel gzip (kept for its tests and callers). */
export class ParallelGzipCodec extends ParallelCodec {
  constructor(threads: number, out: CodecOutput) {
    super('gz', threads, out);
  }
}
