/**
 * Tar framing: headers come from tar-stream's encoder (ustar, with a pax
 * extended header when a field does not fit); the bytes are laid into fixed
 * size blocks by `BlockWriter`, so file contents are read straight into the
 * output blocks without copies or per-entry stream objects.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** tar-stream's header encoder (headers.js; `pack()` builds on it). */
interface TarStreamHeaders {
  encode(h: {
    name: string; mode: number; uid: number; gid: number; size: number; mtime: Date;
    type: string; linkname?: string | null;
  }): Buffer | null;
  encodePax(o: { name: string; linkname?: string | null; pax?: Record<string, string> | null }): Buffer;
}

const require = createRequire(import.meta.url);
// `pack()` wraps every entry in a stream object and a few ticks of its state
// machine, which costs more than GNU tar spends on a small file; we use its
// header encoder directly (the package's exports map hides the file, so it is
// loaded by path).
const headers = require(join(dirname(require.resolve('tar-stream')), 'headers.js')) as TarStreamHeaders;

export type EntryType = 'file' | 'directory' | 'symlink';

export interface TarEntry {
  /** Relative path inside the archive, without a trailing slash. */
  name: string;
  type: EntryType;
  /** Permission bits (incl. setuid/setgid/sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Content bytes (0 for directories and symlinks). */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname?: string;
}

const MAX_OCTAL_11 = 0o77777777777; // size field: 8 GiB - 1
const MAX_OCTAL_7 = 0o7777777; // uid/gid fields
const MAX_MTIME_INT32 = 2 ** 31 - 1; // tar-stream truncates mtime to int32
// Printable ASCII only: anything else goes to a pax (UTF-8) record.
const NON_ASCII = /[^\x20-\x7e]/;

/** Header bytes for an entry (a multiple of 512): ustar, preceded by a pax header when needed. */
export function encodeHeader(e: TarEntry): Buffer {
  const pax: Record<string, string> = {};
  let needPax = false;
  let { uid, gid, mtime } = e;
  const size = e.type === 'file' ? e.size : 0;
  if (size > MAX_OCTAL_11) { pax.size = String(size); needPax = true; }
  if (mtime < 0 || mtime > MAX_MTIME_INT32) { pax.mtime = String(mtime); mtime = 0; needPax = true; }
  if (uid > MAX_OCTAL_7) { pax.uid = String(uid); uid = 0; needPax = true; }
  if (gid > MAX_OCTAL_7) { pax.gid = String(gid); gid = 0; needPax = true; }
  if (e.linkname !== undefined && (NON_ASCII.test(e.linkname) || Buffer.byteLength(e.linkname) > 100)) needPax = true;
  if (NON_ASCII.test(e.name)) needPax = true;

  // tar-stream's encode never adds the conventional '/' to directory names
  const name = e.type === 'directory' ? e.name + '/' : e.name;
  const fields = {
    name, mode: e.mode & 0o7777, uid, gid, size, mtime: new Date(mtime * 1000),
    type: e.type, linkname: e.linkname ?? null,
  };
  if (!needPax) {
    // null when the name does not fit ustar's name/prefix split
    const h = headers.encode(fields);
    if (h) return h;
  }
  const record = headers.encodePax({ name, linkname: e.linkname ?? null, pax });
  const paxHeader = headers.encode({
    name: 'PaxHeader', mode: fields.mode, uid, gid, size: record.length, mtime: fields.mtime,
    type: 'pax-header', linkname: null,
  })!;
  // The ustar header after a pax header carries a readable stand-in for
  // readers without pax support; pax-aware readers use the pax values.
  const ustar = headers.encode({ ...fields, name: fallbackName(name), linkname: e.linkname === undefined ? null : fallbackName(e.linkname) })
    ?? headers.encode({ ...fields, name: 'PaxHeader', linkname: e.linkname === undefined ? null : 'PaxHeader' })!;
  const recordPad = (512 - (record.length % 512)) % 512;
  return Buffer.concat([paxHeader, record, Buffer.alloc(recordPad), ustar]);
}

function fallbackName(name: string): string {
  let ascii = name.replace(/[^\x20-\x7e]/g, '_');
  if (ascii.length > 100) ascii = ascii.slice(ascii.length - 100).replace(/^\/+/, '');
  return ascii || '_';
}

/** Zero bytes needed after `size` content bytes to reach a 512-byte boundary. */
export function padding(size: number): number {
  const r = size % 512;
  return r === 0 ? 0 : 512 - r;
}

/**
 * Lays tar bytes into fixed-size blocks and hands each full block to `flush`.
 * Blocks are fresh (zero-filled) ArrayBuffers, so padding is just skipping.
 */
export class BlockWriter {
  readonly blockSize: number;
  private readonly flush: (block: ArrayBuffer, length: number) => void;
  private block: ArrayBuffer;
  /** View on the current block. */
  bytes: Uint8Array;
  /** Write position in the current block. */
  pos = 0;
  /** Total bytes written. */
  total = 0;

  constructor(blockSize: number, flush: (block: ArrayBuffer, length: number) => void) {
    this.blockSize = blockSize;
    this.flush = flush;
    this.block = new ArrayBuffer(blockSize);
    this.bytes = new Uint8Array(this.block);
  }

  /** Free bytes in the current block (> 0: a full block is flushed first). */
  space(): number {
    if (this.pos === this.blockSize) this.next();
    return this.blockSize - this.pos;
  }

  /** Marks `n` bytes (written directly into `bytes` at `pos`) as used. */
  advance(n: number): void {
    this.pos += n;
    this.total += n;
  }

  write(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.space(), data.length - off);
      this.bytes.set(off === 0 && n === data.length ? data : data.subarray(off, off + n), this.pos);
      this.advance(n);
      off += n;
    }
  }

  /** Appends `n` zero bytes. */
  zeros(n: number): void {
    while (n > 0) {
      const k = Math.min(this.space(), n);
      this.advance(k); // fresh blocks are zero-filled
      n -= k;
    }
  }

  /** Writes the end-of-archive marker (two zero blocks) and flushes the last block. */
  end(): void {
    this.zeros(1024);
    if (this.pos > 0) this.flush(this.block, this.pos);
    this.pos = 0;
  }

  private next(): void {
    this.flush(this.block, this.pos);
    this.block = new ArrayBuffer(this.blockSize);
    this.bytes = new Uint8Array(this.block);
    this.pos = 0;
  }
}
