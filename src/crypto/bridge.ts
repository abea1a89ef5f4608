/**
 * A Node Transform around a library that transforms WHATWG streams
 * (openpgp, age-encryption): bytes written to the Transform feed the
 * library's input ReadableStream; the library's output ReadableStream is
 * pumped into the Transform's readable side. Backpressure holds both ways,
 * so memory stays bounded by the libraries' own chunking.
 */
import { Transform, type TransformCallback } from 'node:stream';

export type WebTransformer = (input: ReadableStream<Uint8Array>) => Promise<ReadableStream<Uint8Array>>;

export class WebBridge extends Transform {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: Promise<ReadableStreamDefaultReader<Uint8Array>>;
  #resume: (() => void) | null = null;
  #pumped: Promise<void>;
  #mapError: (e: unknown) => Error;

  constructor(build: WebTransformer, mapError: (e: unknown) => Error = (e) => (e instanceof Error ? e : new Error(String(e)))) {
    super();
    this.#mapError = mapError;
    const id = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 1 }, { highWaterMark: 0 });
    this.#writer = id.writable.getWriter();
    this.#writer.closed.catch(() => {
      /* reported through the output side */
    });
    this.#reader = Promise.resolve()
      .then(() => build(id.readable))
      .then((s) => s.getReader());
    this.#pumped = this.#pump();
    // errors surface through destroy(); keep the promise from being unhandled
    this.#pumped.catch(() => {});
  }

  async #pump(): Promise<void> {
    try {
      const reader = await this.#reader;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        if (this.destroyed) return;
        const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
        if (!this.push(buf))
          await new Promise<void>((r) => {
            this.#resume = r;
          });
      }
    } catch (e) {
      const err = this.#mapError(e);
      this.destroy(err);
      throw err;
    }
  }

  override _read(size: number): void {
    const r = this.#resume;
    this.#resume = null;
    r?.();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#writer.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)).then(
      () => cb(),
      (e) => cb(this.#mapError(e)),
    );
  }

  override _flush(cb: TransformCallback): void {
    this.#writer.close().catch(() => {});
    this.#pumped.then(
      () => cb(),
      (e) => cb(e as Error),
    );
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    const r = this.#resume;
    this.#resume = null;
    r?.();
    this.#writer.abort(err ?? undefined).catch(() => {});
    this.#reader.then((rd) => rd.cancel(err ?? undefined)).catch(() => {});
    cb(err);
  }
}
