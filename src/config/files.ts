/**
 * Bounded reads of the files a user names in the configuration (X_FILE, .env,
 * conf.d, certificates). Only regular files are read, at most MAX_CONFIG_FILE_BYTES:
 * `/dev/zero` cannot fill memory and a FIFO cannot hang start-up (the file is
 * opened with O_NONBLOCK and checked with fstat before anything is read).
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** 1 MiB: far above any secret, key ring, certificate or env file. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

export type ReadResult = { ok: true; text: string } | { ok: false; problem: string };

/**
 * Read a regular file of at most `max` bytes as UTF-8. On failure `problem` completes
 * the sentence "the file PATH ..." (e.g. "does not exist", "is a FIFO, not a regular file").
 */
export function readBoundedFile(path: string, max = MAX_CONFIG_FILE_BYTES): ReadResult {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return { ok: false, problem: openProblem(e) };
  }
  try {
    const st = fstatSync(fd);
    // /dev/null reads as empty: `OFFSITE_DOTENV=/dev/null` means "no .env file"
    if (st.isCharacterDevice() && st.rdev === devNullRdev()) return { ok: true, text: '' };
    if (!st.isFile()) return { ok: false, problem: kindOf(st) };
    if (st.size > max) return { ok: false, problem: `is larger than ${formatLimit(max)} (${st.size} bytes)` };
    // read one byte more than allowed: a file that grows past the limit is refused too
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > max) return { ok: false, problem: `is larger than ${formatLimit(max)}` };
    }
    return { ok: true, text: buf.subarray(0, n).toString('utf8') };
  } catch (e) {
    return { ok: false, problem: openProblem(e) };
  } finally {
    closeSync(fd);
  }
}

function openProblem(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'is not readable (permission denied)';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'does not exist (a part of its path is not a directory)';
    case 'ELOOP':
      return 'is a symbolic link loop';
    default:
      return `cannot be read (${err.code ?? err.message})`;
  }
}

function kindOf(st: import('node:fs').Stats): string {
  const kind = st.isDirectory()
    ? 'a directory'
    : st.isFIFO()
      ? 'a FIFO (named pipe)'
      : st.isCharacterDevice()
        ? 'a character device'
        : st.isBlockDevice()
          ? 'a block device'
          : st.isSocket()
            ? 'a socket'
            : '';
  return kind ? `is ${kind}, not a regular file` : 'is not a regular file';
}

function formatLimit(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`;
}

let nullRdev: number | null | undefined;
function devNullRdev(): number | null {
  if (nullRdev === undefined) {
    try {
      nullRdev = statSync('/dev/null').rdev;
    } catch {
      nullRdev = null;
    }
  }
  return nullRdev;
}
