/**
 * createArchive: tar (worker thread) -> compression -> optional encryption ->
 * SHA-256 + byte count -> `stream`. Every stage is a stream with
 * backpressure; an error anywhere destroys the whole chain, errors `stream`
 * and rejects `done`.
 */
import { Readable, Transform, pipeline, type Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { basename, resolve } from 'node:path';
import { UserError } from '../errors.ts';
import type { ArchiveOptions, ArchiveResult, ArchiveScan, ArchiveStream, ArchiveHeaderEntry } from './index.ts';
import { ParallelGzip } from './gzip-parallel.ts';
import { ABORT, INFLIGHT, type HeaderReply, type TarWorkerData, type WorkerCounts, type WorkerMessage } from './tar-worker.ts';
import type { SourceRoot } from './walk.ts';

/** Tar bytes per block handed from the worker (also the parallel gzip member size). */
const BLOCK_SIZE = Number(process.env.BS ?? 1 << 20);
/** Blocks the worker may have posted but the stream not yet taken. */
const MAX_IN_FLIGHT = 4;
/** Warning lines kept for RunStats; the rest is summarized. */
export const MAX_WARNINGS = 100;
/** Output chunk size of the zlib streams (fewer, larger chunks downstream). */
const ZLIB_CHUNK = 128 * 1024;

export function createArchive(opts: ArchiveOptions): ArchiveStream {
  let roots: SourceRoot[];
  try {
    roots = resolveRoots(opts.sources);
  } catch (err) {
    return failed(err as Error);
  }
  const log = opts.log;
  const warnings: string[] = [];
  let moreWarnings = 0;
  let counts: WorkerCounts | null = null;

  const source = new TarSource(
    {
      roots,
      exclude: opts.exclude ? { source: opts.exclude.source, flags: opts.exclude.flags } : null,
      blockSize: BLOCK_SIZE,
      maxInFlight: MAX_IN_FLIGHT,
      scan: Boolean(opts.header),
    },
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
      done: (c) => { counts = c; },
    },
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
    stages = [...compressor(opts), ...(opts.encrypt ? [opts.encrypt()] : [])];
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
    out.once('end', () => { ended = true; finish(); });
    pipeline([source, ...stages, out] as unknown as [Readable, Transform], (err) => {
      if (err) fail(err);
      else { piped = true; finish(); }
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
  return { stream: out, done };
}

function compressor(opts: ArchiveOptions): Duplex[] {
  const threads = Math.max(1, Math.floor(opts.parallelism || 1));
  switch (opts.compression) {
    case 'none':
      return [];
    case 'gz':
      return [threads > 1 ? new ParallelGzip({ threads, blockSize: BLOCK_SIZE }) : zlib.createGzip({ chunkSize: ZLIB_CHUNK })];
    case 'zst': {
      const c = zlib.constants;
      return [zlib.createZstdCompress({
        chunkSize: ZLIB_CHUNK,
        params: {
          [c.ZSTD_c_compressionLevel]: 3,
          [c.ZSTD_c_checksumFlag]: 1,
          ...(threads > 1 ? { [c.ZSTD_c_nbWorkers]: threads } : {}),
        },
      })];
    }
  }
}

/** Absolute source paths with their top-level names; names must be distinct. */
export function resolveRoots(sources: string[]): SourceRoot[] {
  if (sources.length === 0) throw new UserError('no backup sources given', 'set BACKUP_SOURCES to the directories to back up');
  const byName = new Map<string, string>();
  return sources.map((s) => {
    const path = resolve(s);
    const name = basename(path);
    if (!name) throw new UserError(`backup source ${s} has no base name to store it under`, 'mount the data below a named directory, e.g. /backup/data');
    const other = byName.get(name);
    if (other !== undefined) {
      throw new UserError(`backup sources ${other} and ${path} would both be stored as "${name}/" in the archive`, 'give the sources distinct base names');
    }
    byName.set(name, path);
    return { path, name };
  });
}

function failed(err: Error): ArchiveStream {
  const stream = new Readable({ read() {} });
  stream.destroy(err);
  const done = Promise.reject(err);
  done.catch(() => {});
  return { stream, done };
}

interface SourceEvents {
  header(scan: ArchiveScan): Promise<ArchiveHeaderEntry | null>;
  skipped(path: string, kind: string): void;
  unreadable(path: string, reason: string): void;
  done(counts: WorkerCounts): void;
}

/** The tar bytes from the worker thread as a Readable; its consumption paces the worker. */
class TarSource extends Readable {
  private readonly worker: Worker;
  private readonly ctl: Int32Array;
  private readonly events: SourceEvents;
  private readonly queue: Buffer[] = [];
  private wanted = false;
  private finished = false;
  private ended = false;

  constructor(data: Omit<TarWorkerData, 'control'>, events: SourceEvents) {
    super();
    this.events = events;
    const control = new SharedArrayBuffer(8);
    this.ctl = new Int32Array(control);
    this.worker = new Worker(new URL('./tar-worker.ts', import.meta.url), {
      workerData: { ...data, control } satisfies TarWorkerData,
      resourceLimits: process.env.YG ? { maxYoungGenerationSizeMb: Number(process.env.YG) } : undefined,
    });
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.worker.on('error', (err) => this.destroy(err));
    this.worker.on('exit', (code) => {
      if (!this.finished && !this.destroyed) this.destroy(new Error(`archive worker exited unexpectedly (code ${code})`));
    });
  }

  override _read(): void {
    this.wanted = true;
    this.drain();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    Atomics.store(this.ctl, ABORT, 1);
    Atomics.notify(this.ctl, INFLIGHT);
    this.queue.length = 0;
    void this.worker.terminate();
    cb(err);
  }

  private drain(): void {
    while (this.wanted && this.queue.length > 0) {
      const block = this.queue.shift()!;
      Atomics.sub(this.ctl, INFLIGHT, 1);
      Atomics.notify(this.ctl, INFLIGHT);
      this.wanted = this.push(block);
    }
    if (this.finished && this.queue.length === 0 && !this.ended) {
      this.ended = true;
      this.push(null);
    }
  }

  private onMessage(m: WorkerMessage): void {
    if (this.destroyed) return;
    switch (m.t) {
      case 'block':
        this.queue.push(Buffer.from(m.block, 0, m.length));
        this.drain();
        break;
      case 'scan':
        this.events.header(m.scan).then(
          (entry) => {
            if (entry && (typeof entry.name !== 'string' || !entry.name || entry.name.startsWith('/') || entry.name.split('/').includes('..'))) {
              throw new Error(`archive header entry has an invalid name: ${JSON.stringify(entry.name)}`);
            }
            const reply: HeaderReply = { entry: entry ? { name: entry.name, data: entry.data } : null };
            if (!this.destroyed) this.worker.postMessage(reply);
          },
        ).catch((err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))));
        break;
      case 'skipped':
        this.events.skipped(m.path, m.kind);
        break;
      case 'unreadable':
        this.events.unreadable(m.path, m.reason);
        break;
      case 'done':
        this.events.done(m.counts);
        this.finished = true;
        this.drain();
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
