/**
 * gzip on several threads: each tar block is compressed into an independent
 * gzip member by one of `threads` long-lived zlib engines (their work runs
 * concurrently on libuv's threadpool), and members are emitted in block
 * order. Concatenated members are one valid gzip stream (RFC 1952 section
 * 2.2) that every gunzip (GNU gzip, pigz, Node's zlib) reads as a whole. One
 * block per engine is in flight, so memory is bounded; engines are reset, not
 * re-created, between members.
 *
 * zstd is not done this way on purpose: independent zstd frames are valid,
 * but Node's own zstd decompressor (v24) stops after the first frame when
 * several arrive in one chunk, so a Node-based restore could silently
 * truncate such an archive.
 *
 * libuv's threadpool has UV_THREADPOOL_SIZE threads (default 4), shared with
 * async fs and dns: more engines than that only queue.
 */
import * as zlib from 'node:zlib';
import type { Codec, CodecOutput } from './codec.ts';

interface Job {
  chunks: Buffer[];
  done: boolean;
  release: () => void;
}

type ZlibEngine = zlib.Gzip & { reset(): void }; // reset() is missing from @types/node

interface Engine {
  z: ZlibEngine;
  job: Job | null;
}

export class ParallelGzipCodec implements Codec {
  private readonly out: CodecOutput;
  private readonly engines: Engine[] = [];
  /** Jobs in block order, emitted from the front once done. */
  private readonly jobs: Job[] = [];
  private ending: (() => void) | null = null;

  constructor(threads: number, out: CodecOutput) {
    this.out = out;
    for (let i = 0; i < Math.max(1, threads); i++) {
      const z = zlib.createGzip({ chunkSize: 64 * 1024 }) as ZlibEngine;
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
    if (!e) throw new Error('ParallelGzipCodec.write while all engines are busy');
    const job: Job = { chunks: [], done: false, release };
    e.job = job;
    this.jobs.push(job);
    e.z.write(block);
    // Z_FINISH ends the member (its output arrives before this callback); reset starts the next.
    e.z.flush(zlib.constants.Z_FINISH, () => {
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
