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
import { proxyAgentOptions } from '../proxy.ts';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { createClient, AuthType, type FileStat, type WebDAVClient } from 'webdav';
import type { Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import type { WebdavConfig } from './webdav.def.ts';
import type { BackupObject, Destination, UploadOptions } from './types.ts';
import { assertPlainName } from './names.ts';
import { tempName, isTempName, forEachLimit, abortError } from './remote-util.ts';
import { isStaleLeftover, type LeftoverPolicy, type LeftoverReport } from './leftovers.ts';
import { guarded, guardStream, metered, isTimeout, type Guard } from './deadline.ts';
import { describeFailure } from './describe.ts';
import { DestinationError, DestinationUserError, NotFoundError } from './errors.ts';

const REMOVE_CONCURRENCY = 8;
/** Deadline of each request, and of an upload or download making no progress (BACKUP_DESTINATION_TIMEOUT's default). */
const REQUEST_TIMEOUT_MS = 600_000;

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_NOT_YET_VALID',
]);

interface HttpishError extends Error {
  status?: number;
  code?: string;
  response?: { body?: { resume?: () => void }; statusText?: string };
}

export interface WebdavDestinationOptions {
  /** Extra CA certificates to trust (PEM), besides the system ones. */
  ca?: string | string[];
  /** Deadline of each request, and of an upload/download making no progress (BACKUP_DESTINATION_TIMEOUT, default 10 min). */
  requestTimeoutMs?: number;
  /** Deprecated alias of requestTimeoutMs (the smaller of both applies). */
  stallTimeoutMs?: number;
}

export function createWebdavDestination(cfg: WebdavConfig, log: Logger, opts: WebdavDestinationOptions = {}): Destination {
  // HTTP_PROXY / HTTPS_PROXY / NO_PROXY (src/proxy.ts)
  const httpAgent = new HttpAgent({ keepAlive: true, ...proxyAgentOptions(process.env, 'http') });
  const httpsAgent = new HttpsAgent({ keepAlive: true, rejectUnauthorized: !cfg.insecure, ...(opts.ca ? { ca: opts.ca } : {}), ...proxyAgentOptions() });
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
  const requestTimeout = Math.min(opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, opts.stallTimeoutMs ?? Infinity);
  /** One request with the deadline (and the caller's signal). */
  const req = <T>(what: string, fn: (signal: AbortSignal, g: Guard) => Promise<T>, signal?: AbortSignal): Promise<T> =>
    guarded({ timeoutMs: requestTimeout, what: `WebDAV ${what}`, signal }, (g) => fn(g.signal, g));
  const dir = cfg.path;
  const location = `${cfg.url}${dir === '/' ? '/' : `${dir}/`}`;
  const remote = (name: string) => posix.join(dir, name);
  let dirReady: Promise<void> | null = null;
  /** Temporary uploads that could not be deleted (server unreachable): retried on the next upload. */
  const orphans = new Set<string>();

  /** Turn a client error into one that says what failed and keeps status/code for retry classification. */
  function fail(op: string, path: string, err: unknown, bytesSent?: number): Error {
    const e = err as HttpishError;
    e.response?.body?.resume?.(); // free the socket of an unread error body
    const where = `${cfg.url}${path}`;
    if (isTimeout(err) || e?.name === 'AbortError') return err as Error;
    const status = typeof e?.status === 'number' ? e.status : undefined;
    const code = typeof e?.code === 'string' ? e.code : undefined;
    if (status === 401) {
      return new DestinationUserError(`WebDAV ${op} ${where} was refused: 401 Unauthorized`, 'check WEBDAV_USERNAME and WEBDAV_PASSWORD', {
        cause: err,
        status,
        transient: false,
      });
    }
    if (status === 403) {
      return new DestinationUserError(`WebDAV ${op} ${where} was refused: 403 Forbidden`, `check that user "${cfg.username}" may write to WEBDAV_PATH ${dir}`, {
        cause: err,
        status,
        transient: false,
      });
    }
    if (code && TLS_CODES.has(code)) {
      return new DestinationUserError(
        `WebDAV ${op} ${where}: TLS certificate not trusted (${code})`,
        'use a certificate from a trusted CA, or set WEBDAV_URL_INSECURE=true to skip verification for a self-signed server',
        { cause: err, code, transient: false },
      );
    }
    return new DestinationError(`WebDAV ${op} ${where} failed: ${describeFailure(err, { bytesSent })}`, { cause: err, status, code });
  }

  /** MKCOL each missing level (the library's recursive createDirectory sends its PROPFINDs without a signal). */
  async function mkdirs(signal?: AbortSignal): Promise<void> {
    const parts = dir.split('/').filter(Boolean);
    let missingFrom = parts.length;
    // find the deepest existing level, from the bottom up (usually it is the directory itself)
    for (let i = parts.length; i > 0; i--) {
      const p = `/${parts.slice(0, i).join('/')}`;
      const st = await req(`PROPFIND ${cfg.url}${p}`, (s) => client.stat(p, { signal: s }) as Promise<FileStat>, signal).catch((err: HttpishError) => {
        if (err?.status === 404) return null;
        throw fail('PROPFIND', p, err);
      });
      if (st) {
        if (st.type !== 'directory')
          throw new DestinationUserError(`WebDAV: ${cfg.url}${p} is a file, not a collection`, 'fix WEBDAV_PATH', { transient: false });
        break;
      }
      missingFrom = i - 1;
    }
    for (let i = missingFrom + 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      try {
        await req(`MKCOL ${cfg.url}${p}`, (s) => client.createDirectory(p, { signal: s }), signal);
      } catch (err) {
        // 405: created meanwhile by someone else (MKCOL on an existing collection).
        if ((err as HttpishError).status === 405) {
          const st = await req(`PROPFIND ${cfg.url}${p}`, (s) => client.stat(p, { signal: s }) as Promise<FileStat>, signal).catch(() => null);
          if (st && st.type === 'directory') continue;
        }
        throw fail('MKCOL', p, err);
      }
    }
  }

  async function ensureDir(signal?: AbortSignal): Promise<void> {
    if (dir === '/') return;
    dirReady ??= mkdirs(signal);
    try {
      await dirReady;
    } catch (err) {
      dirReady = null;
      throw err;
    }
  }

  async function statOf(path: string): Promise<FileStat | null> {
    try {
      return await req(`PROPFIND ${cfg.url}${path}`, (s) => client.stat(path, { signal: s }) as Promise<FileStat>);
    } catch (err) {
      if ((err as HttpishError).status === 404) return null;
      throw fail('PROPFIND', path, err);
    }
  }

  /**
   * Remove a failed upload's temporary file. A server may still be writing the broken PUT
   * when the DELETE arrives (and recreate the file): check once more after a moment.
   */
  async function removeTemp(path: string): Promise<void> {
    await removeQuietly(path);
    if (orphans.has(path)) return;
    await new Promise((r) => setTimeout(r, 250));
    if (await statOf(path).catch(() => null)) await removeQuietly(path);
  }

  async function removeQuietly(path: string): Promise<void> {
    try {
      await req(`DELETE ${cfg.url}${path}`, (s) => client.deleteFile(path, { signal: s }));
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
      let done = false;
      let sent = 0;
      const tmp = remote(tempName(name));
      const final = remote(name);
      let started = false;
      try {
        await ensureDir(signal);
        for (const o of [...orphans]) {
          orphans.delete(o);
          await removeQuietly(o);
        }
        const headers: Record<string, string> = {};
        if (size !== undefined) headers['Content-Length'] = String(size);
        started = true;
        // Bytes taken by the request are progress; the deadline also covers the wait for the answer.
        await req(
          `PUT ${cfg.url}${tmp}`,
          async (s, g) => {
            const body = metered(source, () => g.progress());
            try {
              await client.putFileContents(tmp, body.stream, { overwrite: true, headers, signal: s });
            } catch (err) {
              sent = body.bytes();
              throw err;
            } finally {
              sent = body.bytes();
              body.stream.destroy();
            }
          },
          signal,
        ).catch((err) => {
          if (signal?.aborted) throw abortError(signal);
          throw fail('PUT', tmp, err, sent);
        });
        if (signal?.aborted) throw abortError(signal);
        // Nothing incomplete may carry the backup's name: the server must hold every byte sent.
        const st = await statOf(tmp);
        if (!st || st.size !== sent) {
          throw new DestinationError(
            `WebDAV PUT ${cfg.url}${tmp}: the server holds ${st ? st.size : 'no'} bytes of the ${sent} sent; the upload was abandoned`,
            { code: 'ESHORTWRITE', transient: true },
          );
        }
        // MOVE with Overwrite: F is the real guard; the check gives a clear message on servers that ignore it.
        // With `replace`, one MOVE with Overwrite: T swaps the complete new file in on the server.
        if (!options.replace && (await statOf(final))) throw conflict(name);
        try {
          await req(`MOVE ${cfg.url}${tmp}`, (s) => client.moveFile(tmp, final, { overwrite: options.replace === true, signal: s }));
        } catch (err) {
          if ((err as HttpishError).status === 412) throw conflict(name);
          throw fail('MOVE', tmp, err);
        }
        done = true;
      } finally {
        if (!done) source.destroy(); // stop whatever produces the archive
        if (!done && started) await removeTemp(tmp);
      }
    },

    /** Stale temporary uploads in WEBDAV_PATH (see leftovers.ts). */
    async cleanupLeftovers(policy: LeftoverPolicy, signal?: AbortSignal): Promise<LeftoverReport> {
      let entries: FileStat[];
      try {
        entries = await req(`PROPFIND ${cfg.url}${dir}`, (s) => client.getDirectoryContents(dir, { signal: s }) as Promise<FileStat[]>, signal);
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
          await req(`DELETE ${cfg.url}${remote(e.basename)}`, (s) => client.deleteFile(remote(e.basename), { signal: s }), signal);
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
        entries = await req(`PROPFIND ${cfg.url}${dir}`, (s) => client.getDirectoryContents(dir, { signal: s }) as Promise<FileStat[]>);
      } catch (err) {
        if ((err as HttpishError).status === 404) return [];
        throw fail('PROPFIND', dir, err);
      }
      return entries
        .filter((e) => e.type === 'file' && e.basename.startsWith(prefix) && !isTempName(e.basename))
        .map((e) => ({ name: e.basename, size: e.size, modified: new Date(e.lastmod) }));
    },

    async remove(names: string[]): Promise<void> {
      for (const n of names) assertPlainName(n, 'WebDAV');
      await forEachLimit(names, REMOVE_CONCURRENCY, async (name) => {
        try {
          await req(`DELETE ${cfg.url}${remote(name)}`, (s) => client.deleteFile(remote(name), { signal: s }));
        } catch (err) {
          if ((err as HttpishError).status === 404) return;
          throw fail('DELETE', remote(name), err);
        }
      });
    },

    async download(name: string): Promise<Readable> {
      assertPlainName(name, 'WebDAV');
      try {
        // The deadline covers the answer; the body has its own (no data for the timeout while it is read).
        const ac = new AbortController();
        const res = await req(`GET ${cfg.url}${remote(name)}`, (s) => {
          s.addEventListener('abort', () => ac.abort(s.reason), { once: true });
          return client.customRequest(remote(name), { method: 'GET', signal: ac.signal });
        });
        // node-fetch: the body is a Node stream.
        const body = (res as unknown as { body: Readable }).body;
        return guardStream(body, { timeoutMs: requestTimeout, what: `WebDAV GET ${cfg.url}${remote(name)}`, onAbort: () => ac.abort() });
      } catch (err) {
        const out = fail('GET', remote(name), err);
        if ((err as HttpishError).status === 404) throw new NotFoundError(out.message, { cause: err, status: 404 });
        throw out;
      }
    },

    async close(): Promise<void> {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };

  function conflict(name: string): Error {
    return new DestinationUserError(
      `WebDAV: ${location}${name} already exists; refusing to overwrite it`,
      'another run produced the same file name: make BACKUP_FILENAME unique per run (it should contain a timestamp)',
      { status: 412, transient: false },
    );
  }
}
