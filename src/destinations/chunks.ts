/**
 * Cutting an upload stream into fixed-size chunks, for the destinations that upload in
 * pieces (upload sessions, resumable uploads).
 */

export interface Chunk {
  data: Buffer;
  /** Where the chunk starts in the whole upload. */
  offset: number;
  /** The final chunk (maybe empty, or shorter than the chunk size). */
  last: boolean;
}

export interface ChunkOptions {
  /** Checked before each piece of the source is taken: an abort ends the chunking with the signal's reason. */
  signal?: AbortSignal;
  /** Sees every byte once, in order (a content hash computed while the stream passes). */
  hasher?: { update(data: Buffer): void };
}

/**
 * Cut a stream into chunks of `size` bytes. A full chunk is yielded only once more data
 * has arrived (so the consumer knows it is not the last); the final chunk has `last`.
 * Pieces are gathered and joined once per chunk: a small archive never costs a full chunk of memory.
 */
export async function* chunks(source: AsyncIterable<Buffer | string>, size: number, opts: ChunkOptions = {}): AsyncGenerator<Chunk> {
  const { signal, hasher } = opts;
  let parts: Buffer[] = [];
  let len = 0;
  let offset = 0;
  for await (const piece of source) {
    signal?.throwIfAborted();
    let p = typeof piece === 'string' ? Buffer.from(piece) : piece;
    while (p.length > 0) {
      if (len === size) {
        const data = Buffer.concat(parts, len);
        parts = [];
        yield { data, offset, last: false };
        offset += len;
        len = 0;
      }
      const take = Math.min(size - len, p.length);
      const part = p.subarray(0, take);
      parts.push(part);
      hasher?.update(part);
      len += take;
      p = p.subarray(take);
    }
  }
  yield { data: Buffer.concat(parts, len), offset, last: true };
}
