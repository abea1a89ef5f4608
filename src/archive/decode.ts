/**
 * Undo an archive's outer layers: detect encryption and compression by their
 * magic bytes (never by file name), decrypt, decompress, and hand back the
 * plain tar stream. Every layer's error surfaces on the returned stream.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { UserError, errorMessage } from '../errors.ts';
import { createDecryptor, detectFormat, methodOf, type DecryptionKeys, type EncryptionMethod } from '../crypto/index.ts';
import { ZstdFramesDecompress } from './zstd.ts';

export interface DecodedArchive {
  /** The uncompressed tar bytes. */
  tar: Readable;
  encryption: EncryptionMethod;
  compression: 'gz' | 'zst' | 'none';
}

/** Errors that only say a stream was torn down because something else failed first. */
export function isTeardown(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR' || code === 'ERR_STREAM_DESTROYED';
}

const HINT = 'the archive was damaged or cut short in storage or transfer; try another copy of this backup';

/** Read the first `n` bytes (fewer at end of stream) and return them with a stream of the whole input. */
export async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const parts: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    parts.push(b);
    len += b.length;
  }
  const head = Buffer.concat(parts);
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (head.length) yield head;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      if (!done) await it.return?.();
    }
  }
  const stream = Readable.from(rest(), { objectMode: false, highWaterMark: 64 * 1024 });
  return { head: head.subarray(0, Math.min(n, head.length)), stream };
}

const gzipError = (e: unknown): UserError =>
  new UserError(`the archive's gzip data is ${/unexpected end/i.test(errorMessage(e)) ? 'truncated' : 'corrupted'} (${errorMessage(e)})`, HINT);

function wrapGunzip(): Transform {
  return zlib.createGunzip({ chunkSize: 64 * 1024 });
}

/** Connect `src` into `t` and return t's output; an error on either side destroys both with a clear message. */
function through(src: Readable, t: Transform, describe: (e: unknown) => Error): Readable {
  src.on('error', (e) => t.destroy(e instanceof UserError ? e : describe(e)));
  t.on('error', () => src.destroy());
  const origDestroy = t.destroy.bind(t);
  // rewrite zlib's terse errors once, at the source
  t.destroy = ((err?: Error) => origDestroy(err && !(err instanceof UserError) && !isTeardown(err) ? describe(err) : err)) as typeof t.destroy;
  return src.pipe(t);
}

/**
 * Decode `input` (an archive as stored: maybe encrypted, maybe compressed) to tar bytes.
 * Rejects early with a UserError for unknown formats or missing keys.
 */
export async function decodeArchive(input: Readable, keys: DecryptionKeys = {}): Promise<DecodedArchive> {
  let { head, stream } = await peek(input, 512);
  if (head.length === 0) throw new UserError('the archive is empty (0 bytes)', HINT);
  let d = detectFormat(head);
  let encryption: EncryptionMethod = 'none';
  if (methodOf(d) !== 'none' || d === 'age-armor') {
    encryption = methodOf(d);
    const dec = createDecryptor(d, keys);
    stream = through(stream, dec, (e) => new UserError(`cannot decrypt the archive: ${errorMessage(e)}`, HINT));
    ({ head, stream } = await peek(stream, 512));
    if (head.length === 0) throw new UserError('the archive decrypted to nothing: it holds no tar data', HINT);
    d = detectFormat(head);
  }
  let compression: 'gz' | 'zst' | 'none';
  switch (d) {
    case 'gzip':
      compression = 'gz';
      stream = through(stream, wrapGunzip(), gzipError);
      break;
    case 'zstd':
      compression = 'zst';
      stream = through(stream, new ZstdFramesDecompress(), (e) => new UserError(`the archive's zstd data is corrupted (${errorMessage(e)})`, HINT));
      break;
    case 'tar':
      compression = 'none';
      break;
    default:
      stream.destroy();
      if (encryption !== 'none') {
        throw new UserError(`the archive decrypted (${encryption}) but the result is neither gzip, zstd nor tar`, HINT);
      }
      throw new UserError(
        "this is not an offsite archive: it is neither tar, gzip, zstd, nor encrypted with gpg, age or offsite's AES format",
        head.length < 512 ? `it is only ${head.length} bytes long` : 'check that the right file was given',
      );
  }
  return { tar: stream, encryption, compression };
}

/** A stored archive that is a file on this machine (the local destination's `localFile`). */
export interface LocalArchive {
  path: string;
  /** A read that takes longer than this (a hung NFS or FUSE mount) fails the decode with `timeoutError()`. */
  timeoutMs: number;
  timeoutError: () => Error;
}

/** The size of each read of a local archive, and how many such buffers are reused. */
const FILE_READ = 1 << 20;
const FILE_BUFFERS = 3;

/**
 * A local archive read with a few reused buffers. A read stream hands out a fresh 1 MiB
 * buffer per read, and every page of it is faulted in again (fresh memory from malloc,
 * freed only at a later GC): for a 450 MB archive that was ~1 s of system CPU, more than
 * gunzip's own work. A gzip archive (not encrypted) is fed to gunzip straight from the
 * reused buffers, each taken back once gunzip is done with it (its write callback); any
 * other format goes through decodeArchive() as a stream, with fresh buffers as before.
 *
 * With `hash`, the SHA-256 and size of every byte read are kept for `digest()`: the
 * download's integrity check against its sidecar without a hashing stream in between.
 */
export class ArchiveFile {
  readonly file: LocalArchive;
  private readonly hash: Hash | null;
  private size = 0;
  /** Where the next read starts (bytes before it are hashed). */
  private pos = 0;
  private eof = false;
  /** The read in flight, if any (reads are sequential). */
  private inflight: Promise<unknown> | null = null;
  private fh: FileHandle | null = null;

  constructor(file: LocalArchive, opts: { hash?: boolean } = {}) {
    this.file = file;
    this.hash = opts.hash ? createHash('sha256') : null;
  }

  /** `p` under the stall bound: rejects with the file's timeout error when it takes longer. */
  private bounded<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const stall = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.file.timeoutError()), this.file.timeoutMs);
    });
    return Promise.race([p, stall]).finally(() => clearTimeout(timer));
  }

  /** Open the file under the stall bound (a file handle that arrives after it is closed again). */
  private async open(): Promise<FileHandle> {
    const opening = open(this.file.path, 'r');
    try {
      return await this.bounded(opening);
    } catch (e) {
      opening.then((fh) => fh.close()).catch(() => {});
      throw e;
    }
  }

  /**
   * One read into `buf` under the stall bound, from the handle's own position (decode's
   * handle reads the file in order from its start) or from `at`; the bytes read are hashed.
   */
  private read(fh: FileHandle, buf: Buffer, at: number | null = null): Promise<number> {
    const r = this.bounded(fh.read(buf, 0, buf.length, at))
      .then(({ bytesRead }) => {
        if (bytesRead === 0) this.eof = true;
        else {
          this.hash?.update(buf.subarray(0, bytesRead));
          this.size += bytesRead;
          this.pos += bytesRead;
        }
        return bytesRead;
      })
      .finally(() => {
        if (this.inflight === r) this.inflight = null;
      });
    this.inflight = r;
    return r;
  }

  private close(): void {
    const fh = this.fh;
    this.fh = null;
    // a FileHandle closes once its pending read settled
    fh?.close().catch(() => {});
  }

  /** Decode the archive (as decodeArchive does) from the file. */
  async decode(keys: DecryptionKeys = {}): Promise<DecodedArchive> {
    const fh = await this.open();
    this.fh = fh;
    let first: Buffer;
    try {
      first = Buffer.allocUnsafeSlow(FILE_READ);
      first = first.subarray(0, await this.read(fh, first));
    } catch (e) {
      this.close();
      throw e;
    }
    if (first.length === 0 || detectFormat(first) !== 'gzip') return this.decodeStream(fh, first, keys);
    const gunzip = wrapGunzip();
    const describe = gzipError;
    const destroy = gunzip.destroy.bind(gunzip);
    gunzip.destroy = ((err?: Error) => destroy(err && !(err instanceof UserError) && !isTeardown(err) ? describe(err) : err)) as typeof gunzip.destroy;
    gunzip.once('close', () => this.close());
    const free: Buffer[] = [];
    for (let i = 1; i < FILE_BUFFERS; i++) free.push(Buffer.allocUnsafeSlow(FILE_READ));
    let reading = false;
    const give = (buf: Buffer, n: number) => {
      // the buffer is read into again only once gunzip no longer needs it
      gunzip.write(buf.subarray(0, n), () => {
        free.push(buf);
        pump();
      });
    };
    const pump = (): void => {
      if (reading || this.eof || free.length === 0 || gunzip.destroyed || gunzip.writableEnded) return;
      const buf = free.pop()!;
      reading = true;
      this.read(fh, buf).then(
        (n) => {
          reading = false;
          if (gunzip.destroyed) return;
          if (n === 0) gunzip.end();
          else {
            give(buf, n);
            pump();
          }
        },
        (e: unknown) => {
          reading = false;
          gunzip.destroy(e instanceof Error ? e : new Error(String(e)));
        },
      );
    };
    give(Buffer.from(first.buffer, first.byteOffset, FILE_READ), first.length);
    pump();
    return { tar: gunzip, encryption: 'none', compression: 'gz' };
  }

  /** Any other format: the file as a stream of fresh buffers (the decoders may keep them), through decodeArchive. */
  private decodeStream(fh: FileHandle, first: Buffer, keys: DecryptionKeys): Promise<DecodedArchive> {
    const self = this;
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        if (first.length === 0) return;
        yield first;
        for (;;) {
          const buf = Buffer.allocUnsafeSlow(FILE_READ);
          const n = await self.read(fh, buf);
          if (n === 0) return;
          yield n === buf.length ? buf : buf.subarray(0, n);
        }
      } finally {
        self.close();
      }
    }
    return decodeArchive(Readable.from(chunks(), { objectMode: false, highWaterMark: FILE_READ }), keys);
  }

  /**
   * SHA-256 and size of the whole file (with `hash`): what decode read, and the rest of the
   * file read now when the decode stopped before its end (a failed restore, bytes after
   * the compressed data).
   */
  async digest(): Promise<{ sha256: string; size: number }> {
    if (!this.hash) throw new Error('ArchiveFile: digest() without hash');
    while (this.inflight) await this.inflight.catch(() => {});
    if (!this.eof) {
      const fh = await this.open();
      try {
        const buf = Buffer.allocUnsafeSlow(FILE_READ);
        while (!this.eof) await this.read(fh, buf, this.pos);
      } finally {
        await fh.close();
      }
    }
    return { sha256: this.hash.copy().digest('hex'), size: this.size };
  }
}
