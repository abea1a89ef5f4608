/**
 * createArchive: tar (worker thread) -> compression -> optional encryption ->
 * SHA-256 + byte count -> `stream`. Every stage is a stream with
 * backpressure; an error anywhere destroys the whole chain, errors `stream`
 * and rejects `done`.
 */
import { Readable, Transform, pipeline, type Duplex } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { UserError } from '../errors.ts';
import type { ArchiveOptions, ArchiveResult, ArchiveScan, ArchiveStream, ArchiveHeaderEntry } from './index.ts';
import { ParallelCodec } from './gzip-parallel.ts';
import { CopyCodec, type Codec, type CodecOutput } from './codec.ts';
import { OutputPool } from './output-pool.ts';
import { ABORT, USED } from './ring.ts';
import type { HeaderReply, TarWorkerData, WorkerCounts, WorkerMessage } from './tar-worker.ts';
import type { SourceRoot } from './walk.ts';
import { archiveNameOf, sourceOverlap } from './layout.ts';
import { startWorker, takeSpareWorker } from './spare.ts';

export { prestartArchiveWorker, type PrestartedWorker } from './spare.ts';
import { prescanOnSpare } from './spare.ts';

/**
 * Starts the pre-scan of an archive's sources on the waiting archive worker, before the archive
 * is made (run.ts, while the run sets up); the next createArchive() of the same sources with
 * `reuseScan` takes its counts. False when it could not be started (no waiting worker, bad sources).
 */
export function prescanSources(sources: string[], exclude: { readonly source: string } | null, archiveNames?: string[]): boolean {
  let roots: SourceRoot[];
  try {
    roots = resolveRoots(sources, archiveNames);
  } catch {
    return false;
  }
  return prescanOnSpare(roots, exclude ? { source: exclude.source } : null);
}

/** Tar bytes per block handed from the worker when each block becomes a gzip member of its own. */
const BLOCK_SIZE = 1 << 20;
/**
 * Tar bytes per zstd frame. 512 KiB instead of 1 MiB: each engine's zstd context is sized for
 * its frame (window and input buffer, ~1.5 MiB less per engine) and the ring's slots are half
 * as large. Measured (bundle, 613 MiB corpus, load 9-12): zst 2 threads 99-102 -> 95-96 MiB peak
 * RSS, zst 1 thread 94-96 -> 91-95, CPU the same or lower (3 alternating pairs, 1 thread: 7.7,
 * 6.5, 7.1 -> 7.7, 6.1, 6.6 s), output +0.15 % (450.49 -> 451.14 MB; 256 KiB frames: +0.8 %).
 */
const ZSTD_BLOCK_SIZE = 512 << 10;
/**
 * Tar bytes per block without compression, where block boundaries do not show in the output:
 * a ring of 1.25 MiB instead of 5, and a quarter of the bytes in flight and between GCs
 * (measured: uncompressed backups 103-106 -> 89-98 MiB peak RSS, CPU the same).
 */
const STREAM_BLOCK_SIZE = 256 << 10;
/** The worker's block size: with compression each block is a gzip member / zstd frame of its own (gzip-parallel.ts, on one thread too). */
export function archiveBlockSize(compression: 'none' | 'gz' | 'zst'): number {
  return compression === 'none' ? STREAM_BLOCK_SIZE : compression === 'zst' ? ZSTD_BLOCK_SIZE : BLOCK_SIZE;
}
/**
 * Ring slots: blocks being compressed (one per engine, gzip-parallel.ts; without compression
 * blocks are copied out at once, 2 kept for the consumer), one being filled, two queued.
 * (gz on one thread: 4 slots instead of 5, 102 instead of 103-104 MiB peak RSS, CPU the same.)
 */
export function ringSlots(compression: 'none' | 'gz' | 'zst', threads: number): number {
  return (compression === 'none' ? 2 : threads) + 3;
}
/**
 * A minor GC after this many output bytes (see `collectGarbage`): the output buffers are what
 * piles up between collections, and compression changes how many of them a block makes (a
 * stored gzip member is as large as its block, a member of text a quarter of it). Each
 * collection promotes what is still in flight (in the destination's stream buffers) to the
 * old generation, which only a major GC frees; so the spacing stays above the bytes a local
 * backup keeps in flight (~1-2 MiB). Measured (bundle, 200 MiB corpus, with the local
 * destination's 256 KiB write buffer; every 8 blocks before): gz on 1 thread 99-100 -> 92-93
 * MiB peak RSS, 2 threads 103-105 -> 97-101, zst 2 threads 107-108 -> 102-106, uncompressed
 * the same (it was every 2 MiB already); every 1 MiB instead promoted more (zst 98-119 MiB).
 */
export const GC_EVERY_BYTES = 2 << 20;
/**
 * With `collectPromoted` (archives written only to local files): a major GC when the memory
 * outside V8's heap (Buffers) grew this much since the last one. Output buffers still in flight
 * at two minor GCs are promoted and die in the old generation, which V8 collects by itself only
 * after ~64 MiB of them: the peak grew with the archive (zst 2 threads 104-108 MiB on the 200 MiB
 * bench corpus, 127-155 on 600 MiB, 127 on 1.7 GiB; gz 2 threads 144 on 1.7 GiB). 8 MiB: on
 * 600 MiB zst 2 threads 105-106 MiB (16 MiB: 111-113), CPU the same; measured in s5-mem's
 * section of bench/notes.md.
 */
export const PROMOTED_GC_GROWTH = 8 << 20;
/** Warning lines kept for RunStats; the rest is summarized. */
export const MAX_WARNINGS = 100;

export function createArchive(opts: ArchiveOptions): ArchiveStream {
  let roots: SourceRoot[];
  try {
    roots = resolveRoots(opts.sources, opts.archiveNames);
  } catch (err) {
    return failed(err as Error);
  }
  const log = opts.log;
  const warnings: string[] = [];
  let moreWarnings = 0;
  let counts: WorkerCounts | null = null;

  const threads = Math.max(1, Math.floor(opts.parallelism || 1));
  // reusable output buffers when the consumer reports its writes of the bytes as they are (no encryption in between)
  const pool = opts.recycleOutput && !opts.encrypt ? new OutputPool() : null;
  const makeCodec = (out: CodecOutput): Codec => {
    if (opts.compression === 'none') return new CopyCodec(out, pool);
    // gz and zst, on one thread or several: independent members (1 MiB) / frames (512 KiB) (gzip-parallel.ts)
    return new ParallelCodec(opts.compression, threads, out, pool, archiveBlockSize(opts.compression));
  };
  const source = new ArchiveSource(
    {
      roots,
      exclude: opts.exclude ? { source: opts.exclude.source } : null,
      blockSize: archiveBlockSize(opts.compression),
      slots: ringSlots(opts.compression, threads),
      scan: Boolean(opts.header),
      reuseScan: Boolean(opts.reuseScan),
    },
    makeCodec,
    {
      header: async (scan) => (opts.header ? await opts.header(scan) : null),
      skipped: (path, kind) => {
        if (kind.startsWith('excluded')) log.debug({ path }, `skipped (${kind})`);
        else log.info({ path, kind }, `skipped ${kind} (not archived)`);
      },
      unreadable: (path, reason) => {
        log.warn({ path, reason }, 'file could not be archived completely');
        if (warnings.length < MAX_WARNINGS) warnings.push(`${path}: ${reason}`);
        else moreWarnings++;
      },
      done: (c) => {
        counts = c;
      },
    },
    opts.collectPromoted,
  );

  const hash = createHash('sha256');
  let size = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });

  let stages: Duplex[];
  try {
    stages = opts.encrypt ? [opts.encrypt()] : [];
  } catch (err) {
    source.destroy();
    return failed(err as Error);
  }

  const done = new Promise<ArchiveResult>((resolveDone, rejectDone) => {
    let piped = false;
    let ended = false;
    let settled = false;
    const finish = () => {
      if (settled || !piped || !ended || !counts) return;
      settled = true;
      const warningLines = moreWarnings > 0 ? [...warnings, `... and ${moreWarnings} more`] : warnings;
      const result: ArchiveResult = { ...counts, warnings: warningLines, size, sha256: hash.digest('hex') };
      log.debug({ files: result.files, bytesRead: result.bytesRead, size, unreadable: result.unreadable }, 'archive written');
      resolveDone(result);
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      if (!out.destroyed) out.destroy(err);
      rejectDone(err);
    };
    out.once('end', () => {
      ended = true;
      finish();
    });
    pipeline([source, ...stages, out] as unknown as [Readable, Transform], (err) => {
      if (err) fail(err);
      else {
        piped = true;
        finish();
      }
    });

    const signal = opts.signal;
    if (signal) {
      const onAbort = () => {
        const reason = signal.reason instanceof Error ? signal.reason : new Error('archive aborted');
        source.destroy(reason);
        fail(reason);
      };
      if (signal.aborted) queueMicrotask(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        out.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  });
  // The caller learns of failures from `done` or `stream`; never crash on an unobserved rejection.
  done.catch(() => {});
  return {
    stream: out,
    done,
    progress: () => ({ files: source.files, bytesRead: source.bytesRead, size, total: source.total }),
    ...(pool ? { written: (bytes: number) => pool.written(bytes) } : {}),
  };
}

/**
 * Absolute source paths with their names inside the archive: the path without
 * its leading slash (`/backup/app` -> `backup/app/...`), as offen stores them.
 * Sources must not overlap (one inside another would be stored twice).
 */
export function resolveRoots(sources: string[], names?: string[]): SourceRoot[] {
  if (sources.length === 0) throw new UserError('no backup sources given', 'set BACKUP_SOURCES to the directories to back up');
  const problem = sourceOverlap(names ?? sources);
  if (problem) throw new UserError(problem, 'give BACKUP_SOURCES paths that do not contain one another');
  return sources.map((s, i) => {
    const path = resolve(s);
    return { path, name: archiveNameOf(names?.[i] ?? path) };
  });
}

function failed(err: Error): ArchiveStream {
  const stream = new Readable({ read() {} });
  stream.destroy(err);
  const done = Promise.reject(err);
  done.catch(() => {});
  return { stream, done, progress: () => ({ files: 0, bytesRead: 0, size: 0 }) };
}

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void;
let gcFunction: GcFunction | null | undefined;
const collections = { minor: 0, major: 0 };

/** How many times collectGarbage() was called in this process (tests). */
export function garbageCollections(type: 'minor' | 'major' = 'minor'): number {
  return collections[type];
}

/**
 * V8 frees a Buffer's memory only when it collects the small JS object that
 * owns it, and lets tens of MiB of such unreferenced memory pile up before it
 * does so on its own. Streaming at hundreds of MiB/s (compressed output, or
 * the copies of uncompressed blocks), that slack would be most of the
 * archive's footprint; a young-generation GC every GC_EVERY_BYTES of output
 * (well under a millisecond with the small heaps here) keeps it flat. The `gc` function
 * comes from the --expose-gc/vm idiom (as Jest uses it); without it nothing
 * happens. `major` collects the old generation too (Buffers that lived long
 * enough to be promoted: staged-file.ts asks for it when they pile up).
 */
export function collectGarbage(type: 'minor' | 'major' = 'minor'): void {
  if (gcFunction === undefined) {
    const existing = (globalThis as { gc?: unknown }).gc;
    try {
      if (typeof existing !== 'function') setFlagsFromString('--expose-gc');
      const fn = typeof existing === 'function' ? existing : runInNewContext('gc');
      gcFunction = typeof fn === 'function' ? (fn as GcFunction) : null;
    } catch {
      gcFunction = null;
    }
  }
  collections[type]++;
  gcFunction?.({ type });
}

interface SourceEvents {
  header(scan: ArchiveScan): Promise<ArchiveHeaderEntry | null>;
  skipped(path: string, kind: string): void;
  unreadable(path: string, reason: string): void;
  done(counts: WorkerCounts): void;
}

/**
 * The archive bytes as a Readable: tar blocks from the worker's shared ring
 * go through the codec (compression) and come out here. Backpressure: when
 * the consumer stops reading, no more blocks go to the codec, ring slots stay
 * taken, and the worker waits.
 */
class ArchiveSource extends Readable {
  private readonly worker: Worker;
  private readonly ctl: Int32Array;
  private readonly ring: SharedArrayBuffer;
  private readonly blockSize: number;
  private readonly events: SourceEvents;
  private readonly codec: Codec;
  /** Filled blocks not yet handed to the codec. */
  private readonly queue: Buffer[] = [];
  private wanted = false;
  /** Progress: files and content bytes archived so far (as of the last block). */
  files = 0;
  /** What the pre-scan counted (null until it ran, or without a scan). */
  total: { files: number; bytes: number } | null = null;
  bytesRead = 0;
  /** Output bytes since the last collectGarbage(). */
  private sinceGc = 0;
  /** collectPromoted: the external memory after the last major GC (-1: none yet). */
  private externalAfterMajor = -1;
  private readonly collectPromoted: boolean;
  private workerDone = false;
  private ending = false;

  constructor(data: Omit<TarWorkerData, 'control' | 'ring'>, makeCodec: (out: CodecOutput) => Codec, events: SourceEvents, collectPromoted = false) {
    super();
    this.events = events;
    this.collectPromoted = collectPromoted;
    this.blockSize = data.blockSize;
    const control = new SharedArrayBuffer(8);
    this.ctl = new Int32Array(control);
    this.ring = new SharedArrayBuffer(data.slots * data.blockSize);
    this.codec = makeCodec({
      data: (chunk) => {
        this.sinceGc += chunk.length;
        if (this.sinceGc >= GC_EVERY_BYTES) {
          this.sinceGc = 0;
          collectGarbage();
          if (this.collectPromoted) this.collectPromotedBuffers();
        }
        if (!this.destroyed && !this.push(chunk)) this.wanted = false;
      },
      error: (err) => this.destroy(err),
      ready: () => this.pump(),
    });
    this.worker = takeSpareWorker() ?? startWorker();
    this.worker.postMessage({ ...data, ring: this.ring, control } satisfies TarWorkerData);
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.worker.on('error', (err) => this.destroy(err));
    this.worker.on('exit', (code) => {
      if (!this.workerDone && !this.destroyed) this.destroy(new Error(`archive worker exited unexpectedly (code ${code})`));
    });
  }

  /** After a minor GC: a major one when promoted Buffers piled up (PROMOTED_GC_GROWTH). */
  private collectPromotedBuffers(): void {
    const external = getHeapStatistics().external_memory;
    if (this.externalAfterMajor < 0 || external < this.externalAfterMajor) this.externalAfterMajor = external;
    else if (external > this.externalAfterMajor + PROMOTED_GC_GROWTH) {
      collectGarbage('major');
      this.externalAfterMajor = getHeapStatistics().external_memory;
    }
  }

  override _read(): void {
    this.wanted = true;
    this.pump();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    Atomics.store(this.ctl, ABORT, 1);
    Atomics.notify(this.ctl, USED);
    this.queue.length = 0;
    void this.worker.terminate();
    this.codec.destroy();
    cb(err);
  }

  /** Frees the oldest ring slot (codecs release in block order). */
  private readonly release = (): void => {
    Atomics.sub(this.ctl, USED, 1);
    Atomics.notify(this.ctl, USED);
  };

  private pump(): void {
    if (this.destroyed) return;
    while (this.wanted && this.queue.length > 0 && this.codec.canWrite()) {
      this.codec.write(this.queue.shift()!, this.release);
    }
    if (this.workerDone && this.queue.length === 0 && !this.ending) {
      this.ending = true;
      this.codec.end(() => {
        if (!this.destroyed) this.push(null);
      });
    }
  }

  private onMessage(m: WorkerMessage): void {
    if (this.destroyed) return;
    switch (m.t) {
      case 'block':
        this.files = m.files;
        this.bytesRead = m.bytesRead;
        this.queue.push(Buffer.from(this.ring, m.slot * this.blockSize, m.length));
        this.pump();
        break;
      case 'scan':
        this.total = { files: m.scan.files, bytes: m.scan.bytes };
        this.events
          .header(m.scan)
          .then((entry) => {
            if (entry && (typeof entry.name !== 'string' || !entry.name || entry.name.startsWith('/') || entry.name.split('/').includes('..'))) {
              throw new Error(`archive header entry has an invalid name: ${JSON.stringify(entry.name)}`);
            }
            const reply: HeaderReply = { entry: entry ? { name: entry.name, data: entry.data } : null };
            if (!this.destroyed) this.worker.postMessage(reply);
          })
          .catch((err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))));
        break;
      case 'prescanned':
        // the pre-scan before the job ended after this archive took the worker
        break;
      case 'skipped':
        this.events.skipped(m.path, m.kind);
        break;
      case 'unreadable':
        this.events.unreadable(m.path, m.reason);
        break;
      case 'done':
        this.events.done(m.counts);
        this.workerDone = true;
        this.pump();
        break;
      case 'error':
        this.destroy(workerError(m));
        break;
    }
  }
}

function workerError(m: Extract<WorkerMessage, { t: 'error' }>): Error {
  if (m.missingSource && m.path) {
    return new UserError(m.message, 'check BACKUP_SOURCES and that the volume is mounted into this container');
  }
  const where = m.path && !m.message.includes(m.path) ? ` (${m.path})` : '';
  const err = new Error(`archiving failed: ${m.message}${where}`) as NodeJS.ErrnoException;
  if (m.code) err.code = m.code;
  return err;
}
