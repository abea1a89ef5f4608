/**
 * Undo an archive's outer layers: detect encryption and compression by their
 * magic bytes (never by file name), decrypt, decompress, and hand back the
 * plain tar stream. Every layer's error surfaces on the returned stream.
 */
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
      stream = through(
        stream,
        wrapGunzip(),
        (e) => new UserError(`the archive's gzip data is ${/unexpected end/i.test(errorMessage(e)) ? 'truncated' : 'corrupted'} (${errorMessage(e)})`, HINT),
      );
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
