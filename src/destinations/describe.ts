/**
 * What went wrong with a destination, in the user's terms. One function for every
 * destination, so a refused connection, a reset, a timeout, an HTTP error and a full
 * disk read the same on every destination, remote or a local directory:
 *
 *   connection refused
 *   connection reset after 5.2 MB sent
 *   timed out after 2s with no progress (BACKUP_DESTINATION_TIMEOUT)
 *   HTTP 507 Insufficient Storage (InsufficientStorage)
 *   disk full (ENOSPC)
 *
 * describeFailure() looks through `cause` chains and AggregateErrors for the most
 * telling fact (a timeout of ours, an HTTP status, a socket or file-system error code)
 * and falls back to the error's own message.
 */
import { destinationDefinitions } from './registry.ts';
import { errorMessage } from '../errors.ts';
// not `import ... from 'node:http'`: the ES module facade of node:http reads every export, which
// loads Node's bundled undici (~9 MiB, ~80 ms at every start); the CommonJS module does not. And
// only when an error is described: loading node:http (with net, streams) costs every start ~5 ms.
const statusText = (status: number): string | undefined => process.getBuiltinModule('node:http').STATUS_CODES[status];

const CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ECONNABORTED: 'connection aborted',
  ENOTCONN: 'connection lost',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  EHOSTDOWN: 'host down',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network down',
  ETIMEDOUT: 'timed out',
  UND_ERR_SOCKET: 'connection reset',
  UND_ERR_CLOSED: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'timed out connecting',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for an answer',
  UND_ERR_BODY_TIMEOUT: 'timed out receiving data',
  ERR_STREAM_PREMATURE_CLOSE: 'connection closed before the transfer completed',
  ENOSPC: 'disk full (ENOSPC)',
  EDQUOT: 'disk quota exceeded (EDQUOT)',
  EFBIG: 'file too large for the file system (EFBIG)',
  EROFS: 'read-only file system (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  EIO: 'I/O error (EIO)',
  ENOENT: 'no such file or directory (ENOENT)',
};

/** Codes that mean a connection ended under a transfer (worth "after N bytes"). */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ENOTCONN', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Server error codes that mean "no space": storage full or quota reached. */
const FULL_RE = /insufficient[_ ]?storage|insufficient_space|quota|storage.?full|no space|disk full|ENOSPC|EDQUOT|AccountStorageQuota|QuotaExceeded/i;

type Obj = Record<string, unknown>;

function statusOf(e: Obj): number | undefined {
  const meta = e.$metadata as { httpStatusCode?: unknown } | undefined;
  const resp = e.response as { status?: unknown; statusCode?: unknown } | undefined;
  for (const v of [meta?.httpStatusCode, e.statusCode, e.status, resp?.status, resp?.statusCode]) {
    if (typeof v === 'number' && v >= 100 && v < 600) return v;
  }
  return undefined;
}

/** Error class names that say nothing beyond the status (each destination adds its SDK's: genericErrorNames). */
const GENERIC_ERROR_NAMES = new Set(['Error', 'TypeError', 'UnknownError', 'Unknown', 'HttpError', 'DestinationTimeoutError', 'AbortError']);

/** The server's own error code (e.g. an XML Code or a JSON error summary), when it says more than the status. */
function serverCode(e: Obj, status: number): string | undefined {
  const candidates = [e.Code, e.code, e.serverCode, e.name];
  for (const c of candidates) {
    if (typeof c !== 'string' || !c) continue;
    if (GENERIC_ERROR_NAMES.has(c) || destinationDefinitions().some((d) => d.genericErrorNames?.includes(c))) continue;
    if (/^\d+$/.test(c) || c === `HTTP ${status}` || CODES[c]) continue;
    return c;
  }
  return undefined;
}

function chain(err: unknown): Obj[] {
  const out: Obj[] = [];
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 6) return;
    seen.add(e);
    out.push(e as Obj);
    const o = e as Obj;
    if (Array.isArray(o.errors)) for (const inner of o.errors) walk(inner, depth + 1);
    walk(o.cause, depth + 1);
  };
  walk(err, 0);
  return out;
}

export interface FailureContext {
  /** Bytes of the archive sent when it failed (a reset then says "after N bytes"). */
  bytesSent?: number;
}

/** A byte count the way a user reads it: 512 bytes, 5.2 MB, 1.1 GB. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Does this failure mean the destination is out of space (disk full, quota, HTTP 507)? */
export function isOutOfSpace(err: unknown): boolean {
  for (const e of chain(err)) {
    if (statusOf(e) === 507) return true;
    for (const v of [e.code, e.Code, e.name, e.serverCode]) {
      if (typeof v === 'string' && (v === 'ENOSPC' || v === 'EDQUOT' || FULL_RE.test(v))) return true;
    }
  }
  return false;
}

/**
 * The cause of a destination failure in the user's terms (no destination name, no
 * operation: the caller puts those in front). Never includes secrets the error did not
 * already carry; callers redact as usual.
 */
export function describeFailure(err: unknown, ctx: FailureContext = {}): string {
  const all = chain(err);
  // 1. our own timeout says exactly what happened
  for (const e of all) {
    if (e.name === 'DestinationTimeoutError' && typeof e.message === 'string') {
      const m = e.message;
      const i = m.indexOf('timed out after');
      return i >= 0 ? m.slice(i) : m;
    }
  }
  // 2. an HTTP answer: status, reason phrase, the server's code
  for (const e of all) {
    const status = statusOf(e);
    if (status === undefined) continue;
    const code = serverCode(e, status);
    const text = `HTTP ${status} ${statusText(status) ?? ''}`.trim();
    const full = status === 507 || (code !== undefined && FULL_RE.test(code)) ? ': the destination is out of space' : '';
    return `${text}${code ? ` (${code})` : ''}${full}`;
  }
  // 3. a socket or file-system error code
  for (const e of all) {
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (!code || !CODES[code]) continue;
    let text = CODES[code]!;
    if (RESET_CODES.has(code) && ctx.bytesSent !== undefined && ctx.bytesSent > 0) text += ` after ${formatBytes(ctx.bytesSent)} sent`;
    return text.includes(code) ? text : `${text} (${code})`;
  }
  // 4. messages without a code
  for (const e of all) {
    const m = typeof e.message === 'string' ? e.message : '';
    if (/socket hang up|other side closed|premature close|terminated/i.test(m)) {
      return `connection closed by the server${ctx.bytesSent ? ` after ${formatBytes(ctx.bytesSent)} sent` : ''}`;
    }
  }
  return errorMessage(err);
}
