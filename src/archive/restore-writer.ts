/**
 * The main thread's side of the restore's writer thread (restore-worker.ts): file
 * content is copied into a ring of shared memory and the operations are posted in
 * batches, in archive order. Nothing here decides what is written: extract.ts checks
 * every entry first, exactly as when it wrote the files itself.
 *
 * Errors of the writer arrive later than the entry that caused them: `failure` holds
 * the first one (extract.ts checks it after each entry), and `settle()` waits until
 * everything posted is written and throws it. Memory: the ring (RING bytes) and at most
 * one batch of operations.
 */
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.ts';
import { FREED, STOP, type FileMeta, type FromWorker, type RestoreWorkerData, type ToWorker, type WriteFailure, type WriteOp } from './restore-worker.ts';

/** File content in flight to the writer thread. */
export const RING = 2 * 1024 * 1024;
/** A piece of a large file is written in parts of at most this many bytes (a quarter of the ring at most). */
const MAX_PIECE = 1024 * 1024;
/** A batch is posted when it holds this many operations or bytes (or when the main thread waits for input). */
const BATCH_OPS = 256;
const BATCH_BYTES = 512 * 1024;
/** Ring space each operation counts for besides its content, so operations without content are bounded too. */
const OP_COST = 512;

export class RestoreWriter {
  private readonly worker: Worker;
  private readonly ring: Buffer;
  private readonly ctl: BigInt64Array;
  private readonly size: number;
  private readonly maxPiece: number;
  /** Ring bytes handed out so far (the next position is `pos % RING`). */
  private pos = 0;
  private batch: WriteOp[] = [];
  private batchBytes = 0;
  private syncs = new Map<number, () => void>();
  private nextSync = 0;
  private exited = false;
  private ending = false;
  /** The writer's first failure, as the error extract.ts throws. */
  failure: Error | null = null;

  /** `ringBytes`: RING, smaller in tests. */
  constructor(
    staging: string,
    owners: boolean,
    files: Pick<RestoreWorkerData, 'created' | 'permitted'>,
    makeError: (f: WriteFailure) => Error,
    ringBytes = RING,
  ) {
    this.size = ringBytes;
    this.maxPiece = Math.min(MAX_PIECE, ringBytes / 4);
    const ring = new SharedArrayBuffer(ringBytes);
    const control = new SharedArrayBuffer(16);
    this.ring = Buffer.from(ring);
    this.ctl = new BigInt64Array(control);
    this.worker = new Worker(new URL('./restore-worker.ts', import.meta.url), {
      workerData: { role: 'restore-writer', staging, owners, created: files.created, permitted: files.permitted, ring, control } satisfies RestoreWorkerData,
      // a small heap: the thread holds no data of its own
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    this.worker.on('message', (m: FromWorker) => {
      if (m.t === 'failed') this.failure ??= makeError(m.failure);
      else {
        this.syncs.get(m.id)?.();
        this.syncs.delete(m.id);
      }
    });
    const gone = (e: Error) => {
      this.exited = true;
      if (!this.ending) this.failure ??= e;
      for (const r of this.syncs.values()) r();
      this.syncs.clear();
      Atomics.store(this.ctl, FREED, BigInt(Number.MAX_SAFE_INTEGER));
      Atomics.notify(this.ctl, FREED);
    };
    this.worker.on('error', (e) => gone(new UserError(`the restore's writer thread failed: ${e.message}`)));
    this.worker.on('exit', (code) => gone(new UserError(`the restore's writer thread ended (exit code ${code})`)));
  }

  private get freed(): number {
    return Number(Atomics.load(this.ctl, FREED));
  }

  /** Post what is batched. */
  flush(): void {
    if (this.batch.length === 0 || this.exited) return;
    this.worker.postMessage({ t: 'ops', ops: this.batch, end: this.pos } satisfies ToWorker);
    this.batch = [];
    this.batchBytes = 0;
  }

  private add(op: WriteOp, bytes = 0): void {
    this.pos += OP_COST;
    this.batch.push(op);
    this.batchBytes += bytes;
    if (this.batch.length >= BATCH_OPS || this.batchBytes >= BATCH_BYTES) this.flush();
  }

  /**
   * Copy `data` into the ring; returns its offset, or a promise when the ring must
   * first drain (the batch is posted then, so the writer has work).
   */
  private place(data: Buffer): number | Promise<number> {
    const len = data.length;
    let off = this.pos % this.size;
    const skip = off + len > this.size ? this.size - off : 0; // content stays contiguous: wrap early
    if (this.pos + skip + len - this.freed <= this.size) {
      this.pos += skip;
      off = this.pos % this.size;
      data.copy(this.ring, off);
      this.pos += len;
      return off;
    }
    return this.waitFor(skip + len).then(() => this.place(data) as number);
  }

  /** Until `bytes` more fit in the ring (the batch is posted first, so the writer has work). */
  private async waitFor(bytes: number): Promise<void> {
    this.flush();
    for (;;) {
      const freed = Atomics.load(this.ctl, FREED);
      if (this.pos + bytes - Number(freed) <= this.size) return;
      if (this.exited) throw this.failure ?? new Error("the restore's writer thread has ended");
      const w = Atomics.waitAsync(this.ctl, FREED, freed);
      if (w.async) await w.value;
    }
  }

  /** A promise when more than the ring is in flight (operations without content count too): wait for it before going on. */
  room(): Promise<void> | null {
    return this.pos - this.freed > this.size ? this.waitFor(0) : null;
  }

  mkdir(rel: string, name: string): void {
    this.add({ k: 'd', rel, name });
  }

  link(rel: string, target: string, name: string, linkname: string): void {
    this.add({ k: 'l', rel, target, name, linkname });
  }

  /** A whole file. */
  file(rel: string, data: Buffer, m: FileMeta): void | Promise<void> {
    if (data.length > this.maxPiece) {
      this.open(rel, m);
      return (async () => {
        await this.piece(data);
        this.close(m);
      })();
    }
    const off = this.place(data);
    if (typeof off === 'number') return this.add({ k: 'f', rel, off, len: data.length, m }, data.length);
    return off.then((o) => this.add({ k: 'f', rel, off: o, len: data.length, m }, data.length));
  }

  /** Start a large file; its pieces follow with `piece()`, then `close()`. */
  open(rel: string, m: FileMeta): void {
    this.add({ k: 'o', rel, m });
  }

  piece(data: Buffer): void | Promise<void> {
    if (data.length > this.maxPiece) {
      return (async () => {
        for (let at = 0; at < data.length; at += this.maxPiece) await this.piece(data.subarray(at, at + this.maxPiece));
      })();
    }
    const off = this.place(data);
    if (typeof off === 'number') return this.add({ k: 'w', off, len: data.length }, data.length);
    return off.then((o) => this.add({ k: 'w', off: o, len: data.length }, data.length));
  }

  close(m: FileMeta): void {
    this.add({ k: 'c', m });
  }

  /** Wait until everything posted is written; throws the writer's first failure. */
  async settle(): Promise<void> {
    this.flush();
    if (!this.exited) {
      const id = this.nextSync++;
      await new Promise<void>((res) => {
        this.syncs.set(id, res);
        this.worker.postMessage({ t: 'sync', id } satisfies ToWorker);
      });
    }
    if (this.failure) throw this.failure;
  }

  /**
   * End the thread once what it was given is done (`discard`: skip what is still queued).
   * Resolves when it has exited, so nothing is written after this.
   */
  async end(discard = false): Promise<void> {
    this.ending = true;
    if (this.exited) return;
    if (discard) Atomics.store(this.ctl, STOP, 1n);
    else this.flush();
    const exited = new Promise<void>((res) => this.worker.once('exit', () => res()));
    this.worker.postMessage({ t: 'end' } satisfies ToWorker);
    await exited;
  }
}
