/**
 * zstd decompression of every frame in a stream. Node's ZstdDecompress stops
 * after the first frame and ignores the rest silently, so this Transform walks
 * the frame and block headers (RFC 8878), feeds each frame to a fresh
 * decompressor, skips skippable frames, and fails on truncation or on bytes
 * that are not a frame.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { once } from 'node:events';
import zlib from 'node:zlib';
import { UserError, errorMessage } from '../errors.ts';

const ZSTD_MAGIC = 0xfd2fb528;
const HINT = 'the archive was damaged or cut short in storage or transfer; try another copy of this backup';

type State = 'magic' | 'fhd' | 'hdrRest' | 'block' | 'body' | 'checksum' | 'skipSize' | 'skipBody';

export class ZstdFramesDecompress extends Transform {
  #dec: zlib.ZstdDecompress | null = null;
  #decEnded: Promise<unknown> | null = null;
  #state: State = 'magic';
  #need = 4;
  #acc: Buffer[] = [];
  #accLen = 0;
  #lastBlock = false;
  #hasChecksum = false;
  #frames = 0;

  #fail(msg: string): Error {
    return new UserError(`the archive's zstd data is ${msg}`, HINT);
  }

  #startFrame(): void {
    const dec = zlib.createZstdDecompress();
    dec.on('data', (c: Buffer) => {
      if (!this.push(c)) dec.pause();
    });
    dec.on('error', (e) => this.destroy(this.#fail(`corrupted (${errorMessage(e)})`)));
    this.#decEnded = once(dec, 'end');
    this.#decEnded.catch(() => {});
    this.#dec = dec;
  }

  override _read(size: number): void {
    this.#dec?.resume();
    super._read(size);
  }

  async #feed(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    const dec = this.#dec!;
    if (!dec.write(buf)) await once(dec, 'drain');
  }

  async #endFrame(): Promise<void> {
    const dec = this.#dec!;
    dec.end();
    await this.#decEnded;
    this.#dec = null;
    this.#frames++;
  }

  /** Bytes of a small header field once `need` of them are gathered. */
  #gather(chunk: Buffer, off: number): { field: Buffer | null; used: number } {
    const n = Math.min(this.#need - this.#accLen, chunk.length - off);
    this.#acc.push(chunk.subarray(off, off + n));
    this.#accLen += n;
    if (this.#accLen < this.#need) return { field: null, used: n };
    const field = Buffer.concat(this.#acc);
    this.#acc = [];
    this.#accLen = 0;
    return { field, used: n };
  }

  async #process(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.destroyed) return;
      if (this.#state === 'body' || this.#state === 'skipBody') {
        const n = Math.min(this.#need, chunk.length - off);
        if (this.#state === 'body') await this.#feed(chunk.subarray(off, off + n));
        off += n;
        this.#need -= n;
        if (this.#need === 0) await this.#afterBody();
        continue;
      }
      const { field, used } = this.#gather(chunk, off);
      off += used;
      if (!field) continue;
      switch (this.#state) {
        case 'magic': {
          const m = field.readUInt32LE(0);
          if (m === ZSTD_MAGIC) {
            this.#startFrame();
            await this.#feed(field);
            this.#state = 'fhd';
            this.#need = 1;
          } else if ((m & 0xfffffff0) === 0x184d2a50) {
            this.#state = 'skipSize';
            this.#need = 4;
          } else {
            throw this.#fail(this.#frames === 0 ? 'not a zstd frame' : `followed by bytes that are not a zstd frame (after frame ${this.#frames})`);
          }
          break;
        }
        case 'fhd': {
          await this.#feed(field);
          const fhd = field[0]!;
          const fcsFlag = fhd >> 6;
          const single = (fhd >> 5) & 1;
          if ((fhd >> 3) & 1) throw this.#fail('corrupted (reserved frame header bit set)');
          this.#hasChecksum = ((fhd >> 2) & 1) === 1;
          const did = [0, 1, 2, 4][fhd & 3]!;
          const fcs = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
          const rest = (single ? 0 : 1) + did + fcs;
          if (rest > 0) {
            this.#state = 'hdrRest';
            this.#need = rest;
          } else {
            this.#state = 'block';
            this.#need = 3;
          }
          break;
        }
        case 'hdrRest':
          await this.#feed(field);
          this.#state = 'block';
          this.#need = 3;
          break;
        case 'block': {
          await this.#feed(field);
          const h = field[0]! | (field[1]! << 8) | (field[2]! << 16);
          this.#lastBlock = (h & 1) === 1;
          const type = (h >> 1) & 3;
          const size = h >>> 3;
          if (type === 3) throw this.#fail('corrupted (reserved block type)');
          this.#state = 'body';
          this.#need = type === 1 ? 1 : size;
          if (this.#need === 0) await this.#afterBody();
          break;
        }
        case 'checksum':
          await this.#feed(field);
          await this.#endFrame();
          this.#state = 'magic';
          this.#need = 4;
          break;
        case 'skipSize':
          this.#state = 'skipBody';
          this.#need = field.readUInt32LE(0);
          if (this.#need === 0) {
            this.#state = 'magic';
            this.#need = 4;
          }
          break;
      }
    }
  }

  async #afterBody(): Promise<void> {
    if (this.#state === 'skipBody') {
      this.#state = 'magic';
      this.#need = 4;
      return;
    }
    if (!this.#lastBlock) {
      this.#state = 'block';
      this.#need = 3;
      return;
    }
    if (this.#hasChecksum) {
      this.#state = 'checksum';
      this.#need = 4;
      return;
    }
    await this.#endFrame();
    this.#state = 'magic';
    this.#need = 4;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#process(chunk).then(
      () => cb(),
      (e) => cb(e as Error),
    );
  }

  override _flush(cb: TransformCallback): void {
    if (this.#state !== 'magic' || this.#accLen > 0) return cb(this.#fail(`truncated (it ends inside frame ${this.#frames + 1})`));
    if (this.#frames === 0) return cb(this.#fail('empty'));
    cb();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.#dec?.destroy();
    cb(err);
  }
}
