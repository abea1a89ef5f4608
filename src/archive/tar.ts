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
  encode(h: { name: string; mode: number; uid: number; gid: number; size: number; mtime: Date; type: string; linkname?: string | null }): Buffer | null;
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
// uid/gid: tar-stream writes 6 octal digits and clamps larger values, so those go to pax
const MAX_ID = 0o777777;
const MAX_MTIME_INT32 = 2 ** 31 - 1; // tar-stream truncates mtime to int32
// Printable ASCII only: anything else goes to a pax (UTF-8) record.
const NON_ASCII = /[^\x20-\x7e]/;

/** Header bytes for an entry (a multiple of 512): ustar, preceded by a pax header when needed. */
export function encodeHeader(e: TarEntry): Buffer {
  const pax: Record<string, string> = {};
  let needPax = false;
  let { uid, gid, mtime } = e;
  const size = e.type === 'file' ? e.size : 0;
  if (size > MAX_OCTAL_11) {
    pax.size = String(size);
    needPax = true;
  }
  if (mtime < 0 || mtime > MAX_MTIME_INT32) {
    pax.mtime = String(mtime);
    mtime = 0;
    needPax = true;
  }
  if (uid > MAX_ID) {
    pax.uid = String(uid);
    uid = 0;
    needPax = true;
  }
  if (gid > MAX_ID) {
    pax.gid = String(gid);
    gid = 0;
    needPax = true;
  }
  if (e.linkname !== undefined && (NON_ASCII.test(e.linkname) || Buffer.byteLength(e.linkname) > 100)) needPax = true;
  if (NON_ASCII.test(e.name)) needPax = true;

  // tar-stream's encode never adds the conventional '/' to directory names
  const name = e.type === 'directory' ? e.name + '/' : e.name;
  const fields = {
    name,
    mode: e.mode & 0o7777,
    uid,
    gid,
    size,
    mtime: new Date(mtime * 1000),
    type: e.type,
    linkname: e.linkname ?? null,
  };
  if (!needPax) {
    // null when the name does not fit ustar's name/prefix split
    const h = headers.encode(fields);
    if (h) return h;
  }
  const record = headers.encodePax({ name, linkname: e.linkname ?? null, pax });
  const paxHeader = headers.encode({
    name: 'PaxHeader',
    mode: fields.mode,
    uid,
    gid,
    size: record.length,
    mtime: fields.mtime,
    type: 'pax-header',
    linkname: null,
  })!;
  // The ustar header after a pax header carries a readable stand-in for
  // readers without pax support; pax-aware readers use the pax values.
  const ustar =
    headers.encode({ ...fields, name: fallbackName(name), linkname: e.linkname === undefined ? null : fallbackName(e.linkname) }) ??
    headers.encode({ ...fields, name: 'PaxHeader', linkname: e.linkname === undefined ? null : 'PaxHeader' })!;
  const recordPad = (512 - (record.length % 512)) % 512;
  return Buffer.concat([paxHeader, record, Buffer.alloc(recordPad), ustar]);
}

function fallbackName(name: string): string {
  let ascii = name.replace(/[^\x20-\x7e]/g, '_');
  if (ascii.length > 100) ascii = ascii.slice(ascii.length - 100).replace(/^\/+/, '');
  return ascii || '_';
}

const TYPEFLAG: Record<EntryType, number> = { file: 48, directory: 53, symlink: 50 }; // '0' '5' '2'

/** Writes `value` as `digits` zero-padded octal digits and a space (tar-stream's format); returns the bytes' sum. */
function octal(buf: Uint8Array, off: number, value: number, digits: number): number {
  let sum = 32;
  buf[off + digits] = 32;
  if (value <= 0x7fffffff) {
    for (let i = digits - 1; i >= 0; i--) {
      const c = 48 + (value & 7);
      buf[off + i] = c;
      sum += c;
      value >>>= 3;
    }
  } else {
    for (let i = digits - 1; i >= 0; i--) {
      const d = value % 8;
      buf[off + i] = 48 + d;
      sum += 48 + d;
      value = (value - d) / 8;
    }
  }
  return sum;
}

/** Writes printable ASCII `s`; returns the bytes' sum, or -1 if `s` has any other character. */
function ascii(buf: Uint8Array, off: number, s: string): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return -1;
    buf[off + i] = c;
    sum += c;
  }
  return sum;
}

// "ustar\0" + "00" at 257, and devmajor/devminor "000000 \0" at 329/337
const USTAR_SUM = [117, 115, 116, 97, 114].reduce((a, b) => a + b, 0) + 48 + 48 + 2 * (6 * 48 + 32);
const CHECKSUM_SPACES = 8 * 32;

/**
 * Fast path for the common entry (printable ASCII name and link target of at
 * most 100 bytes, numbers within the ustar fields): writes the same 512 bytes
 * as tar-stream's encoder (a test checks byte equality) straight into `buf`,
 * which must be zero at `off..off+512`. Returns false when the entry needs
 * the full encoder; it may then have written part of the 512 bytes.
 */
export function writeSimpleHeader(buf: Uint8Array, off: number, e: TarEntry): boolean {
  const size = e.type === 'file' ? e.size : 0;
  const dir = e.type === 'directory';
  const nameLength = e.name.length + (dir ? 1 : 0);
  if (nameLength > 100 || size > MAX_OCTAL_11 || e.mtime < 0 || e.mtime > MAX_MTIME_INT32 || e.uid > MAX_ID || e.gid > MAX_ID) return false;
  let sum = ascii(buf, off, e.name);
  if (sum < 0) return false;
  if (dir) {
    buf[off + e.name.length] = 47;
    sum += 47;
  } // '/'
  if (e.linkname !== undefined) {
    if (e.linkname.length > 100) return false;
    const l = ascii(buf, off + 157, e.linkname);
    if (l < 0) return false;
    sum += l;
  }
  sum += octal(buf, off + 100, e.mode & 0o7777, 6);
  sum += octal(buf, off + 108, e.uid, 6);
  sum += octal(buf, off + 116, e.gid, 6);
  sum += octal(buf, off + 124, size, 11);
  sum += octal(buf, off + 136, e.mtime, 11);
  const type = TYPEFLAG[e.type];
  buf[off + 156] = type;
  buf[off + 257] = 117;
  buf[off + 258] = 115;
  buf[off + 259] = 116;
  buf[off + 260] = 97;
  buf[off + 261] = 114; // "ustar"
  buf[off + 263] = 48;
  buf[off + 264] = 48; // version "00"
  octal(buf, off + 329, 0, 6); // devmajor
  octal(buf, off + 337, 0, 6); // devminor
  octal(buf, off + 148, sum + type + USTAR_SUM + CHECKSUM_SPACES, 6);
  return true;
}

/** Zero bytes needed after `size` content bytes to reach a 512-byte boundary. */
export function padding(size: number): number {
  const r = size % 512;
  return r === 0 ? 0 : 512 - r;
}

/** Where a BlockWriter's blocks come from and go to. */
export interface BlockSink {
  /** A block of `blockSize` bytes to fill (its content is arbitrary). May wait. */
  acquire(): Uint8Array;
  /** The block last acquired holds `length` bytes of tar. */
  flush(length: number): void;
}

/**
 * Lays tar bytes into fixed-size blocks taken from a sink (no allocation per
 * block), so file contents are read straight into the output.
 */
export class BlockWriter {
  readonly blockSize: number;
  private readonly sink: BlockSink;
  /** The current block. */
  bytes: Uint8Array;
  /** Write position in the current block. */
  pos = 0;
  /** Total bytes written. */
  total = 0;

  constructor(blockSize: number, sink: BlockSink) {
    if (blockSize % 512 !== 0) throw new Error('block size must be a multiple of 512');
    this.blockSize = blockSize;
    this.sink = sink;
    this.bytes = sink.acquire();
  }

  /** Free bytes in the current block (> 0: a full block is flushed first). */
  space(): number {
    if (this.pos === this.blockSize) {
      this.sink.flush(this.pos);
      this.bytes = this.sink.acquire();
      this.pos = 0;
    }
    return this.blockSize - this.pos;
  }

  /** Marks `n` bytes (written directly into `bytes` at `pos`) as used. */
  advance(n: number): void {
    this.pos += n;
    this.total += n;
  }

  /** Writes an entry's header (headers start on 512-byte boundaries, so never span blocks). */
  header(e: TarEntry): void {
    if (this.space() >= 512) {
      this.bytes.fill(0, this.pos, this.pos + 512);
      if (writeSimpleHeader(this.bytes, this.pos, e)) {
        this.advance(512);
        return;
      }
    }
    this.write(encodeHeader(e));
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
      this.bytes.fill(0, this.pos, this.pos + k);
      this.advance(k);
      n -= k;
    }
  }

  /** Writes the end-of-archive marker (two zero blocks) and flushes the last block. */
  end(): void {
    this.zeros(1024);
    this.sink.flush(this.pos);
    this.pos = 0;
  }
}
