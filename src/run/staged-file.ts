/**
 * A file written once and read by several "followers" while it is still being written.
 *
 * The writer appends through `writable()`; each `follow()` stream reads the file from the
 * start with its own file descriptor and, when it has caught up with the writer, waits
 * for more data (no polling: the writer wakes it after every completed write). A
 * follower ends only once the writer called `complete()`, and errors with the writer's
 * error once `fail()` was called. Backpressure: a follower reads only when its consumer
 * asks for data (Readable's high-water mark), so a slow consumer never holds more than
 * about one chunk in memory; the file on disk is the buffer between the writer and the
 * followers.
 *
 * Reused chunks: a consumer may report, with the follower's `written(bytes)`, that it no longer
 * holds any of the stream's first `bytes` bytes (it copied or wrote them: UploadOptions.written);
 * the follower then reads into those chunks' buffers again (a few per follower) instead of
 * fresh ones. A consumer that never reports gets a fresh buffer per chunk, as before; a
 * buffer is reused only once a report covers every byte it was pushed with.
 *
 * Memory: followers read in chunks of 256 KiB (a consumer buffers a chunk or two: a quarter
 * of what 1 MiB chunks cost per destination), and every 1 MiB read by all followers
 * together a young-generation GC frees the chunks already consumed (see the archive's
 * collectGarbage: V8 otherwise lets tens of MiB of dead Buffers pile up; with S3 and a
 * local copy of 512 MiB that was 20-30 MiB of the peak RSS).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { getHeapStatistics } from 'node:v8';
import { collectGarbage } from '../archive/create.ts';

const CHUNK = 256 << 10;
/** Buffers a follower keeps for reuse (see `Follower.written`). */
const REUSE_KEEP = 8;
/**
 * Chunks a follower remembers for reuse until a consumer's report covers them: a consumer that
 * never reports (or reports rarely) keeps no more than this many dead chunks alive.
 */
const REUSE_TRACK = 16;

/** A follower: the file's bytes as a stream, and the consumer's report of what it no longer holds. */
export interface Follower extends Readable {
  /**
   * The consumer holds none of the stream's first `bytes` bytes any more (copied, hashed or
   * written): their buffers may be read into again. Reports must only cover bytes the consumer
   * has taken from the stream and let go of entirely, views (subarray) included.
   */
  written(bytes: number): void;
}
/**
 * A minor GC after this many bytes read by all followers together. V8 starts a major GC by
 * itself whenever its old generation plus the Buffer memory allocated since its last major GC
 * reaches its limit, which with this heap (~11 MB live) is only ~9 MB above the live size; the
 * Buffers a destination makes per byte (SFTP: ssh2's packet and its ciphertext, ~2 more per
 * byte sent) count until a young GC frees them. With a young GC every 4 MiB read, SFTP made
 * ~12 MB of them in between and V8 ran 60-90 major GCs per 512 MiB (`--trace-incremental-marking`:
 * "Start (allocation limit)"), 150-190 with local + S3 + SFTP (with the forced ones below);
 * every 1 MiB: 1 in SFTP alone, ~55 in all three, GC time 7.9 -> 3.9 s, offsite CPU 15.3 -> 11.8 s
 * (bench/notes.md, s6-dest). Since followers read into reused buffers (their consumers report
 * what they let go of), they make little garbage themselves: every 2 MiB, local + S3 + SFTP ran
 * ~1,000 forced minors instead of ~1,800 per 512 MiB, with ~10 majors either way (s7-dest).
 */
const GC_EVERY_BYTES = 2 << 20;
/** A major GC when the memory outside V8's heap (Buffers) grew this much since the last one. */
const MAJOR_GC_EXTERNAL_GROWTH = 16 << 20;
let readSinceGc = 0;
let externalAfterMajor = -1;

/**
 * The minor GC frees the Buffers that died young. Those that lived through two minor GCs
 * first (chunks queued in a socket or a pipe for a few MiB: S3's part bodies, SFTP's
 * write window) are promoted, and V8 frees them only at a major GC, which it starts by
 * itself only after some 64 MiB of such memory. A major GC whenever the external memory
 * grew by MAJOR_GC_EXTERNAL_GROWTH since the last one keeps that slack at 16 MiB; it
 * costs a few ms (the heap is small) and runs only as often as Buffers are promoted.
 */
function collectStagedGarbage(): void {
  collectGarbage();
  const external = getHeapStatistics().external_memory;
  if (externalAfterMajor < 0) externalAfterMajor = external;
  else if (external > externalAfterMajor + MAJOR_GC_EXTERNAL_GROWTH) {
    collectGarbage('major');
    externalAfterMajor = getHeapStatistics().external_memory;
  } else if (external < externalAfterMajor) externalAfterMajor = external;
}

export class StagedFile {
  readonly path: string;
  private readonly fh: FileHandle;
  private length = 0;
  private state: 'writing' | 'complete' | 'failed' = 'writing';
  private failure: unknown = null;
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private settle!: () => void;
  /** Resolves once the file is complete or failed. */
  readonly settled = new Promise<void>((resolve) => {
    this.settle = resolve;
  });
  private onWritten: ((bytes: number) => void) | null = null;
  /** Set when writing to the file itself failed (disk full, ...), as opposed to the data source. */
  writeError: unknown = null;

  private constructor(path: string, fh: FileHandle) {
    this.path = path;
    this.fh = fh;
  }

  /** Create the file (exclusively, mode 0600). Rejects when it cannot be created. */
  static async create(path: string): Promise<StagedFile> {
    return new StagedFile(path, await open(path, 'wx', 0o600));
  }

  /** Bytes written so far (all of them visible to followers). */
  get written(): number {
    return this.length;
  }
  get isComplete(): boolean {
    return this.state === 'complete';
  }
  get isFailed(): boolean {
    return this.state === 'failed';
  }
  get error(): unknown {
    return this.failure;
  }

  /**
   * The writing end. Call `complete()` or `fail()` once the data source is done. `written` is
   * told the bytes written so far after each write to the file: the chunks up to there are no
   * longer held (their source may reuse them: ArchiveStream.written).
   */
  writable(written?: (bytes: number) => void): Writable {
    this.onWritten = written ?? null;
    return new Writable({
      highWaterMark: CHUNK,
      write: (chunk: Buffer, _enc, cb) => {
        this.append([chunk]).then(
          () => cb(),
          (e: unknown) => {
            this.writeError ??= e;
            cb(e as Error);
          },
        );
      },
      // chunks that queued up while a write was running go out in one call
      writev: (chunks, cb) => {
        this.append(chunks.map((c) => c.chunk as Buffer)).then(
          () => cb(),
          (e: unknown) => {
            this.writeError ??= e;
            cb(e as Error);
          },
        );
      },
    });
  }

  private async append(bufs: Buffer[]): Promise<void> {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    let done = (await this.fh.writev(bufs, this.length)).bytesWritten;
    // a short write (rare): write the rest buffer by buffer
    for (let i = 0, start = 0; done < total && i < bufs.length; start += bufs[i]!.length, i++) {
      const b = bufs[i]!;
      while (done < start + b.length && done >= start) {
        const { bytesWritten } = await this.fh.write(b, done - start, start + b.length - done, this.length + done);
        done += bytesWritten;
      }
    }
    this.length += total;
    this.onWritten?.(this.length);
    this.wake();
  }

  /** Every byte is written: followers end once they have read them all. */
  async complete(): Promise<void> {
    if (this.state !== 'writing') return;
    await this.closeWriter();
    this.state = 'complete';
    this.wake();
    this.settle();
  }

  /** The data is incomplete for good: every follower errors with `err`. */
  fail(err: unknown): void {
    if (this.state !== 'writing') return;
    this.state = 'failed';
    this.failure = err;
    this.wake();
    this.settle();
    this.closeWriter().catch(() => {});
  }

  private async closeWriter(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** A stream of the file's bytes from the start, following the writer until it completes or fails. */
  follow(): Follower {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const file = this;
    let fh: FileHandle | null = null;
    let pos = 0;
    /** Chunks pushed and not yet covered by a report, oldest first: their buffers and where they end in the stream. */
    const pushed: { buf: Buffer; end: number }[] = [];
    /** Buffers no consumer holds any more, ready to be read into. */
    const free: Buffer[] = [];
    let reported = 0;
    let wakeMe: (() => void) | null = null;
    const waitForMore = () =>
      new Promise<void>((resolve) => {
        wakeMe = () => {
          wakeMe = null;
          resolve();
        };
        file.waiters.add(wakeMe);
      });
    const stream: Readable = new Readable({
      highWaterMark: CHUNK,
      construct(cb) {
        open(file.path, 'r').then(
          (h) => {
            fh = h;
            cb();
          },
          (e: Error) => cb(e),
        );
      },
      read() {
        (async () => {
          for (;;) {
            if (stream.destroyed) return;
            if (file.state === 'failed') {
              stream.destroy(file.failure as Error);
              return;
            }
            const available = file.length - pos;
            // read in large chunks: while the writer is busy, wait until a whole chunk is there
            if (available >= CHUNK || (available > 0 && file.state !== 'writing')) {
              const len = Math.min(available, CHUNK);
              const buf = free.pop() ?? Buffer.allocUnsafe(CHUNK);
              const { bytesRead } = await fh!.read(buf, 0, len, pos);
              if (stream.destroyed) return;
              if (bytesRead === 0) throw new Error(`${file.path} is shorter than what was written to it`);
              pos += bytesRead;
              // remembered for reuse (the oldest forgotten when no report comes: the GC frees it)
              pushed.push({ buf, end: pos });
              if (pushed.length > REUSE_TRACK) pushed.shift();
              readSinceGc += bytesRead;
              if (readSinceGc >= GC_EVERY_BYTES) {
                readSinceGc = 0;
                collectStagedGarbage();
              }
              stream.push(bytesRead < CHUNK ? buf.subarray(0, bytesRead) : buf);
              return;
            }
            if (file.state === 'complete') {
              stream.push(null);
              return;
            }
            await waitForMore();
          }
        })().catch((e: Error) => stream.destroy(e));
      },
      destroy(err, cb) {
        pushed.length = 0;
        free.length = 0;
        if (wakeMe) {
          file.waiters.delete(wakeMe);
          wakeMe();
        }
        const h = fh;
        fh = null;
        if (!h) return cb(err);
        h.close().then(
          () => cb(err),
          () => cb(err),
        );
      },
    });
    const follower = stream as Follower;
    follower.written = (bytes: number) => {
      if (!(bytes > reported) || stream.destroyed) return;
      reported = Math.min(bytes, pos);
      while (pushed.length > 0 && pushed[0]!.end <= reported) {
        const { buf } = pushed.shift()!;
        if (free.length < REUSE_KEEP) free.push(buf);
      }
    };
    return follower;
  }
}
