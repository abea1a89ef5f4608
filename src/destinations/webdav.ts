/**
 * WebDAV destination (`webdav` client over node-fetch).
 *
 * Upload: a streaming PUT (never buffered: chunked transfer, or Content-Length when the
 * size is known) to a temporary name in the target collection, then MOVE to the final
 * name with `Overwrite: F`. The temporary resource is deleted when anything fails.
 * Listing is PROPFIND depth 1; removal is one DELETE per name with bounded concurrency.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { posix } from 'node:path';
import { Transform, pipeline, type Readable } from 'node:stream';
import { createClient, AuthType, type FileStat, type WebDAVClient } from 'webdav';
import type { Logger } from '../log.ts';
import { UserError, errorMessage } from '../errors.ts';
import type { WebdavConfig } from '../config/webdav.ts';
import type { BackupObject, Destination, UploadOptions } from './types.ts';
import { assertPlainName } from './names.ts';
import { tempName, isTempName, forEachLimit, abortError, withFields } from './remote-util.ts';
import { isStaleLeftover, type LeftoverPolicy, type LeftoverReport } from './leftovers.ts';

const REMOVE_CONCURRENCY = 8;
/** Any request other than the upload body / download body. */
const REQUEST_TIMEOUT_MS = 120_000;
/** An upload is abandoned when no body bytes could be sent for this long. */
const STALL_TIMEOUT_MS = 300_000;
/** After the whole body is sent, the server may take long to answer (virus scan, assembling chunks). */
const RESPONSE_TIMEOUT_MS = 1_800_000;

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_NOT_YET_VALID',
]);

interface HttpishError extends Error {
  status?: number;
  code?: string;
  response?: { body?: { resume?: () => void }; statusText?: string };
}

export interface WebdavDestinationOptions {
  /** Extra CA certificates to trust (PEM), besides the system ones. */
  ca?: string | string[];
  /** Timeout of requests other than upload/download bodies (default 2 min). */
  requestTimeoutMs?: number;
  /** Abandon an upload when no body bytes could be sent for this long (default 5 min). */
  stallTimeoutMs?: number;
}

export function createWebdavDestination(cfg: WebdavConfig, log: Logger, opts: WebdavDestinationOptions = {}): Destination {
  const httpAgent = new HttpAgent({ keepAlive: true });
  const httpsAgent = new HttpsAgent({ keepAlive: true, rejectUnauthorized: !cfg.insecure, ...(opts.ca ? { ca: opts.ca } : {}) });
  const userPass = `${cfg.username}:${cfg.password}`;
  // The client base64-encodes credentials as Latin-1 (wrong for non-ASCII passwords, which
  // servers read as UTF-8): for those, send a UTF-8 Basic header ourselves (no Digest then).
  const ascii = /^[\x20-\x7e]*$/.test(userPass);
  const client: WebDAVClient = createClient(cfg.url, {
    // Auto: Basic sent up front; switches to Digest when the server asks for it.
    authType: cfg.username && ascii ? AuthType.Auto : AuthType.None,
    username: cfg.username && ascii ? cfg.username : undefined,
    password: cfg.username && ascii ? cfg.password : undefined,
    headers: cfg.username && !ascii ? { Authorization: `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}` } : {},
    httpAgent,
    httpsAgent,
  });
  const requestTimeout = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const stallTimeout = opts.stallTimeoutMs ?? STALL_TIMEOUT_MS;
  const timeout = () => AbortSignal.timeout(requestTimeout);
  const dir = cfg.path;
  const location = `${cfg.url}${dir === '/' ? '/' : `${dir}/`}`;
  const remote = (name: string) => posix.join(dir, name);
  let dirReady: Promise<void> | null = null;
  /** Temporary uploads that could not be deleted (server unreachable): retried on the next upload. */
  const orphans = new Set<string>();

  /** Turn a client error into one that says what failed and keeps status/code for retry classification. */
  function fail(op: string, path: string, err: unknown): Error {
    const e = err as HttpishError;
    e.response?.body?.resume?.(); // free the socket of an unread error body
    const where = `${cfg.url}${path}`;
    // Callers check their own abort signal first: an abort here is one of our timeouts.
    if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
      return withFields(new Error(`WebDAV ${op} ${where}: no answer within ${requestTimeout / 1000} s`, { cause: err }), { code: 'ETIMEDOUT' });
    }
    const status = typeof e?.status === 'number' ? e.status : undefined;
    const code = typeof e?.code === 'string' ? e.code : undefined;
    if (status === 401) {
      return withFields(new UserError(`WebDAV ${op} ${where} was refused: 401 Unauthorized`, 'check WEBDAV_USERNAME and WEBDAV_PASSWORD', { cause: err }), { status, transient: false });
    }
    if (status === 403) {
      return withFields(new UserError(`WebDAV ${op} ${where} was refused: 403 Forbidden`, `check that user "${cfg.username}" may write to WEBDAV_PATH ${dir}`, { cause: err }), { status, transient: false });
    }
    if (code && TLS_CODES.has(code)) {
      return withFields(new UserError(`WebDAV ${op} ${where}: TLS certificate not trusted (${code})`, 'use a certificate from a trusted CA, or set WEBDAV_URL_INSECURE=true to skip verification for a self-signed server', { cause: err }), { code, transient: false });
    }
    const detail = status !== undefined ? `${status} ${e.response?.statusText ?? ''}`.trim() : errorMessage(err);
    return withFields(new Error(`WebDAV ${op} ${where} failed: ${detail}`, { cause: err }), { status, code });
  }

  async function ensureDir(): Promise<void> {
    if (dir === '/') return;
    dirReady ??= (async () => {
      try {
        await client.createDirectory(dir, { recursive: true, signal: timeout() });
      } catch (err) {
        // 405: created meanwhile by someone else (MKCOL on an existing collection).
        if ((err as HttpishError).status === 405) {
          const st = await client.stat(dir, { signal: timeout() }).catch(() => null) as FileStat | null;
          if (st && st.type === 'directory') return;
        }
        throw fail('MKCOL', dir, err);
      }
    })();
    try {
      await dirReady;
    } catch (err) {
      dirReady = null;
      throw err;
    }
  }

  async function exists(path: string): Promise<boolean> {
    try {
      await client.stat(path, { signal: timeout() });
      return true;
    } catch (err) {
      if ((err as HttpishError).status === 404) return false;
      throw fail('PROPFIND', path, err);
    }
  }

  async function removeQuietly(path: string): Promise<void> {
    try {
      await client.deleteFile(path, { signal: timeout() });
    } catch (err) {
      if ((err as HttpishError).status === 404) return;
      orphans.add(path);
      log.warn({ destination: 'WebDAV', path, err: errorMessage(err) }, 'could not delete a temporary upload; will try again on the next upload');
    }
  }

  return {
    name: 'WebDAV',
    location,

    async upload(name: string, source: Readable, options: UploadOptions = {}): Promise<void> {
      assertPlainName(name, 'WebDAV');
      const { signal, size } = options;
      if (signal?.aborted) throw abortError(signal);
      await ensureDir();
      for (const o of [...orphans]) { orphans.delete(o); await removeQuietly(o); }
      const tmp = remote(tempName(name));
      const final = remote(name);
      let done = false;
      try {
        const headers: Record<string, string> = {};
        if (size !== undefined) headers['Content-Length'] = String(size);
        // The body goes through a counter so a stalled transfer is noticed.
        const watchdog = new AbortController();
        let lastProgress = Date.now();
        let bodyDone = false;
        const body = new Transform({
          highWaterMark: 1 << 20,
          transform(chunk, _enc, cb) { lastProgress = Date.now(); cb(null, chunk); },
          flush(cb) { bodyDone = true; lastProgress = Date.now(); cb(); },
        });
        pipeline(source, body, () => { /* errors reach the request through body */ });
        const timer = setInterval(() => {
          const idle = Date.now() - lastProgress;
          if (idle > (bodyDone ? RESPONSE_TIMEOUT_MS : stallTimeout)) watchdog.abort();
        }, Math.min(stallTimeout / 10, 10_000));
        try {
          const put = signal ? AbortSignal.any([signal, watchdog.signal]) : watchdog.signal;
          await client.putFileContents(tmp, body, { overwrite: true, headers, signal: put });
        } catch (err) {
          if (signal?.aborted) throw abortError(signal);
          if (watchdog.signal.aborted) {
            throw withFields(new Error(bodyDone
              ? `WebDAV PUT ${cfg.url}${tmp}: no answer ${RESPONSE_TIMEOUT_MS / 60_000} min after the upload was sent`
              : `WebDAV PUT ${cfg.url}${tmp} stalled: no data could be sent for ${stallTimeout / 1000} s`), { code: 'ETIMEDOUT' });
          }
          throw fail('PUT', tmp, err);
        } finally {
          clearInterval(timer);
          body.destroy();
        }
        if (signal?.aborted) throw abortError(signal);
        // MOVE with Overwrite: F is the real guard; the check gives a clear message on servers that ignore it.
        if (await exists(final)) throw conflict(name);
        try {
          await client.moveFile(tmp, final, { overwrite: false, signal: timeout() });
        } catch (err) {
          if ((err as HttpishError).status === 412) throw conflict(name);
          throw fail('MOVE', tmp, err);
        }
        done = true;
      } finally {
        if (!done) source.destroy(); // stop whatever produces the archive
        if (!done) await removeQuietly(tmp);
      }
    },

    /** Stale temporary uploads in WEBDAV_PATH (see leftovers.ts). */
    async cleanupLeftovers(policy: LeftoverPolicy, signal?: AbortSignal): Promise<LeftoverReport> {
      const sig = () => (signal ? AbortSignal.any([signal, timeout()]) : timeout());
      let entries: FileStat[];
      try {
        entries = await client.getDirectoryContents(dir, { signal: sig() }) as FileStat[];
      } catch (err) {
        if ((err as HttpishError).status === 404) return { removed: [] };
        throw fail('PROPFIND', dir, err);
      }
      const removed: string[] = [];
      for (const e of entries) {
        if (signal?.aborted) break;
        const modified = e.lastmod ? new Date(e.lastmod) : null;
        if (e.type !== 'file' || !isStaleLeftover(e.basename, modified && !Number.isNaN(modified.getTime()) ? modified : null, policy)) continue;
        try {
          await client.deleteFile(remote(e.basename), { signal: sig() });
          removed.push(e.basename);
        } catch (err) {
          if ((err as HttpishError).status !== 404) throw fail('DELETE', remote(e.basename), err);
        }
      }
      return { removed };
    },

    async list(prefix: string): Promise<BackupObject[]> {
      let entries: FileStat[];
      try {
        entries = await client.getDirectoryContents(dir, { signal: timeout() }) as FileStat[];
      } catch (err) {
        if ((err as HttpishError).status === 404) return [];
        throw fail('PROPFIND', dir, err);
      }
      return entries
        .filter((e) => e.type === 'file' && e.basename.startsWith(prefix) && !isTempName(e.basename))
        .map((e) => ({ name: e.basename, size: e.size, modified: new Date(e.lastmod) }));
    },

    async remove(names: string[]): Promise<void> {
      await forEachLimit(names, REMOVE_CONCURRENCY, async (name) => {
        try {
          await client.deleteFile(remote(name), { signal: timeout() });
        } catch (err) {
          if ((err as HttpishError).status === 404) return;
          throw fail('DELETE', remote(name), err);
        }
      });
    },

    async download(name: string): Promise<Readable> {
      try {
        // Time out waiting for the response head only; the body streams as long as it flows.
        const ac = new AbortController();
        const t = setTimeout(() => ac.abort(), requestTimeout);
        try {
          const res = await client.customRequest(remote(name), { method: 'GET', signal: ac.signal });
          // node-fetch: the body is a Node stream.
          return (res as unknown as { body: Readable }).body;
        } finally {
          clearTimeout(t);
        }
      } catch (err) {
        const out = fail('GET', remote(name), err);
        if ((err as HttpishError).status === 404) withFields(out, { code: 'ENOENT', transient: false });
        throw out;
      }
    },

    async close(): Promise<void> {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };

  function conflict(name: string): Error {
    return withFields(new UserError(`WebDAV: ${location}${name} already exists; refusing to overwrite it`, 'another run produced the same file name: make BACKUP_FILENAME unique per run (it should contain a timestamp)'), { status: 412, transient: false });
  }
}
