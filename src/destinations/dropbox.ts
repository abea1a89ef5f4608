/**
 * Dropbox destination (official `dropbox` SDK).
 *
 * - Short-lived access tokens from DROPBOX_REFRESH_TOKEN, refreshed shortly before they
 *   expire and once more on a 401; refreshes are shared by concurrent requests.
 * - Uploads up to one chunk (8 MiB) go in a single `files/upload`; larger ones use a
 *   concurrent upload session: chunks of 8 MiB (a multiple of the 4 MiB Dropbox requires)
 *   appended by up to DROPBOX_CONCURRENCY_LEVEL requests at once, the last one closing the
 *   session, then `finish` commits with mode add, autorename off and strict conflicts:
 *   nothing appears under the name before that, and an existing file is never replaced.
 *   Memory held by one upload: chunk size x concurrency (48 MiB with the defaults), plus
 *   one more chunk for a moment while a chunk is joined from the stream's pieces.
 * - Every request: 429 waits as long as Retry-After says; 5xx, too_many_write_operations
 *   and network errors are retried a few times with backoff.
 * - list_folder with continue paging; delete_batch (1000 per batch) polled to completion;
 *   downloads stream straight from `files/download` (the SDK would buffer them).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Dropbox, DropboxAuth, DropboxResponseError, type files } from 'dropbox';
import type { Logger } from '../log.ts';
import { UserError, errorMessage } from '../errors.ts';
import { registerSecret } from '../redact.ts';
import { DEFAULT_DROPBOX_ENDPOINT, type DropboxConfig } from './dropbox.def.ts';
import type { BackupObject, Destination, UploadOptions } from './types.ts';
import { abortError } from './remote-util.ts';
import { chunks, type Chunk } from './chunks.ts';
import { backoffDelay, retryAfterMs, retryLoop, sleep } from '../retry.ts';
import { guarded, guardStream, isTimeout } from './deadline.ts';
import { describeFailure } from './describe.ts';
import { assertPlainName } from './names.ts';
import { DestinationError, DestinationUserError, NotFoundError } from './errors.ts';

const MiB = 1 << 20;
/** Upload chunk: a multiple of 4 MiB (concurrent sessions require it). */
export const DROPBOX_CHUNK_SIZE = 8 * MiB;
const BLOCK = 4 * MiB;
const DELETE_BATCH = 1000;
/** Deadline of each request (BACKUP_DESTINATION_TIMEOUT's default): until its whole answer is in. */
const DEFAULT_RPC_TIMEOUT_MS = 600_000;
const MAX_TRANSIENT_RETRIES = 4;
const MAX_RATE_LIMIT_WAITS = 10;
const MAX_RETRY_AFTER_MS = 300_000;
const MAX_BACKOFF_MS = 30_000;

const API_HOST = 'https://api.dropboxapi.com/';
const CONTENT_HOST = 'https://content.dropboxapi.com/';

export interface DropboxDestinationOptions {
  /** fetch used for every request (tests point it at a local fake). */
  fetch?: typeof fetch;
  /** Chunk size in bytes, a multiple of 4 MiB (default 8 MiB). */
  chunkSize?: number;
  /** Refresh the access token when it has less than this left (default 5 min). */
  tokenRefreshMarginMs?: number;
  /** Base delay of the backoff between retries of transient failures (default 500 ms). */
  retryBaseMs?: number;
  /** Deadline of each request, token refreshes and uploads of a chunk included (BACKUP_DESTINATION_TIMEOUT, default 10 min). */
  requestTimeoutMs?: number;
}

interface DbxError {
  status?: number;
  headers?: { get?(name: string): string | null } | Record<string, string>;
  error?: unknown;
  name?: string;
  message?: string;
  code?: string;
  cause?: unknown;
}

/** error_summary of a Dropbox error body, without the trailing `/..`/`/...` noise. */
function summaryOf(err: DbxError): string {
  const e = err.error as { error_summary?: string; error?: string; error_description?: string } | string | undefined;
  if (e && typeof e === 'object') {
    if (typeof e.error_summary === 'string') return e.error_summary.replace(/\/\.*$/, '').replace(/\/+$/, '');
    if (typeof e.error === 'string') return e.error_description ? `${e.error}: ${e.error_description}` : e.error;
  }
  if (typeof e === 'string') return e.slice(0, 300);
  return '';
}

function header(err: DbxError, name: string): string | null {
  const h = err.headers;
  if (!h) return null;
  if (typeof (h as { get?: unknown }).get === 'function') return (h as { get(n: string): string | null }).get(name);
  const rec = h as Record<string, string>;
  return rec[name] ?? rec[name.toLowerCase()] ?? null;
}

function isNetworkError(err: unknown): boolean {
  const e = err as DbxError;
  if (e?.name === 'TimeoutError') return true;
  if (e instanceof TypeError && /fetch failed|terminated|network/i.test(e.message ?? '')) return true;
  const cause = e?.cause as { code?: string } | undefined;
  return Boolean(cause?.code && /^(ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|UND_ERR)/.test(cause.code));
}

/** Dropbox content hash (SHA-256 over the SHA-256 digests of 4 MiB blocks), incremental. */
class ContentHasher {
  private overall = createHash('sha256');
  private block = createHash('sha256');
  private inBlock = 0;
  update(data: Buffer): void {
    let pos = 0;
    while (pos < data.length) {
      const take = Math.min(BLOCK - this.inBlock, data.length - pos);
      this.block.update(data.subarray(pos, pos + take));
      this.inBlock += take;
      pos += take;
      if (this.inBlock === BLOCK) {
        this.overall.update(this.block.digest());
        this.block = createHash('sha256');
        this.inBlock = 0;
      }
    }
  }
  digest(): string {
    if (this.inBlock > 0) this.overall.update(this.block.digest());
    return this.overall.digest('hex');
  }
}

function contentHash(data: Buffer): string {
  const h = new ContentHasher();
  h.update(data);
  return h.digest();
}

/** Waits between tries end at an abort with an AbortError. */
const dropboxSleep = (ms: number, signal?: AbortSignal) => sleep(ms, signal, abortError);

/** JSON for the Dropbox-API-Arg header: non-ASCII escaped as \uXXXX. */
function headerJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** fetch that sends Dropbox's hosts to DROPBOX_ENDPOINT / DROPBOX_OAUTH2_ENDPOINT when they are not the default. */
function endpointFetch(base: typeof fetch, cfg: DropboxConfig): typeof fetch {
  const custom = cfg.endpoint !== DEFAULT_DROPBOX_ENDPOINT || cfg.oauth2Endpoint !== DEFAULT_DROPBOX_ENDPOINT;
  if (!custom) return base;
  return ((input: string | URL | Request, init?: RequestInit) => {
    let url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    if (url.startsWith(`${API_HOST}oauth2/`)) url = cfg.oauth2Endpoint + url.slice(API_HOST.length);
    else if (url.startsWith(`${API_HOST}2/`)) url = cfg.endpoint + url.slice(API_HOST.length);
    else if (url.startsWith(`${CONTENT_HOST}2/`)) url = cfg.endpoint + url.slice(CONTENT_HOST.length);
    return base(url, init);
  }) as typeof fetch;
}

/**
 * Every request of the SDK (token refreshes included) gets the deadline: the answer,
 * body included, must be in within `timeoutMs`, else the request is aborted (its socket
 * closed) with a DestinationTimeoutError. Downloads only wait for the head this way;
 * their body is guarded while it is read (guardStream).
 */
function deadlineFetch(base: typeof fetch, timeoutMs: number): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const path = new URL(url).pathname;
    const streamed = path.endsWith('/2/files/download');
    return guarded({ timeoutMs, what: `Dropbox ${path.replace(/^\/(2\/)?/, '')}`, signal: init.signal ?? undefined }, async (g) => {
      const res = await base(input, { ...init, signal: g.signal });
      if (streamed && res.ok) return res;
      const body = [101, 204, 205, 304].includes(res.status) ? null : await res.arrayBuffer();
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    });
  }) as typeof fetch;
}

export function createDropboxDestination(cfg: DropboxConfig, log: Logger, opts: DropboxDestinationOptions = {}): Destination {
  const chunkSize = opts.chunkSize ?? DROPBOX_CHUNK_SIZE;
  if (chunkSize <= 0 || chunkSize % BLOCK !== 0) throw new Error(`Dropbox chunk size must be a positive multiple of 4 MiB, got ${chunkSize}`);
  const margin = opts.tokenRefreshMarginMs ?? 300_000;
  const retryBase = opts.retryBaseMs ?? 500;
  const RPC_TIMEOUT_MS = opts.requestTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
  const f = deadlineFetch(endpointFetch(opts.fetch ?? globalThis.fetch.bind(globalThis), cfg), RPC_TIMEOUT_MS);
  // One DropboxAuth only refreshes; the client's own has no refresh token, so the SDK never
  // refreshes on its own and concurrent requests share one refresh.
  const tokenSource = new DropboxAuth({ clientId: cfg.appKey, clientSecret: cfg.appSecret, refreshToken: cfg.refreshToken, fetch: f });
  const auth = new DropboxAuth({ fetch: f });
  const dbx = new Dropbox({ auth, fetch: f });
  const dir = cfg.remotePath; // '' = root
  const location = `dropbox:${dir || '/'}`;
  const pathOf = (name: string) => `${dir}/${name}`;
  let refreshing: Promise<void> | null = null;
  let expiresAt = 0;

  /** Refusals of the credentials become UserErrors; anything else is rethrown as is (network, 5xx: retried by call()). */
  function tokenError(err: unknown): unknown {
    const e = err as DbxError;
    const summary = summaryOf(e);
    if (e?.status === 400 || e?.status === 401 || e?.status === 403) {
      if (/invalid_client/.test(summary)) {
        return new DestinationUserError(
          `Dropbox refused the app credentials (${summary})`,
          'check DROPBOX_APP_KEY and DROPBOX_APP_SECRET (App Console > your app > Settings)',
          { cause: err, status: e.status, code: 'invalid_client', transient: false },
        );
      }
      return new DestinationUserError(
        `Dropbox refused DROPBOX_REFRESH_TOKEN (${summary || `HTTP ${e.status}`})`,
        'the token was revoked or belongs to another app: create a new refresh token (see README.md, "Getting a refresh token")',
        { cause: err, status: e.status, code: 'invalid_grant', transient: false },
      );
    }
    return err;
  }

  async function ensureToken(force: boolean): Promise<void> {
    if (refreshing) return refreshing;
    if (!force && auth.getAccessToken() && Date.now() + margin < expiresAt) return;
    refreshing = (async () => {
      try {
        await tokenSource.refreshAccessToken();
      } catch (err) {
        throw tokenError(err);
      }
      const token = tokenSource.getAccessToken();
      registerSecret(token); // a bearer token is as good as the app's credentials while it lives
      auth.setAccessToken(token);
      const exp = tokenSource.getAccessTokenExpiresAt();
      expiresAt = exp ? exp.getTime() : Date.now() + 3_600_000;
      log.debug({ destination: 'Dropbox', expiresAt: new Date(expiresAt).toISOString() }, 'Dropbox access token refreshed');
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  const wrapped = new WeakSet<object>();
  function fail(what: string, err: unknown): Error {
    if (err instanceof UserError || (err as Error)?.name === 'AbortError' || (err && wrapped.has(err as object))) return err as Error;
    const out = classify(what, err);
    wrapped.add(out);
    return out;
  }

  function classify(what: string, err: unknown): Error {
    const e = err as DbxError;
    if (isTimeout(err)) return err as Error;
    if (typeof e?.status !== 'number') {
      const code = (e?.cause as { code?: string })?.code ?? (e?.name === 'TimeoutError' ? 'ETIMEDOUT' : 'ENETWORK');
      return new DestinationError(`Dropbox ${what} failed: cannot reach Dropbox: ${describeFailure(err)}`, { cause: err, code });
    }
    const summary = summaryOf(e);
    const status = e.status;
    if (status === 401) {
      return new DestinationUserError(
        `Dropbox ${what}: access refused (${summary || '401'})`,
        'check that the app has the files.content.write, files.content.read and files.metadata.read permissions, then create a new refresh token',
        { cause: err, status, code: summary, transient: false },
      );
    }
    if (status === 409) {
      if (/^path(_lookup)?\/not_found/.test(summary)) {
        return new NotFoundError(`Dropbox ${what}: not found (${summary})`, { cause: err, status });
      }
      if (/conflict/.test(summary)) {
        return new DestinationUserError(
          `Dropbox ${what}: a file or folder with that name already exists (${summary}); refusing to overwrite it`,
          'another run produced the same file name: make BACKUP_FILENAME unique per run (it should contain a timestamp)',
          { cause: err, status, code: summary, transient: false },
        );
      }
      if (/insufficient_space/.test(summary)) {
        return new DestinationUserError(`Dropbox ${what}: the Dropbox is full (${summary})`, 'free space in the Dropbox or lower BACKUP_RETENTION_DAYS', {
          cause: err,
          status,
          code: summary,
          transient: false,
        });
      }
      if (/malformed_path|disallowed_name|no_write_permission|not_folder|team_folder/.test(summary)) {
        return new DestinationUserError(`Dropbox ${what}: ${summary}`, "check DROPBOX_REMOTE_PATH (a folder path such as /backups) and the app's access type", {
          cause: err,
          status,
          code: summary,
          transient: false,
        });
      }
      return new DestinationError(`Dropbox ${what} failed: ${summary}`, { cause: err, status, code: summary });
    }
    if (status === 400) {
      return new DestinationError(`Dropbox ${what} was rejected as invalid: ${summary}`, { cause: err, status, code: 'bad_request', transient: false });
    }
    return new DestinationError(`Dropbox ${what} failed: ${describeFailure({ status, serverCode: summary || undefined })}`, {
      cause: err,
      status,
      code: summary || undefined,
    });
  }

  /**
   * One API call with token handling and retries. `onConflictRetry` sees a 409 after a
   * retried attempt (used by appends to recognise that a lost response had succeeded).
   */
  async function call<T>(what: string, fn: () => Promise<{ result: T }>, signal?: AbortSignal, acceptAfterRetry?: (err: DbxError) => boolean): Promise<T> {
    let transient = 0;
    let rateLimited = 0;
    let refreshed = false;
    let retried = false;
    let forceRefresh = false;
    const r = await retryLoop(
      async () => {
        if (signal?.aborted) throw abortError(signal);
        try {
          await ensureToken(forceRefresh);
          forceRefresh = false;
          return (await fn()).result;
        } catch (err) {
          if ((err as DbxError)?.status === 409 && retried && !signal?.aborted && acceptAfterRetry?.(err as DbxError)) return undefined as T;
          throw err;
        }
      },
      {
        signal,
        sleep: dropboxSleep,
        next(err) {
          if (signal?.aborted) throw abortError(signal);
          if (err instanceof UserError) throw err;
          // a stalled request already waited the whole deadline: the caller's retries decide what next
          if (isTimeout(err)) throw err;
          const e = err as DbxError;
          const summary = summaryOf(e);
          if (e.status === 401 && !refreshed) {
            refreshed = true;
            log.debug({ destination: 'Dropbox', what, summary }, 'Dropbox returned 401: refreshing the access token');
            forceRefresh = true;
            return 0;
          }
          const retryAfterHeader = header(e, 'retry-after');
          if (e.status === 429 || (e.status === 503 && retryAfterHeader)) {
            if (++rateLimited > MAX_RATE_LIMIT_WAITS) throw fail(what, err);
            const body = e.error as { error?: { retry_after?: number } } | undefined;
            const asked = retryAfterMs(retryAfterHeader ?? String(body?.error?.retry_after ?? 1));
            const wait = Math.min(asked ?? 1000, MAX_RETRY_AFTER_MS);
            log.info({ destination: 'Dropbox', what, waitMs: wait }, 'Dropbox rate limit: waiting as Retry-After asks');
            retried = true;
            return wait;
          }
          const retryable = isNetworkError(err) || (typeof e.status === 'number' && e.status >= 500) || /too_many_write_operations/.test(summary);
          if (retryable && transient < MAX_TRANSIENT_RETRIES) {
            const wait = backoffDelay(++transient, { initialDelayMs: retryBase, maxDelayMs: MAX_BACKOFF_MS });
            log.debug({ destination: 'Dropbox', what, err: errorMessage(err), waitMs: wait }, 'Dropbox request failed; retrying');
            retried = true;
            return wait;
          }
          throw fail(what, err);
        },
      },
    );
    return r.value;
  }

  // `overwrite` (UploadOptions.replace): the commit swaps the file atomically; an unfinished upload session never touches it
  const commitInfo = (name: string, replace = false) => ({
    path: pathOf(name),
    mode: { '.tag': replace ? ('overwrite' as const) : ('add' as const) },
    autorename: false,
    mute: true,
    strict_conflict: true,
  });

  async function upload(name: string, source: Readable, options: UploadOptions = {}): Promise<void> {
    assertPlainName(name, 'Dropbox');
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const hasher = new ContentHasher();
    const it = chunks(source, chunkSize, { hasher });
    const onAbort = () => source.destroy(abortError(signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const first = (await it.next()).value as Chunk;
      if (signal?.aborted) throw abortError(signal);
      if (first.last) {
        await call(
          `upload ${pathOf(name)}`,
          () =>
            dbx.filesUpload(
              { ...commitInfo(name, options.replace), contents: first.data, content_hash: contentHash(first.data) },
              { signal, timeout: RPC_TIMEOUT_MS },
            ),
          signal,
        );
        return;
      }
      const start = await call(
        'upload_session/start',
        () => dbx.filesUploadSessionStart({ session_type: { '.tag': 'concurrent' }, close: false }, { signal, timeout: RPC_TIMEOUT_MS }),
        signal,
      );
      const sessionId = start.session_id;
      // in flight + the chunk being filled <= concurrency: memory = chunk size x concurrency
      const inflight = new Set<Promise<void>>();
      let failure: unknown = null;
      let total = 0;
      const send = (c: Chunk) => {
        total = c.offset + c.data.length;
        const p = call(
          `upload_session/append_v2 at ${c.offset}`,
          () =>
            dbx.filesUploadSessionAppendV2(
              { cursor: { session_id: sessionId, offset: c.offset }, close: c.last, contents: c.data, content_hash: contentHash(c.data) },
              { signal, timeout: RPC_TIMEOUT_MS },
            ),
          signal,
          (e) => {
            // A retry after a lost response: Dropbox already has this chunk.
            const err = e.error as { error?: { '.tag'?: string; correct_offset?: number } } | undefined;
            return err?.error?.['.tag'] === 'incorrect_offset' && err.error.correct_offset === c.offset + c.data.length;
          },
        )
          .then(
            () => undefined,
            (err) => {
              failure ??= err;
            },
          )
          .finally(() => {
            inflight.delete(p);
          });
        inflight.add(p);
      };
      send(first);
      let last = false;
      while (!last) {
        while (inflight.size >= cfg.concurrency) await Promise.race(inflight);
        if (failure) break;
        const next = await it.next();
        if (next.done) break;
        last = next.value.last;
        // The closing append goes last, after every other chunk has landed: Dropbox
        // refuses appends to a closed session.
        if (last) {
          await Promise.all(inflight);
          if (failure) break;
        }
        send(next.value);
      }
      await Promise.all(inflight);
      if (failure) {
        const e = failure as DbxError;
        if (e.code === 'incorrect_offset') {
          const body = ((e.cause as DbxError | undefined)?.error as { error?: { correct_offset?: number } } | undefined)?.error;
          const out = new DestinationError(
            `Dropbox upload of ${pathOf(name)} went out of step: Dropbox expected offset ${body?.correct_offset ?? '?'}; the upload was abandoned and nothing was written`,
            { cause: failure, status: 409, code: 'incorrect_offset', transient: true },
          );
          wrapped.add(out);
          throw out;
        }
        throw failure;
      }
      if (signal?.aborted) throw abortError(signal);
      const wholeHash = hasher.digest();
      await call(
        `upload_session/finish ${pathOf(name)}`,
        () =>
          dbx.filesUploadSessionFinish(
            { cursor: { session_id: sessionId, offset: total }, commit: commitInfo(name, options.replace), content_hash: wholeHash },
            { signal, timeout: RPC_TIMEOUT_MS },
          ),
        signal,
      );
    } catch (err) {
      source.destroy(); // stop whatever produces the archive
      if (signal?.aborted) throw abortError(signal);
      throw fail(`upload ${pathOf(name)}`, err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // stop reading the source if we bailed out early
      await it.return(undefined).catch(() => undefined);
    }
  }

  return {
    name: 'Dropbox',
    location,
    upload,

    async list(prefix: string): Promise<BackupObject[]> {
      const out: BackupObject[] = [];
      let page: files.ListFolderResult;
      try {
        page = await call(`list_folder ${dir || '/'}`, () => dbx.filesListFolder({ path: dir, limit: 2000 }, { timeout: RPC_TIMEOUT_MS }));
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return [];
        throw err;
      }
      for (;;) {
        for (const e of page.entries) {
          if (e['.tag'] === 'file' && e.name.startsWith(prefix)) out.push({ name: e.name, size: e.size, modified: new Date(e.server_modified) });
        }
        if (!page.has_more) break;
        const cursor: string = page.cursor;
        page = await call(`list_folder/continue ${dir || '/'}`, () => dbx.filesListFolderContinue({ cursor }, { timeout: RPC_TIMEOUT_MS }));
      }
      return out;
    },

    async remove(names: string[]): Promise<void> {
      for (const n of names) assertPlainName(n, 'Dropbox');
      const problems: string[] = [];
      for (let i = 0; i < names.length; i += DELETE_BATCH) {
        let pending = names.slice(i, i + DELETE_BATCH);
        for (let round = 0; pending.length > 0; round++) {
          const batch = pending;
          pending = [];
          const launched = await call('delete_batch', () =>
            dbx.filesDeleteBatch({ entries: batch.map((n) => ({ path: pathOf(n) })) }, { timeout: RPC_TIMEOUT_MS }),
          );
          let status = launched as { '.tag': string; async_job_id?: string; entries?: unknown[] };
          for (let poll = 0; status['.tag'] === 'async_job_id' || status['.tag'] === 'in_progress'; poll++) {
            const jobId = (launched as { async_job_id?: string }).async_job_id!;
            await sleep(Math.min(100 * 2 ** poll, 2000));
            status = (await call('delete_batch/check', () => dbx.filesDeleteBatchCheck({ async_job_id: jobId }, { timeout: RPC_TIMEOUT_MS }))) as typeof status;
          }
          if (status['.tag'] === 'failed')
            throw new DestinationError(`Dropbox delete_batch failed: ${JSON.stringify((status as { failed?: unknown }).failed)}`, {
              code: 'delete_batch_failed',
            });
          const entries = (status.entries ?? []) as { '.tag': string; failure?: { '.tag': string; path_lookup?: { '.tag': string } } }[];
          entries.forEach((e, j) => {
            if (e['.tag'] !== 'failure') return;
            const tag = e.failure?.['.tag'];
            if (tag === 'path_lookup' && e.failure?.path_lookup?.['.tag'] === 'not_found') return; // already gone
            if ((tag === 'too_many_write_operations' || tag === 'too_many_files') && round < 3) pending.push(batch[j]!);
            else problems.push(`${batch[j]}: ${tag}`);
          });
          if (pending.length) await sleep(backoffDelay(round + 1, { initialDelayMs: retryBase, maxDelayMs: MAX_BACKOFF_MS }));
        }
      }
      if (problems.length)
        throw new DestinationError(
          `Dropbox could not delete ${problems.length} file(s): ${problems.slice(0, 5).join(', ')}${problems.length > 5 ? ', ...' : ''}`,
          { code: 'delete_failed' },
        );
    },

    async download(name: string): Promise<Readable> {
      assertPlainName(name, 'Dropbox');
      const path = pathOf(name);
      const res = await call(`download ${path}`, async () => {
        const r = await f(`${CONTENT_HOST}2/files/download`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${auth.getAccessToken()}`, 'Dropbox-API-Arg': headerJson({ path }) },
        });
        if (!r.ok) {
          const text = await r.text();
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* text */
          }
          throw new DropboxResponseError(r.status, r.headers, body);
        }
        return { result: r };
      });
      if (!res.body) return Readable.from([]);
      return guardStream(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), {
        timeoutMs: RPC_TIMEOUT_MS,
        what: `Dropbox download ${path}`,
      });
    },

    async close(): Promise<void> {
      /* stateless HTTP; nothing to release */
    },
  };
}
