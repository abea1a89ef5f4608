/**
 * A local fake of the Dropbox API v2 endpoints offsite uses, on 127.0.0.1, checking what
 * Dropbox checks: OAuth2 refresh (client id/secret, refresh token), bearer tokens with
 * expiry, route host (api vs content), argument presence and path patterns, upload session
 * ids, concurrent-session rules (4 MiB-aligned offsets and sizes, close before finish, no
 * missing data), content hashes, write conflicts, list_folder paging and cursors, batch
 * deletes with async job ids. Errors come back as Dropbox sends them: 400 text for bad
 * input, 401/409/429 with a JSON `error_summary` and `error`.
 *
 * Reach it through `fake.fetch` (rewrites https://{api,content}.dropboxapi.com to the fake,
 * keeping the original host in a header) or by pointing DROPBOX_ENDPOINT and
 * DROPBOX_OAUTH2_ENDPOINT at `fake.origin + '/'`.
 *
 * Fault injection: `fake.inject(route, fault)` makes the next call(s) of a route fail.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { ApiError, faultQueue, serveFake } from './fake-service.ts';

const MiB = 1 << 20;
const BLOCK = 4 * MiB;
const MAX_PAYLOAD = 150 * MiB;

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number }
  /** Answer 401 expired_access_token and expire every issued token. */
  | { kind: 'expire-token' }
  /** append_v2: answer incorrect_offset with this correct_offset (default: the offset minus 4 MiB, i.e. data missing). */
  | { kind: 'incorrect-offset'; correctOffset?: number }
  /** Process the request fully, then drop the connection without answering (a lost response). */
  | { kind: 'drop-response' };

export interface StoredFile {
  pathDisplay: string;
  data: Buffer;
  modified: Date;
  id: string;
  rev: string;
}

export interface DropboxFake {
  origin: string;
  appKey: string;
  appSecret: string;
  refreshToken: string;
  /** Files by lower-cased path. */
  files: Map<string, StoredFile>;
  /** fetch for the SDK: rewrites Dropbox's hosts to this fake. */
  fetch: typeof fetch;
  /** Calls per route (e.g. `files/upload_session/append_v2`, `oauth2/token`). */
  calls: Map<string, number>;
  /** Most append_v2 calls seen in progress at once. */
  maxConcurrentAppends: number;
  /** Largest request body seen (bytes). */
  maxBody: number;
  /** Seconds an issued access token lives (Dropbox: 14400). */
  tokenLifetime: number;
  /** Entries per list_folder page. */
  pageSize: number;
  /** How long each append_v2 is held before it is processed (ms), so overlap is observable. */
  appendDelayMs: number;
  /** Responses sent, by HTTP status. */
  statuses: Map<number, number>;
  expireTokens(): void;
  inject(route: string, fault: Fault, times?: number): void;
  /** Put a file straight into the store (test setup). */
  put(path: string, data: Buffer, modified?: Date): void;
  stop(): Promise<void>;
}

/** Dropbox content hash: SHA-256 of the concatenated SHA-256 digests of 4 MiB blocks. */
export function contentHash(data: Buffer): string {
  const all = createHash('sha256');
  for (let i = 0; i < data.length; i += BLOCK)
    all.update(
      createHash('sha256')
        .update(data.subarray(i, i + BLOCK))
        .digest(),
    );
  return all.digest('hex');
}

interface Session {
  concurrent: boolean;
  closed: boolean;
  /** offset -> data */
  pieces: Map<number, Buffer>;
  /** sequential sessions: bytes so far */
  length: number;
}

/** A 409 route error: `tags` is the union path, e.g. ['path', 'conflict', 'file']. */
function routeError(tags: string[], extra: Record<string, unknown> = {}): ApiError {
  // Build the nested union: {".tag": a, a: {".tag": b, b: {".tag": c}}}
  let inner: Record<string, unknown> = { '.tag': tags[tags.length - 1]!, ...extra };
  for (let i = tags.length - 2; i >= 0; i--) inner = { '.tag': tags[i]!, [tags[i]!]: inner };
  return new ApiError(409, { error_summary: `${tags.join('/')}/..`, error: inner });
}

function badInput(route: string, msg: string): ApiError {
  return new ApiError(400, `Error in call to API function "${route}": ${msg}`);
}

const COMMIT_PATH = /^((\/(.|[\r\n])*)|(ns:[0-9]+(\/.*)?)|(id:.*))$/;
const LIST_PATH = /^((\/(.|[\r\n])*)?|id:.*|(ns:[0-9]+(\/.*)?))$/;

const CONTENT_ROUTES = new Set([
  'files/upload',
  'files/upload_session/start',
  'files/upload_session/append_v2',
  'files/upload_session/finish',
  'files/download',
]);

export async function startDropboxFake(opts: { tokenLifetime?: number; pageSize?: number; appendDelayMs?: number } = {}): Promise<DropboxFake> {
  const appKey = `key${randomBytes(4).toString('hex')}`;
  const appSecret = `secret${randomBytes(8).toString('hex')}`;
  const refreshToken = `refresh-${randomBytes(16).toString('hex')}`;
  const tokens = new Map<string, number>(); // token -> expires at (ms)
  const sessions = new Map<string, Session>();
  const cursors = new Map<string, { folder: string; offset: number }>();
  const jobs = new Map<string, { polls: number; entries: unknown[] }>();
  const folders = new Set<string>(['']);
  const faults = faultQueue<Fault>();
  let appendsNow = 0;
  let idSeq = 0;

  const fake = {
    origin: '',
    appKey,
    appSecret,
    refreshToken,
    files: new Map<string, StoredFile>(),
    calls: new Map<string, number>(),
    maxConcurrentAppends: 0,
    maxBody: 0,
    tokenLifetime: opts.tokenLifetime ?? 14_400,
    pageSize: opts.pageSize ?? 100,
    appendDelayMs: opts.appendDelayMs ?? 5,
    statuses: new Map<number, number>(),
    expireTokens() {
      for (const t of tokens.keys()) tokens.set(t, 0);
    },
    inject: faults.inject,
    put(path: string, data: Buffer, modified = new Date()) {
      commit(path, data, 'overwrite', modified);
    },
  } as DropboxFake;

  function meta(f: StoredFile) {
    const name = f.pathDisplay.split('/').pop()!;
    return {
      '.tag': 'file',
      name,
      id: f.id,
      path_lower: f.pathDisplay.toLowerCase(),
      path_display: f.pathDisplay,
      client_modified: f.modified.toISOString().replace(/\.\d+Z$/, 'Z'),
      server_modified: f.modified.toISOString().replace(/\.\d+Z$/, 'Z'),
      rev: f.rev,
      size: f.data.length,
      is_downloadable: true,
      content_hash: contentHash(f.data),
    };
  }

  function checkCommitPath(route: string, path: unknown): string {
    if (typeof path !== 'string') throw badInput(route, 'missing required field "path"');
    if (!COMMIT_PATH.test(path)) throw badInput(route, `path: '${path}' did not match pattern '(/(.|[\\r\\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)'`);
    if (path.endsWith('/') || path.includes('//') || path.split('/').some((s) => s === '.' || s === '..')) throw routeError(['path', 'malformed_path']);
    return path;
  }

  function commit(path: string, data: Buffer, mode: string, modified = new Date(), strict = false): StoredFile {
    const key = path.toLowerCase();
    const existing = fake.files.get(key);
    if (existing && mode === 'add') {
      // Dropbox treats identical content as no conflict unless strict_conflict is set.
      if (strict || !existing.data.equals(data)) throw routeError(['path', 'conflict', 'file']);
      return existing;
    }
    // Parent folders are created implicitly; a file in the way is a conflict.
    const parts = path.split('/');
    for (let i = 1; i < parts.length - 1; i++) {
      const folder = parts
        .slice(0, i + 1)
        .join('/')
        .toLowerCase();
      if (fake.files.has(folder)) throw routeError(['path', 'conflict', 'file']);
      folders.add(folder);
    }
    if (folders.has(key)) throw routeError(['path', 'conflict', 'folder']);
    const f: StoredFile = { pathDisplay: path, data, modified, id: `id:${++idSeq}`, rev: randomBytes(8).toString('hex') };
    fake.files.set(key, f);
    return f;
  }

  function listFolder(folder: string, offset: number, limit: number) {
    const prefix = folder === '' ? '/' : `${folder}/`;
    const entries: unknown[] = [];
    for (const d of [...folders].sort()) {
      if (d !== '' && d.startsWith(prefix) && !d.slice(prefix.length).includes('/')) {
        const name = d.slice(prefix.length);
        entries.push({ '.tag': 'folder', name, path_lower: d, path_display: d, id: `id:folder:${d}` });
      }
    }
    for (const [k, f] of [...fake.files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (k.startsWith(prefix) && !k.slice(prefix.length).includes('/')) entries.push(meta(f));
    }
    const page = entries.slice(offset, offset + limit);
    const next = offset + page.length;
    const cursor = randomBytes(12).toString('hex');
    cursors.set(cursor, { folder, offset: next });
    return { entries: page, cursor, has_more: next < entries.length };
  }

  function hashCheck(data: Buffer, hash: unknown, tags: string[]): void {
    if (typeof hash === 'string' && hash !== contentHash(data)) throw routeError(tags);
  }

  async function handle(route: string, req: IncomingMessage, body: Buffer, res: ServerResponse, fault: Fault | null): Promise<unknown> {
    if (route === 'oauth2/token') {
      const url = new URL(req.url!, 'http://x');
      const form = new URLSearchParams(body.toString());
      const get = (k: string) => url.searchParams.get(k) ?? form.get(k);
      let clientId = get('client_id');
      let clientSecret = get('client_secret');
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      if (basic) [clientId, clientSecret] = Buffer.from(basic[1]!, 'base64').toString().split(':') as [string, string];
      if (get('grant_type') !== 'refresh_token')
        throw new ApiError(400, { error: 'unsupported_grant_type', error_description: 'grant_type must be refresh_token here' });
      if (clientId !== appKey || clientSecret !== appSecret)
        throw new ApiError(400, { error: 'invalid_client', error_description: 'Invalid client_id or client_secret' });
      if (get('refresh_token') !== refreshToken) throw new ApiError(400, { error: 'invalid_grant', error_description: 'refresh token is invalid or revoked' });
      const token = `sl.${randomBytes(24).toString('hex')}`;
      tokens.set(token, Date.now() + fake.tokenLifetime * 1000);
      return { access_token: token, token_type: 'bearer', expires_in: fake.tokenLifetime };
    }

    // Bearer token
    const auth = req.headers.authorization;
    if (!auth) throw badInput(route, 'Must provide HTTP header "Authorization" or URL parameter "authorization".');
    const m = /^Bearer (.+)$/.exec(auth);
    const exp = m ? tokens.get(m[1]!) : undefined;
    if (exp === undefined) throw new ApiError(401, { error_summary: 'invalid_access_token/..', error: { '.tag': 'invalid_access_token' } });
    if (exp <= Date.now()) throw new ApiError(401, { error_summary: 'expired_access_token/..', error: { '.tag': 'expired_access_token' } });

    // Arguments: content routes in the Dropbox-API-Arg header, RPC routes in a JSON body.
    let arg: Record<string, unknown>;
    if (CONTENT_ROUTES.has(route)) {
      const header = req.headers['dropbox-api-arg'];
      if (typeof header !== 'string') throw badInput(route, 'Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".');
      if (/[^\x20-\x7e]/.test(header)) throw badInput(route, 'HTTP header "Dropbox-API-Arg": could not decode input as JSON');
      arg = JSON.parse(header);
      if (route !== 'files/download' && req.headers['content-type'] !== 'application/octet-stream') {
        throw badInput(
          route,
          `Bad HTTP "Content-Type" header: "${req.headers['content-type']}". Expecting one of "application/octet-stream", "text/plain; charset=dropbox-cors-hack".`,
        );
      }
    } else {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        throw badInput(route, `Bad HTTP "Content-Type" header: "${req.headers['content-type']}". Expecting one of "application/json".`);
      try {
        arg = JSON.parse(body.toString() || 'null');
      } catch {
        throw badInput(route, 'request body: could not decode input as JSON');
      }
      if (!arg || typeof arg !== 'object') throw badInput(route, 'request body: expected an object');
    }
    if (body.length > MAX_PAYLOAD) throw routeError(['payload_too_large']);

    switch (route) {
      case 'files/upload': {
        const path = checkCommitPath(route, arg.path);
        hashCheck(body, arg.content_hash, ['content_hash_mismatch']);
        const mode = typeof arg.mode === 'string' ? arg.mode : ((arg.mode as { '.tag'?: string })?.['.tag'] ?? 'add');
        if (arg.autorename) throw new Error('fake: autorename not implemented');
        return meta(commit(path, body, mode, new Date(), Boolean(arg.strict_conflict)));
      }
      case 'files/upload_session/start': {
        const type = (arg.session_type as { '.tag'?: string } | undefined)?.['.tag'] ?? 'sequential';
        const concurrent = type === 'concurrent';
        if (concurrent && body.length > 0) throw routeError(['concurrent_session_data_not_allowed']);
        if (concurrent && arg.close) throw routeError(['concurrent_session_close_not_allowed']);
        const id = `sess-${randomBytes(10).toString('hex')}`;
        const s: Session = { concurrent, closed: Boolean(arg.close), pieces: new Map(), length: 0 };
        if (body.length) {
          s.pieces.set(0, body);
          s.length = body.length;
        }
        sessions.set(id, s);
        return { session_id: id };
      }
      case 'files/upload_session/append_v2': {
        appendsNow++;
        fake.maxConcurrentAppends = Math.max(fake.maxConcurrentAppends, appendsNow);
        try {
          // hold the call a moment so concurrency is observable
          await new Promise((r) => setTimeout(r, fake.appendDelayMs));
          const cursor = arg.cursor as { session_id?: string; offset?: number } | undefined;
          if (!cursor || typeof cursor.session_id !== 'string' || typeof cursor.offset !== 'number') throw badInput(route, 'missing required field "cursor"');
          const s = sessions.get(cursor.session_id);
          if (!s) throw routeError(['not_found']);
          if (s.closed) throw routeError(['closed']);
          if (fault?.kind === 'incorrect-offset')
            throw routeError(['incorrect_offset'], { correct_offset: fault.correctOffset ?? Math.max(0, cursor.offset - BLOCK) });
          hashCheck(body, arg.content_hash, ['content_hash_mismatch']);
          if (s.concurrent) {
            if (cursor.offset % BLOCK !== 0) throw routeError(['concurrent_session_invalid_offset']);
            if (!arg.close && body.length % BLOCK !== 0) throw routeError(['concurrent_session_invalid_data_size']);
            const prev = s.pieces.get(cursor.offset);
            if (prev) throw routeError(['incorrect_offset'], { correct_offset: cursor.offset + prev.length });
            s.pieces.set(cursor.offset, body);
          } else {
            if (cursor.offset !== s.length) throw routeError(['incorrect_offset'], { correct_offset: s.length });
            s.pieces.set(s.length, body);
            s.length += body.length;
          }
          if (arg.close) s.closed = true;
          return null;
        } finally {
          appendsNow--;
        }
      }
      case 'files/upload_session/finish': {
        const cursor = arg.cursor as { session_id?: string; offset?: number } | undefined;
        const commitArg = arg.commit as Record<string, unknown> | undefined;
        if (!cursor || typeof cursor.session_id !== 'string' || typeof cursor.offset !== 'number') throw badInput(route, 'missing required field "cursor"');
        if (!commitArg) throw badInput(route, 'missing required field "commit"');
        const path = checkCommitPath(route, commitArg.path);
        const s = sessions.get(cursor.session_id);
        if (!s) throw routeError(['lookup_failed', 'not_found']);
        let data: Buffer;
        if (s.concurrent) {
          if (body.length > 0) throw routeError(['concurrent_session_data_not_allowed']);
          if (!s.closed) throw routeError(['concurrent_session_not_closed']);
          const offsets = [...s.pieces.keys()].sort((a, b) => a - b);
          let at = 0;
          for (const o of offsets) {
            if (o !== at) throw routeError(['concurrent_session_missing_data']);
            at += s.pieces.get(o)!.length;
          }
          if (cursor.offset !== at) throw routeError(['lookup_failed', 'incorrect_offset'], { correct_offset: at });
          data = Buffer.concat(offsets.map((o) => s.pieces.get(o)!));
        } else {
          if (cursor.offset !== s.length) throw routeError(['lookup_failed', 'incorrect_offset'], { correct_offset: s.length });
          data = Buffer.concat([...[...s.pieces.keys()].sort((a, b) => a - b).map((o) => s.pieces.get(o)!), body]);
        }
        hashCheck(data, arg.content_hash, ['content_hash_mismatch']);
        const mode = commitArg.mode as { '.tag'?: string } | string | undefined;
        const modeTag = typeof mode === 'string' ? mode : (mode?.['.tag'] ?? 'add');
        if (commitArg.autorename) throw new Error('fake: autorename not implemented');
        const f = commit(path, data, modeTag, new Date(), Boolean(commitArg.strict_conflict));
        sessions.delete(cursor.session_id);
        return meta(f);
      }
      case 'files/list_folder': {
        const path = arg.path;
        if (typeof path !== 'string') throw badInput(route, 'missing required field "path"');
        if (path === '/') throw badInput(route, 'path: Specify the root folder as an empty string rather than as "/".');
        if (!LIST_PATH.test(path)) throw badInput(route, `path: '${path}' did not match pattern '(/(.|[\\r\\n])*)?|id:.*|(ns:[0-9]+(/.*)?)'`);
        if (arg.recursive) throw new Error('fake: recursive listing not implemented');
        const key = path.toLowerCase();
        if (fake.files.has(key)) throw routeError(['path', 'not_folder']);
        if (!folders.has(key)) throw routeError(['path', 'not_found']);
        const limit = typeof arg.limit === 'number' ? Math.min(arg.limit, fake.pageSize) : fake.pageSize;
        return listFolder(key, 0, limit);
      }
      case 'files/list_folder/continue': {
        const c = cursors.get(String(arg.cursor));
        if (!c) throw routeError(['reset']);
        cursors.delete(String(arg.cursor));
        return listFolder(c.folder, c.offset, fake.pageSize);
      }
      case 'files/delete_batch': {
        const entries = arg.entries as { path?: string }[] | undefined;
        if (!Array.isArray(entries)) throw badInput(route, 'missing required field "entries"');
        if (entries.length > 1000) throw badInput(route, `entries: list has ${entries.length} items, must have at most 1000`);
        const results = entries.map((e) => {
          const key = String(e.path).toLowerCase();
          const f = fake.files.get(key);
          if (!f) return { '.tag': 'failure', failure: { '.tag': 'path_lookup', path_lookup: { '.tag': 'not_found' } } };
          fake.files.delete(key);
          return { '.tag': 'success', metadata: meta(f) };
        });
        const id = `dbjid:${randomBytes(12).toString('hex')}`;
        jobs.set(id, { polls: 0, entries: results });
        return { '.tag': 'async_job_id', async_job_id: id };
      }
      case 'files/delete_batch/check': {
        const job = jobs.get(String(arg.async_job_id));
        if (!job) throw routeError(['invalid_async_job_id']);
        if (job.polls++ === 0) return { '.tag': 'in_progress' };
        jobs.delete(String(arg.async_job_id));
        return { '.tag': 'complete', entries: job.entries };
      }
      case 'files/delete_v2': {
        const key = String(arg.path).toLowerCase();
        const f = fake.files.get(key);
        if (!f) throw routeError(['path_lookup', 'not_found']);
        fake.files.delete(key);
        return { metadata: meta(f) };
      }
      case 'files/download': {
        const key = String(arg.path).toLowerCase();
        const f = fake.files.get(key);
        if (!f) throw routeError(['path', 'not_found']);
        res.setHeader(
          'Dropbox-API-Result',
          JSON.stringify(meta(f)).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
        );
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', f.data.length);
        res.end(f.data);
        return undefined;
      }
      default:
        throw new ApiError(404, `Unknown API function: "${route}"`);
    }
  }

  const served = await serveFake(fake, {
    textType: 'text/plain; charset=utf-8',
    jsonType: 'application/json',
    internal: (err, send) => send(500, `fake error: ${err.message}`),
    async handle({ req, res, body, send, count }) {
      const pathname = new URL(req.url!, 'http://x').pathname;
      const route = pathname.replace(/^\/(2\/)?/, '');
      count(route);
      if (req.method !== 'POST') throw new ApiError(405, 'Method not allowed');
      // The original host must be the right one for the route (when reached through fake.fetch).
      const host = req.headers['x-dropbox-fake-host'];
      if (typeof host === 'string' && route !== 'oauth2/token') {
        const want = CONTENT_ROUTES.has(route) ? 'content.dropboxapi.com' : 'api.dropboxapi.com';
        if (host !== want) throw badInput(route, `wrong host ${host} for this route; expected ${want}`);
      }
      const fault = faults.take(route);
      if (fault?.kind === 'status') {
        if (fault.status === 429) {
          const ra = fault.retryAfter ?? 1;
          throw new ApiError(
            429,
            { error_summary: 'too_many_requests/..', error: { reason: { '.tag': 'too_many_requests' }, retry_after: ra } },
            { 'Retry-After': String(ra) },
          );
        }
        throw new ApiError(fault.status, 'Internal Server Error');
      }
      if (fault?.kind === 'expire-token') {
        fake.expireTokens();
        throw new ApiError(401, { error_summary: 'expired_access_token/..', error: { '.tag': 'expired_access_token' } });
      }
      const result = await handle(route, req, body, res, fault);
      if (fault?.kind === 'drop-response') {
        req.socket.destroy();
        return;
      }
      if (result !== undefined) send(200, result);
    },
  });
  fake.origin = served.origin;

  fake.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input.toString() : input.url);
    const headers = new Headers(init?.headers);
    if (url.hostname === 'api.dropboxapi.com' || url.hostname === 'content.dropboxapi.com') {
      if (url.protocol !== 'https:') throw new TypeError('Dropbox is only reachable over https');
      headers.set('x-dropbox-fake-host', url.hostname);
      return fetch(`${fake.origin}${url.pathname}${url.search}`, { ...init, headers });
    }
    throw new TypeError(`fake fetch: unexpected URL ${url.origin}`);
  }) as typeof fetch;

  fake.stop = served.stop;
  return fake;
}
