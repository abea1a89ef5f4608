/**
 * Google Drive destination (Google's `@googleapis/drive` client with google-auth-library's
 * JWT client for the service account).
 *
 * - Authentication: the service account's key (GOOGLE_DRIVE_CREDENTIALS_JSON) signs a JWT
 *   (RS256) exchanged for an access token at Google's token endpoint (GOOGLE_DRIVE_TOKEN_URL
 *   replaces it), impersonating GOOGLE_DRIVE_IMPERSONATE_SUBJECT when set (domain-wide
 *   delegation). The client refreshes the token before it expires and once on a 401.
 * - Uploads: one resumable upload session (files.create, uploadType=resumable) fed in chunks
 *   of 8 MiB (a multiple of the 256 KiB Drive requires), one chunk in memory at a time. Drive
 *   creates the file only when the last chunk is in: nothing appears under the name before
 *   (a failed or aborted upload leaves at most an unfinished session, which Drive drops
 *   after a week). A chunk whose answer was lost is resumed from the offset Drive reports.
 *   Drive allows two files with one name: an upload first checks that the name is free and,
 *   after the commit, that no other upload took it meanwhile (then its own file is deleted
 *   and the upload fails): an existing backup is never shadowed or replaced. With
 *   UploadOptions.replace the new file is committed first and the older ones of the name
 *   deleted after: the name never points at nothing or at a partial file.
 * - list: files.list of the folder (all pages, 1000 a page; shared drives with
 *   supportsAllDrives/driveId), names filtered here by prefix. remove: the files of each name
 *   deleted, at most 8 requests at once. download: files.get alt=media, streamed.
 * - Every request runs under the shared idle deadline (deadline.ts); transient failures
 *   (network, 429, 5xx, Drive's rate-limit 403s) are retried by the shared retry engine.
 * - Proxies: Google's HTTP client honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY by itself.
 */
import type { Readable } from 'node:stream';
import type { Logger } from '../log.ts';
import { UserError, errorMessage } from '../errors.ts';
import { registerSecret } from '../redact.ts';
import type { BackupObject, Destination, UploadOptions } from './types.ts';
import { abortError, forEachLimit } from './remote-util.ts';
import { chunks, type Chunk } from './chunks.ts';
import { backoffDelay, retryAfterMs, sleep } from '../retry.ts';
import { guarded, guardStream, isTimeout, metered, timeoutError } from './deadline.ts';
import { describeFailure } from './describe.ts';
import { assertPlainName } from './names.ts';
import { DEFAULT_RETRY, RetryFailedError, withRetry, type RetrySettings } from './retry.ts';
import { parseServiceAccount, type GoogleDriveConfig } from './gdrive.def.ts';
import { DestinationError, DestinationUserError, NotFoundError } from './errors.ts';

export { parseServiceAccount, type GoogleDriveConfig };

const MiB = 1 << 20;
export const GDRIVE_CHUNK_SIZE = 8 * MiB;
const QUANTUM = 256 * 1024;
const DRIVE_SCOPE = 'https://www.googleapis.com/auth/drive';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const FOLDER_MIME = 'application/vnd.google-apps.folder';
const DELETE_CONCURRENCY = 8;

export interface GoogleDriveOptions {
  /** Chunk size in bytes, a multiple of 256 KiB (default 8 MiB). */
  chunkSize?: number;
  /** Retries and the idle deadline of every request (BACKUP_RETRY_*, BACKUP_DESTINATION_TIMEOUT). */
  retry?: RetrySettings;
}

/** `'x'` in Drive's query language. */
function qString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

interface GaxiosLikeError {
  status?: number;
  code?: string | number;
  message?: string;
  response?: { status?: number; data?: unknown; headers?: unknown };
  config?: { url?: string | URL };
  cause?: unknown;
  name?: string;
}

/** Drive's error reason (`notFound`, `storageQuotaExceeded`, ...) and message from an error body. */
function apiReason(err: GaxiosLikeError): { reason: string; message: string } {
  const data = err.response?.data as
    { error?: { message?: string; errors?: { reason?: string; message?: string }[] } | string; error_description?: string } | string | undefined;
  if (data && typeof data === 'object') {
    if (typeof data.error === 'string')
      return { reason: data.error, message: data.error_description ? `${data.error}: ${data.error_description}` : data.error };
    if (data.error && typeof data.error === 'object') {
      return { reason: data.error.errors?.[0]?.reason ?? '', message: data.error.message ?? data.error.errors?.[0]?.message ?? '' };
    }
  }
  return { reason: '', message: typeof data === 'string' ? data.slice(0, 300) : '' };
}

function statusOf(err: GaxiosLikeError): number | undefined {
  const s = err.response?.status ?? err.status;
  return typeof s === 'number' ? s : undefined;
}

/** The wait a 429/503 asks for (Retry-After), at most 5 minutes. */
function retryAfterOf(err: unknown): number | undefined {
  const h = (err as GaxiosLikeError)?.response?.headers as { get?(n: string): string | null } | Record<string, string> | undefined;
  const v =
    typeof (h as { get?: unknown })?.get === 'function'
      ? (h as { get(n: string): string | null }).get('retry-after')
      : (h as Record<string, string> | undefined)?.['retry-after'];
  const ms = retryAfterMs(v);
  return ms === undefined ? undefined : Math.min(300_000, ms);
}

export async function createGoogleDriveDestination(cfg: GoogleDriveConfig, log: Logger, opts: GoogleDriveOptions = {}): Promise<Destination> {
  const { JWT } = await import('google-auth-library');
  const { drive: driveApi } = await import('@googleapis/drive');
  const key = parseServiceAccount(cfg.credentialsJson);
  registerSecret(key.private_key);
  registerSecret(key.private_key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
  const retry = opts.retry ?? DEFAULT_RETRY;
  const timeoutMs = retry.timeoutMs;
  const chunkSize = opts.chunkSize ?? GDRIVE_CHUNK_SIZE;
  if (chunkSize <= 0 || chunkSize % QUANTUM !== 0) throw new Error(`Google Drive chunk size must be a positive multiple of 256 KiB, got ${chunkSize}`);
  const root = cfg.endpoint.endsWith('/') ? cfg.endpoint : `${cfg.endpoint}/`;
  const tokenUrl = cfg.tokenUrl || GOOGLE_TOKEN_URL;
  const shared = cfg.teamDriveId !== '';
  const folder = cfg.folderId || (shared ? cfg.teamDriveId : 'root');
  const location = `gdrive:${shared ? `shared drive ${cfg.teamDriveId}/` : ''}${cfg.folderId || (shared ? '' : 'root')}`.replace(/\/$/, '');

  const jwt = new JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    scopes: [DRIVE_SCOPE],
    subject: cfg.impersonateSubject || undefined,
    transporterOptions: {
      // a token request that hangs ends (the deadline around it fires first and reports it)
      timeout: timeoutMs + 1000,
    },
  });
  // GOOGLE_DRIVE_TOKEN_URL: the library always asks Google's token endpoint; its requests are
  // redirected before the client picks a proxy for them (so NO_PROXY sees the real host)
  if (tokenUrl !== GOOGLE_TOKEN_URL) {
    const transporter = jwt.transporter;
    const request = transporter.request.bind(transporter);
    transporter.request = ((o: Parameters<typeof request>[0]) =>
      request(String(o?.url) === GOOGLE_TOKEN_URL ? { ...o, url: tokenUrl } : o)) as typeof transporter.request;
  }
  jwt.on('tokens', (t) => registerSecret(t.access_token));
  const drive = driveApi({ version: 'v3', auth: jwt, rootUrl: root });
  const common = shared ? { supportsAllDrives: true } : {};
  let closed = false;

  const wrapped = new WeakSet<object>();
  function fail(what: string, err: unknown): Error {
    if (err instanceof UserError || (err as Error)?.name === 'AbortError' || isTimeout(err) || (err && wrapped.has(err as object))) return err as Error;
    // only what Google's HTTP client threw is classified here; our own errors pass as they are
    if (!err || typeof err !== 'object' || !('config' in err || 'response' in err)) return err as Error;
    const out = classify(what, err);
    wrapped.add(out);
    return out;
  }

  function classify(what: string, err: unknown): Error {
    const e = err as GaxiosLikeError;
    const status = statusOf(e);
    const url = String(e.config?.url ?? '');
    const { reason, message } = apiReason(e);
    if (url === tokenUrl || url === GOOGLE_TOKEN_URL || /^(invalid_grant|unauthorized_client|invalid_scope|invalid_client|access_denied)\b/.test(reason)) {
      if (status !== undefined && status < 500 && status !== 429 && status !== 408) {
        const hint =
          reason === 'unauthorized_client'
            ? 'the service account may not impersonate GOOGLE_DRIVE_IMPERSONATE_SUBJECT: allow its client id the scope https://www.googleapis.com/auth/drive under domain-wide delegation (Google Workspace admin console)'
            : 'check GOOGLE_DRIVE_CREDENTIALS_JSON (a current key of the service account) and GOOGLE_DRIVE_IMPERSONATE_SUBJECT';
        return new DestinationUserError(`Google Drive ${what}: Google refused the service account's credentials (${message || `HTTP ${status}`})`, hint, {
          cause: err,
          status,
          code: reason || 'invalid_grant',
          transient: false,
        });
      }
    }
    if (status === undefined && (e.code === 'TimeoutError' || e.name === 'TimeoutError')) {
      return timeoutError(`Google Drive ${what}`, timeoutMs);
    }
    if (status === undefined) {
      const code = String((e.cause as { code?: string } | undefined)?.code ?? e.code ?? 'ENETWORK');
      return new DestinationError(`Google Drive ${what} failed: cannot reach Google Drive: ${describeFailure(err)}`, { cause: err, code });
    }
    const detail = message || `HTTP ${status}`;
    if (status === 401) {
      return new DestinationUserError(
        `Google Drive ${what}: access refused (${detail})`,
        'check GOOGLE_DRIVE_CREDENTIALS_JSON and GOOGLE_DRIVE_IMPERSONATE_SUBJECT',
        { cause: err, status, code: reason || 'authError', transient: false },
      );
    }
    if (status === 404) {
      return new NotFoundError(`Google Drive ${what}: not found (${detail})`, { cause: err, status });
    }
    if (status === 403 || status === 429) {
      if (/storageQuotaExceeded|quotaExceeded|teamDriveFileLimitExceeded|numChildrenInNonRootLimitExceeded/.test(reason)) {
        return new DestinationUserError(
          `Google Drive ${what}: the Drive is full (${reason}: ${detail})`,
          'free space in the Drive (or the shared drive) or lower BACKUP_RETENTION_DAYS; a service account has no storage of its own: use a shared drive (GOOGLE_DRIVE_TEAM_DRIVE_ID) or impersonate a user',
          { cause: err, status, code: reason, transient: false },
        );
      }
      if (status === 429 || /rateLimitExceeded|userRateLimitExceeded|sharingRateLimitExceeded|backendError/.test(reason)) {
        return new DestinationError(`Google Drive ${what} failed: rate limited (${reason || status}: ${detail})`, {
          cause: err,
          status,
          code: reason || 'rateLimitExceeded',
          transient: true,
        });
      }
      return new DestinationUserError(
        `Google Drive ${what}: permission denied (${reason ? `${reason}: ` : ''}${detail})`,
        'give the service account (or GOOGLE_DRIVE_IMPERSONATE_SUBJECT) write access to GOOGLE_DRIVE_FOLDER_ID',
        { cause: err, status, code: reason || 'forbidden', transient: false },
      );
    }
    if (status >= 500 || status === 408) {
      return new DestinationError(
        `Google Drive ${what} failed: ${describeFailure({ status, serverCode: reason || undefined })}${message ? ` (${message})` : ''}`,
        { cause: err, status, code: reason || undefined, transient: true },
      );
    }
    return new DestinationError(`Google Drive ${what} was rejected: ${detail}`, { cause: err, status, code: reason || 'badRequest', transient: false });
  }

  /**
   * One request under the idle deadline, retried when transient (Retry-After honoured).
   * `fn` gets the guard's signal.
   */
  async function call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await callOnce(what, fn, signal);
    } catch (err) {
      // a token Drive refuses before it expires (revoked, clock skew): one new token, one more try
      if ((err as { status?: number }).status !== 401 || (err as { code?: string }).code !== 'authError') throw err;
      log.debug({ destination: 'GoogleDrive' }, 'Google Drive refused the access token; getting a new one');
      forgetToken();
      return callOnce(what, fn, signal);
    }
  }

  /** Drop the cached access token (the library keeps using it until it expires). */
  function forgetToken(): void {
    (jwt as unknown as { gtoken?: unknown }).gtoken = undefined;
    jwt.credentials = { refresh_token: 'jwt-placeholder', expiry_date: 1 };
  }

  async function callOnce<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (closed) throw new Error('Google Drive destination is closed');
    const r = await withRetry(
      async (attempt) => {
        try {
          return await guarded({ timeoutMs, what: `Google Drive ${what}`, signal }, (g) => fn(g.signal));
        } catch (err) {
          const out = fail(what, err);
          if (attempt > 1 && out instanceof Error && !(out as { attemptsNoted?: boolean }).attemptsNoted) {
            out.message += ` (after ${attempt} attempts)`;
            (out as { attemptsNoted?: boolean }).attemptsNoted = true;
          }
          throw out;
        }
      },
      { settings: retry, log, what: `Google Drive ${what}`, signal, sleep: driveSleep, retryAfter: (e) => retryAfterOf(e) ?? retryAfterOf((e as Error).cause) },
    ).catch((err: unknown) => {
      // the engine's wrapper says what the error already says: pass the error itself on
      throw err instanceof RetryFailedError && err.cause ? err.cause : err;
    });
    return r.value;
  }

  /** Files (not folders) directly in the folder, all pages. */
  async function listAll(signal?: AbortSignal): Promise<{ id: string; name: string; size: number; created: Date }[]> {
    const out: { id: string; name: string; size: number; created: Date }[] = [];
    let pageToken: string | undefined;
    const q = `${qString(folder)} in parents and trashed = false and mimeType != ${qString(FOLDER_MIME)}`;
    do {
      const res = await call(
        'list',
        (s) =>
          drive.files.list(
            {
              q,
              pageSize: 1000,
              pageToken,
              fields: 'nextPageToken, files(id, name, size, createdTime, modifiedTime)',
              ...(shared ? { supportsAllDrives: true, includeItemsFromAllDrives: true, corpora: 'drive', driveId: cfg.teamDriveId } : {}),
            },
            { signal: s, retry: false },
          ),
        signal,
      );
      for (const f of res.data.files ?? []) {
        if (!f.id || typeof f.name !== 'string') continue;
        const created = new Date(f.createdTime ?? f.modifiedTime ?? 0);
        out.push({ id: f.id, name: f.name, size: Number(f.size ?? 0), created });
      }
      pageToken = res.data.nextPageToken ?? undefined;
    } while (pageToken);
    return out;
  }

  /** Ids of the files with exactly this name in the folder, newest first. */
  async function idsNamed(name: string, signal?: AbortSignal): Promise<string[]> {
    const res = await call(
      'lookup',
      (s) =>
        drive.files.list(
          {
            q: `${qString(folder)} in parents and trashed = false and name = ${qString(name)}`,
            pageSize: 1000,
            fields: 'files(id, name, createdTime)',
            ...(shared ? { supportsAllDrives: true, includeItemsFromAllDrives: true, corpora: 'drive', driveId: cfg.teamDriveId } : {}),
          },
          { signal: s, retry: false },
        ),
      signal,
    );
    return (res.data.files ?? [])
      .filter((f) => f.name === name && f.id)
      .sort((a, b) => Date.parse(b.createdTime ?? '') - Date.parse(a.createdTime ?? ''))
      .map((f) => f.id!);
  }

  async function deleteId(id: string, signal?: AbortSignal): Promise<void> {
    try {
      await call('delete', (s) => drive.files.delete({ fileId: id, ...common }, { signal: s, retry: false }), signal);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return; // already gone
      throw err;
    }
  }

  async function upload(name: string, source: Readable, options: UploadOptions = {}): Promise<void> {
    assertPlainName(name, 'Google Drive');
    const signal = options.signal;
    if (signal?.aborted) throw abortError(signal);
    const conflict = (ids: string[]) =>
      new DestinationUserError(
        `Google Drive upload: a file named "${name}" already exists in ${location} (${ids.length} found); refusing to overwrite it`,
        'another run produced the same file name: make BACKUP_FILENAME unique per run (it should contain a timestamp)',
        { status: 409, code: 'conflict', transient: false },
      );
    // replace (a BACKUP_FILENAME without time tokens): the new file is committed first, then the
    // old ones are deleted; the name never points at nothing, and a failed upload leaves them alone
    if (!options.replace) {
      const existing = await idsNamed(name, signal);
      if (existing.length) throw conflict(existing);
    }

    // the session: metadata now, content in chunks; the file exists once the last chunk is in
    const started = await call(
      'upload start',
      (s) =>
        jwt.request<unknown>({
          url: `${root}upload/drive/v3/files`,
          method: 'POST',
          params: { uploadType: 'resumable', fields: 'id, name, size', ...common },
          headers: { 'Content-Type': 'application/json; charset=UTF-8', 'X-Upload-Content-Type': 'application/octet-stream' },
          data: JSON.stringify({ name, parents: [folder], mimeType: 'application/octet-stream' }),
          signal: s,
          retry: false,
          responseType: 'text',
        }),
      signal,
    );
    const sessionUrl = started.headers.get('location');
    if (!sessionUrl) throw new Error('Google Drive upload start: the answer had no upload session (Location header)');

    const meter = metered(source, () => {});
    const abortAll = new AbortController();
    const onAbort = () => abortAll.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let fileId: string | null = null;
    try {
      for await (const chunk of chunks(meter.stream, chunkSize, { signal: abortAll.signal })) {
        if (signal?.aborted) throw abortError(signal);
        fileId = await sendChunk(sessionUrl, chunk, signal);
      }
    } catch (err) {
      // cancel the session (best effort): Drive would keep it for a week
      // in the background: against a stalled server it would only add its own deadline to the failure
      void guarded({ timeoutMs: Math.min(timeoutMs, 10_000), what: 'Google Drive upload cancel' }, (g) =>
        jwt.request({ url: sessionUrl, method: 'DELETE', signal: g.signal, retry: false, timeout: 0 }),
      ).catch(() => {});
      if (signal?.aborted) throw abortError(signal);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (!fileId) throw new Error('Google Drive upload: the last chunk was accepted but no file was returned');
    // two uploads of one name at once: the later one (ours, if another is there now) goes
    const now = await idsNamed(name);
    if (options.replace) {
      const old = now.filter((id) => id !== fileId);
      await forEachLimit(old, DELETE_CONCURRENCY, (id) => deleteId(id)).catch((err) => {
        throw new DestinationError(
          `Google Drive upload: "${name}" was uploaded, but the previous file of that name could not be deleted (both are there now): ${errorMessage(err)}`,
          { cause: err, transient: false },
        );
      });
      if (old.length) log.debug({ destination: 'GoogleDrive', name, replaced: old.length }, 'Google Drive: previous file of the name deleted');
    } else if (now.length > 1) {
      await deleteId(fileId).catch((err) =>
        log.warn({ destination: 'GoogleDrive', err: errorMessage(err) }, `could not delete the duplicate "${name}" just uploaded`),
      );
      throw conflict(now.filter((id) => id !== fileId));
    }
    log.debug({ destination: 'GoogleDrive', name, id: fileId, bytes: meter.bytes() }, 'Google Drive upload committed');
  }

  /**
   * PUT one chunk at `chunk.offset`. A lost or failed answer is followed by a status query:
   * the chunk is resent from what Drive has. Returns the file id after the last chunk.
   */
  async function sendChunk(sessionUrl: string, chunk: Chunk, signal?: AbortSignal): Promise<string | null> {
    let from = chunk.offset;
    const end = chunk.offset + chunk.data.length; // exclusive
    const total = chunk.last ? String(end) : '*';
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        const body = chunk.data.subarray(from - chunk.offset);
        const range = body.length === 0 ? `bytes */${total}` : `bytes ${from}-${end - 1}/${total}`;
        const res = await guarded({ timeoutMs, what: 'Google Drive upload', signal }, (g) =>
          jwt.request<{ id?: string }>({
            url: sessionUrl,
            method: 'PUT',
            headers: { 'Content-Range': range, 'Content-Type': 'application/octet-stream' },
            data: body,
            signal: g.signal,
            retry: false,
            timeout: 0,
            responseType: 'json',
            validateStatus: (st) => st === 308 || (st >= 200 && st < 300),
          }),
        );
        if (res.status === 308) {
          const have = haveBytes(res.headers.get('range'));
          if (have === end && !chunk.last) return null;
          if (have < from || have > end)
            throw new DestinationError(`Google Drive upload went out of step: Drive has ${have} bytes, expected ${end}; nothing was committed`, {
              code: 'incorrect_offset',
              transient: false,
            });
          from = have; // a partial chunk was taken: send the rest
          if (chunk.last && have === end)
            throw new DestinationError('Google Drive upload: Drive did not commit the file after its last byte', { transient: false });
          continue;
        }
        const id = (res.data as { id?: string } | undefined)?.id;
        if (!chunk.last)
          throw new DestinationError(`Google Drive upload: Drive finished the file before its last chunk (HTTP ${res.status})`, { transient: false });
        if (!id) throw new Error('Google Drive upload: the answer to the last chunk has no file id');
        return id;
      } catch (err) {
        if (signal?.aborted) throw abortError(signal);
        const failure = fail('upload', err);
        // a lost connection or a 5xx: resume; a stall already took its whole deadline: the upload fails
        // (the run's retry starts it again), so a stalled server costs one deadline per attempt
        const transient = (failure as { transient?: boolean }).transient ?? false;
        const retryable =
          !isTimeout(err) &&
          (transient || ((failure as { status?: number }).status === undefined && (failure as { code?: string }).code !== 'incorrect_offset'));
        if (!retryable || attempt >= Math.max(1, retry.attempts)) throw failure;
        log.warn({ destination: 'GoogleDrive', attempt, err: errorMessage(failure) }, 'Google Drive upload chunk failed; asking Drive how much it has');
        await driveSleep(backoffDelay(attempt, retry), signal);
        // where does the session stand?
        const status = await guarded({ timeoutMs, what: 'Google Drive upload status', signal }, (g) =>
          jwt.request<{ id?: string }>({
            url: sessionUrl,
            method: 'PUT',
            headers: { 'Content-Range': `bytes */${chunk.last ? String(end) : '*'}` },
            signal: g.signal,
            retry: false,
            timeout: 0,
            responseType: 'json',
            validateStatus: (st) => st === 308 || (st >= 200 && st < 300),
          }),
        ).catch((e) => {
          throw fail('upload status', e);
        });
        if (status.status !== 308) {
          const id = (status.data as { id?: string } | undefined)?.id;
          if (chunk.last && id) return id;
          throw new DestinationError(`Google Drive upload: the session ended early (HTTP ${status.status})`, { transient: false });
        }
        const have = haveBytes(status.headers.get('range'));
        if (have < chunk.offset || have > end)
          throw new DestinationError(
            `Google Drive upload went out of step: Drive has ${have} bytes, this chunk starts at ${chunk.offset}; nothing was committed`,
            { code: 'incorrect_offset', transient: false },
          );
        if (have === end && !chunk.last) return null;
        from = have;
      }
    }
  }

  async function list(prefix: string): Promise<BackupObject[]> {
    const files = await listAll();
    return files.filter((f) => f.name.startsWith(prefix)).map((f) => ({ name: f.name, size: f.size, modified: f.created }));
  }

  async function remove(names: string[]): Promise<void> {
    if (names.length === 0) return;
    for (const n of names) assertPlainName(n, 'Google Drive');
    const wanted = new Set(names);
    const ids = (await listAll()).filter((f) => wanted.has(f.name)).map((f) => f.id);
    await forEachLimit(ids, DELETE_CONCURRENCY, (id) => deleteId(id));
  }

  async function download(name: string): Promise<Readable> {
    assertPlainName(name, 'Google Drive');
    const ids = await idsNamed(name);
    if (ids.length === 0) throw new NotFoundError(`Google Drive download: "${name}" not found in ${location}`);
    const id = ids[0]!;
    const res = await call('download', (s) =>
      drive.files.get({ fileId: id, alt: 'media', ...common }, { signal: s, retry: false, responseType: 'stream', timeout: 0 }),
    );
    const body = res.data as unknown as Readable;
    return guardStream(body, { timeoutMs, what: `Google Drive download of ${name}`, onAbort: () => body.destroy() });
  }

  return {
    name: 'GoogleDrive',
    location,
    upload: async (name, source, options) => {
      try {
        return await upload(name, source, options);
      } catch (err) {
        if (options?.signal?.aborted) throw abortError(options.signal);
        throw fail('upload', err);
      }
    },
    list,
    remove,
    download,
    async close() {
      closed = true;
    },
  };
}

/** `Range: bytes=0-n` -> n+1; no header -> 0. */
function haveBytes(range: string | null): number {
  const m = /bytes=0-(\d+)/.exec(range ?? '');
  return m ? Number(m[1]) + 1 : 0;
}

/** Waits between tries end at an abort with an AbortError. */
const driveSleep = (ms: number, signal?: AbortSignal) => sleep(ms, signal, abortError);
