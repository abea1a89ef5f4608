/**
 * A local server speaking the Google Drive v3 endpoints offsite uses and Google's OAuth2
 * token endpoint, on 127.0.0.1. What it checks is what Google checks:
 *
 * - POST /token: the service-account JWT bearer grant. The assertion's RS256 signature is
 *   verified with the public key of the test's service account (made by the test with
 *   node:crypto), and its claims: iss (the account's client_email), scope (must hold the
 *   drive scope), aud (Google's token URL), iat/exp (not expired, at most one hour), sub
 *   (the impersonated user, who must be allowed: domain-wide delegation). Errors come back
 *   as Google sends them: 400 `{error: invalid_grant | unauthorized_client, error_description}`.
 * - Bearer tokens with expiry on every Drive call (401 `authError` otherwise).
 * - POST /upload/drive/v3/files?uploadType=resumable: a session (Location header); PUTs of
 *   chunks with `Content-Range: bytes a-b/total|*` (a multiple of 256 KiB except the last,
 *   offsets in order), 308 Resume Incomplete with `Range: bytes=0-n` until the final chunk,
 *   then 200 with the file. `Content-Range: bytes *\/total` asks for the status. The file
 *   exists (is listed, can be read) only once the last byte is in.
 * - GET /drive/v3/files: q (a subset of the query language: `'id' in parents` with the alias `'root'`, `name =`,
 *   `name contains`, `trashed =`, `mimeType =`/`!=`, and/or/not, parentheses), pageSize
 *   (max 1000), pageToken, fields (partial responses), supportsAllDrives,
 *   includeItemsFromAllDrives, corpora and driveId for shared drives. Sizes are strings
 *   (int64), as Drive sends them.
 * - GET /drive/v3/files/ID (?alt=media streams the content), DELETE, PATCH (name,
 *   addParents/removeParents).
 * - Files in a shared drive are invisible (404) to calls without supportsAllDrives=true.
 *
 * Fault injection: `fake.inject(route, fault)` makes the next call(s) of a route fail; routes
 * are `token`, `files.list`, `files.get`, `files.media`, `files.delete`, `files.update`,
 * `upload.start`, `upload.put`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { ApiError, faultQueue, serveFake } from './fake-service.ts';

export const DRIVE_SCOPE = 'https://www.googleapis.com/auth/drive';
export const GOOGLE_TOKEN_AUD = 'https://oauth2.googleapis.com/token';
const FOLDER = 'application/vnd.google-apps.folder';
const QUANTUM = 256 * 1024;

export type DriveFault =
  | { kind: 'status'; status: number; reason?: string; message?: string; retryAfter?: number }
  /** Expire every issued token, then answer 401 as Drive does. */
  | { kind: 'expire-token' }
  /** Process the request fully, then drop the connection without answering (a lost response). */
  | { kind: 'drop-response' };

export interface DriveFile {
  id: string;
  name: string;
  mimeType: string;
  parents: string[];
  data: Buffer;
  createdTime: Date;
  modifiedTime: Date;
  trashed: boolean;
  /** The shared drive holding it, if any. */
  driveId?: string;
}

export interface ServiceAccount {
  /** The JSON a user puts in GOOGLE_DRIVE_CREDENTIALS_JSON. */
  json: string;
  clientEmail: string;
  privateKeyPem: string;
}

/** A service-account key file as Google issues it, with a fresh RSA key pair. */
export function makeServiceAccount(clientEmail = `offsite-test@test-project.iam.gserviceaccount.com`): ServiceAccount & { publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const json = JSON.stringify(
    {
      type: 'service_account',
      project_id: 'test-project',
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKeyPem,
      client_email: clientEmail,
      client_id: String(100000000000000000000n + BigInt(randomBytes(4).readUInt32BE())),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: GOOGLE_TOKEN_AUD,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
      universe_domain: 'googleapis.com',
    },
    null,
    2,
  );
  return { json, clientEmail, privateKeyPem, publicKey };
}

export interface DriveFake {
  origin: string;
  /** GOOGLE_DRIVE_TOKEN_URL */
  tokenUrl: string;
  /** GOOGLE_DRIVE_ENDPOINT */
  endpoint: string;
  account: ServiceAccount;
  /** Users the service account may impersonate (domain-wide delegation); empty: none. */
  subjects: Set<string>;
  /** Every file and folder by id. */
  files: Map<string, DriveFile>;
  /** The impersonated user's My Drive root folder id ('root' resolves to it). */
  rootId: string;
  calls: Map<string, number>;
  statuses: Map<number, number>;
  /** Largest request body seen (bytes). */
  maxBody: number;
  /** Seconds an issued access token lives (Google: 3599). */
  tokenLifetime: number;
  /** Verified claims of the assertions seen. */
  assertions: Record<string, unknown>[];
  /** Resumable sessions not completed yet. */
  readonly openSessions: number;
  inject(route: string, fault: DriveFault, times?: number): void;
  expireTokens(): void;
  mkdir(name: string, parent?: string): string;
  /** A shared drive; returns its id (also the id of its root folder). */
  sharedDrive(name: string): string;
  put(name: string, parent: string, data: Buffer, created?: Date): DriveFile;
  /** Names of the (non-trashed) files directly in a folder. */
  namesIn(folderId: string): string[];
  stop(): Promise<void>;
}

/** Drive's error body: `{error: {code, message, errors: [{domain, reason, message}]}}`. */
function driveError(status: number, reason: string, message: string, extra: Record<string, string> = {}): ApiError {
  const domain =
    reason === 'notFound' || reason === 'badRequest' || reason === 'invalid'
      ? 'global'
      : reason.endsWith('RateLimitExceeded') || reason === 'rateLimitExceeded' || reason === 'storageQuotaExceeded'
        ? 'usageLimits'
        : 'global';
  const statusText: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    429: 'RESOURCE_EXHAUSTED',
    500: 'INTERNAL',
    503: 'UNAVAILABLE',
  };
  return new ApiError(status, {
    error: { code: status, message, errors: [{ message, domain, reason, ...extra }], ...(statusText[status] ? { status: statusText[status] } : {}) },
  });
}

const notFound = (id: string) => driveError(404, 'notFound', `File not found: ${id}.`, { location: 'fileId', locationType: 'parameter' });

// ---------------------------------------------------------------------------------------
// The query language (a subset): https://developers.google.com/drive/api/guides/ref-search-terms

type Token = { t: 'str'; v: string } | { t: 'word'; v: string } | { t: 'op'; v: string } | { t: '('; v: '(' } | { t: ')'; v: ')' };
type Expr =
  | { k: 'and' | 'or'; a: Expr; b: Expr }
  | { k: 'not'; a: Expr }
  | { k: 'cmp'; field: string; op: string; value: string | boolean }
  | { k: 'in'; value: string; field: string };

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      out.push({ t: c, v: c } as Token);
      i++;
      continue;
    }
    if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= q.length) throw new Error('unterminated string');
        const d = q[i]!;
        if (d === '\\') {
          v += q[i + 1] ?? '';
          i += 2;
          continue;
        }
        if (d === "'") {
          i++;
          break;
        }
        v += d;
        i++;
      }
      out.push({ t: 'str', v });
      continue;
    }
    const op = /^(!=|<=|>=|=|<|>)/.exec(q.slice(i));
    if (op) {
      out.push({ t: 'op', v: op[1]! });
      i += op[1]!.length;
      continue;
    }
    const w = /^[A-Za-z_][A-Za-z0-9_]*/.exec(q.slice(i));
    if (!w) throw new Error(`unexpected character ${c}`);
    out.push({ t: 'word', v: w[0] });
    i += w[0].length;
  }
  return out;
}

function parseQuery(q: string): Expr {
  const toks = tokenize(q);
  let p = 0;
  const peek = () => toks[p];
  const word = (v: string) => peek()?.t === 'word' && peek()!.v.toLowerCase() === v;
  const orExpr = (): Expr => {
    let a = andExpr();
    while (word('or')) {
      p++;
      a = { k: 'or', a, b: andExpr() };
    }
    return a;
  };
  const andExpr = (): Expr => {
    let a = unary();
    while (word('and')) {
      p++;
      a = { k: 'and', a, b: unary() };
    }
    return a;
  };
  const unary = (): Expr => {
    if (word('not')) {
      p++;
      return { k: 'not', a: unary() };
    }
    if (peek()?.t === '(') {
      p++;
      const e = orExpr();
      if (peek()?.t !== ')') throw new Error('missing )');
      p++;
      return e;
    }
    const first = toks[p++];
    if (!first) throw new Error('unexpected end');
    if (first.t === 'str') {
      if (!word('in')) throw new Error(`expected "in" after '${first.v}'`);
      p++;
      const f = toks[p++];
      if (f?.t !== 'word' || !['parents', 'owners', 'writers', 'readers'].includes(f.v)) throw new Error('expected a collection after in');
      return { k: 'in', value: first.v, field: f.v };
    }
    if (first.t !== 'word') throw new Error('expected a field');
    const field = first.v;
    if (!['name', 'trashed', 'mimeType', 'fullText', 'starred', 'modifiedTime', 'createdTime'].includes(field)) throw new Error(`unknown field ${field}`);
    const opTok = toks[p++];
    let op: string;
    if (opTok?.t === 'op') op = opTok.v;
    else if (opTok?.t === 'word' && opTok.v === 'contains') op = 'contains';
    else throw new Error(`expected an operator after ${field}`);
    const val = toks[p++];
    if (val?.t === 'str') return { k: 'cmp', field, op, value: val.v };
    if (val?.t === 'word' && (val.v === 'true' || val.v === 'false')) return { k: 'cmp', field, op, value: val.v === 'true' };
    throw new Error(`expected a value after ${field} ${op}`);
  };
  const e = orExpr();
  if (p !== toks.length) throw new Error('trailing input');
  return e;
}

/** `rootId`: what the alias 'root' stands for (`'root' in parents`, as Drive accepts). */
function evaluate(e: Expr, f: DriveFile, rootId: string): boolean {
  switch (e.k) {
    case 'and':
      return evaluate(e.a, f, rootId) && evaluate(e.b, f, rootId);
    case 'or':
      return evaluate(e.a, f, rootId) || evaluate(e.b, f, rootId);
    case 'not':
      return !evaluate(e.a, f, rootId);
    case 'in':
      return e.field === 'parents' ? f.parents.includes(e.value === 'root' ? rootId : e.value) : false;
    case 'cmp': {
      const v = (f as unknown as Record<string, unknown>)[e.field];
      if (e.op === 'contains') {
        // Drive: `name contains` matches a prefix of the name (or of a word in it)
        if (e.field !== 'name' || typeof e.value !== 'string') throw new Error('contains on this field is not implemented');
        const needle = e.value.toLowerCase();
        const name = f.name.toLowerCase();
        return name.startsWith(needle) || name.split(/[\s\-_.]+/).some((w) => w.startsWith(needle));
      }
      if (e.op === '=') return v === e.value;
      if (e.op === '!=') return v !== e.value;
      throw new Error(`operator ${e.op} is not implemented`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Partial responses: `fields=nextPageToken,files(id,name,size)`

function parseFields(s: string): Map<string, Map<string, unknown> | null> {
  const out = new Map<string, Map<string, unknown> | null>();
  let i = 0;
  const parseList = (): Map<string, Map<string, unknown> | null> => {
    const m = new Map<string, Map<string, unknown> | null>();
    for (;;) {
      while (s[i] === ' ' || s[i] === ',') i++;
      if (i >= s.length || s[i] === ')') return m;
      const name = /^[A-Za-z_*][A-Za-z0-9_/]*/.exec(s.slice(i));
      if (!name) throw new Error(`bad fields at ${i}`);
      i += name[0].length;
      if (s[i] === '(') {
        i++;
        m.set(name[0], parseList() as Map<string, unknown>);
        if (s[i] !== ')') throw new Error('missing )');
        i++;
      } else m.set(name[0], null);
    }
  };
  for (const [k, v] of parseList()) out.set(k, v as Map<string, unknown> | null);
  return out;
}

function pick(obj: Record<string, unknown>, fields: Map<string, unknown> | null): Record<string, unknown> {
  if (!fields || fields.has('*')) return obj;
  const out: Record<string, unknown> = {};
  for (const [k, sub] of fields) {
    if (!(k in obj)) continue;
    const v = obj[k];
    if (sub && Array.isArray(v)) out[k] = v.map((x) => pick(x as Record<string, unknown>, sub as Map<string, unknown>));
    else if (sub && v && typeof v === 'object') out[k] = pick(v as Record<string, unknown>, sub as Map<string, unknown>);
    else out[k] = v;
  }
  return out;
}

const DEFAULT_FILE_FIELDS = new Map<string, unknown>([
  ['kind', null],
  ['id', null],
  ['name', null],
  ['mimeType', null],
]);

// ---------------------------------------------------------------------------------------

interface Session {
  meta: { name: string; parents: string[]; mimeType: string; driveId?: string };
  received: Buffer[];
  length: number;
  fields: string | null;
  done: DriveFile | null;
}

function b64urlJson(s: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
}

export async function startDriveFake(
  opts: { account?: ServiceAccount & { publicKey: KeyObject }; subjects?: string[]; tokenLifetime?: number } = {},
): Promise<DriveFake> {
  const account = opts.account ?? makeServiceAccount();
  const publicKey = account.publicKey ?? createPublicKey(account.privateKeyPem);
  const tokens = new Map<string, { exp: number; sub: string | null }>();
  const sessions = new Map<string, Session>();
  const pageTokens = new Map<string, { ids: string[]; offset: number; fields: string | null }>();
  const faults = faultQueue<DriveFault>();
  const drives = new Map<string, string>(); // id -> name
  let seq = 0;
  const newId = () => `${(++seq).toString(36).padStart(4, '0')}${randomBytes(12).toString('base64url')}`;
  const rootId = `0A${randomBytes(10).toString('base64url')}`;

  const fake = {
    origin: '',
    tokenUrl: '',
    endpoint: '',
    account,
    subjects: new Set(opts.subjects ?? []),
    files: new Map<string, DriveFile>(),
    rootId,
    calls: new Map<string, number>(),
    statuses: new Map<number, number>(),
    maxBody: 0,
    tokenLifetime: opts.tokenLifetime ?? 3599,
    assertions: [] as Record<string, unknown>[],
    get openSessions() {
      return [...sessions.values()].filter((s) => !s.done).length;
    },
    inject: faults.inject,
    expireTokens() {
      for (const t of tokens.values()) t.exp = 0;
    },
    mkdir(name: string, parent = rootId) {
      const p = fake.files.get(parent);
      const id = newId();
      const now = new Date();
      fake.files.set(id, {
        id,
        name,
        mimeType: FOLDER,
        parents: [parent],
        data: Buffer.alloc(0),
        createdTime: now,
        modifiedTime: now,
        trashed: false,
        driveId: p?.driveId,
      });
      return id;
    },
    sharedDrive(name: string) {
      const id = `0A${randomBytes(9).toString('base64url')}`;
      drives.set(id, name);
      const now = new Date();
      fake.files.set(id, { id, name, mimeType: FOLDER, parents: [], data: Buffer.alloc(0), createdTime: now, modifiedTime: now, trashed: false, driveId: id });
      return id;
    },
    put(name: string, parent: string, data: Buffer, created = new Date()) {
      const id = newId();
      const f: DriveFile = {
        id,
        name,
        mimeType: 'application/octet-stream',
        parents: [parent],
        data,
        createdTime: created,
        modifiedTime: created,
        trashed: false,
        driveId: fake.files.get(parent)?.driveId,
      };
      fake.files.set(id, f);
      return f;
    },
    namesIn(folderId: string) {
      return [...fake.files.values()]
        .filter((f) => f.parents.includes(folderId) && !f.trashed)
        .map((f) => f.name)
        .sort();
    },
    stop: async () => {},
  } as DriveFake;
  const now0 = new Date();
  fake.files.set(rootId, {
    id: rootId,
    name: 'My Drive',
    mimeType: FOLDER,
    parents: [],
    data: Buffer.alloc(0),
    createdTime: now0,
    modifiedTime: now0,
    trashed: false,
  });

  function fileJson(f: DriveFile): Record<string, unknown> {
    const out: Record<string, unknown> = {
      kind: 'drive#file',
      id: f.id,
      name: f.name,
      mimeType: f.mimeType,
      parents: f.parents,
      trashed: f.trashed,
      createdTime: f.createdTime.toISOString(),
      modifiedTime: f.modifiedTime.toISOString(),
    };
    if (f.mimeType !== FOLDER) out.size = String(f.data.length);
    if (f.driveId) out.driveId = f.driveId;
    return out;
  }

  /** A file the caller may see: 'root' resolves; shared-drive items need supportsAllDrives. */
  function lookup(id: string, url: URL): DriveFile {
    const f = fake.files.get(id === 'root' ? rootId : id);
    if (!f) throw notFound(id);
    if (f.driveId && url.searchParams.get('supportsAllDrives') !== 'true' && url.searchParams.get('supportsTeamDrives') !== 'true') throw notFound(id);
    return f;
  }

  function checkToken(req: IncomingMessage): void {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const t = m ? tokens.get(m[1]!) : undefined;
    if (!t || t.exp <= Date.now()) {
      throw new ApiError(
        401,
        {
          error: {
            code: 401,
            message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
            errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }],
            status: 'UNAUTHENTICATED',
          },
        },
        { 'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      );
    }
  }

  function tokenGrant(body: Buffer, req: IncomingMessage): unknown {
    const ct = String(req.headers['content-type'] ?? '');
    if (!ct.startsWith('application/x-www-form-urlencoded')) throw new ApiError(400, { error: 'invalid_request', error_description: `Bad Content-Type ${ct}` });
    const form = new URLSearchParams(body.toString());
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      throw new ApiError(400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: ' + form.get('grant_type') });
    const assertion = form.get('assertion') ?? '';
    const parts = assertion.split('.');
    if (parts.length !== 3)
      throw new ApiError(400, {
        error: 'invalid_grant',
        error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
      });
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = b64urlJson(parts[0]!);
      claims = b64urlJson(parts[1]!);
    } catch {
      throw new ApiError(400, { error: 'invalid_grant', error_description: 'Invalid JWT: could not decode.' });
    }
    if (header.alg !== 'RS256') throw new ApiError(400, { error: 'invalid_grant', error_description: `Invalid JWT: algorithm ${String(header.alg)}` });
    const ok = verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2]!, 'base64url'));
    if (!ok) throw new ApiError(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    const now = Math.floor(Date.now() / 1000);
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (!Number.isFinite(iat) || !Number.isFinite(exp) || exp <= now || iat > now + 300 || exp - iat > 3600) {
      throw new ApiError(400, {
        error: 'invalid_grant',
        error_description:
          'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      });
    }
    if (claims.iss !== account.clientEmail) throw new ApiError(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    if (claims.aud !== GOOGLE_TOKEN_AUD)
      throw new ApiError(400, { error: 'invalid_grant', error_description: `Invalid JWT: Failed audience check. The right audience is ${GOOGLE_TOKEN_AUD}` });
    const scopes = String(claims.scope ?? '').split(' ');
    if (!scopes.includes(DRIVE_SCOPE))
      throw new ApiError(400, { error: 'invalid_scope', error_description: `Invalid OAuth scope or ID token audience provided: ${String(claims.scope)}` });
    const sub = typeof claims.sub === 'string' ? claims.sub : null;
    if (sub !== null && !fake.subjects.has(sub)) {
      throw new ApiError(401, {
        error: 'unauthorized_client',
        error_description: 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
      });
    }
    fake.assertions.push({ header, ...claims });
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    tokens.set(token, { exp: Date.now() + fake.tokenLifetime * 1000, sub });
    return { access_token: token, expires_in: fake.tokenLifetime, token_type: 'Bearer' };
  }

  function parentFor(meta: Record<string, unknown>, url: URL): { parents: string[]; driveId?: string } {
    const parents = Array.isArray(meta.parents) && meta.parents.length ? (meta.parents as string[]) : [rootId];
    if (parents.length > 1) throw driveError(403, 'cannotAddParent', 'Increasing the number of parents is not allowed.');
    const p = lookup(parents[0]!, url);
    if (p.mimeType !== FOLDER) throw driveError(400, 'invalid', 'The specified parent is not a folder.');
    return { parents: [p.id], driveId: p.driveId };
  }

  async function handle(
    route: string,
    req: IncomingMessage,
    url: URL,
    body: Buffer,
    res: ServerResponse,
  ): Promise<{ status: number; json?: unknown; headers?: Record<string, string> } | null> {
    switch (route) {
      case 'token':
        return { status: 200, json: tokenGrant(body, req) };
      case 'upload.start': {
        checkToken(req);
        if (url.searchParams.get('uploadType') !== 'resumable') throw driveError(400, 'badRequest', 'This test server implements only uploadType=resumable.');
        let meta: Record<string, unknown> = {};
        if (body.length) {
          if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) throw driveError(400, 'badContent', 'Metadata must be JSON.');
          meta = JSON.parse(body.toString());
        }
        if (typeof meta.name !== 'string' || !meta.name) throw driveError(400, 'required', 'This test server needs a name.');
        const { parents, driveId } = parentFor(meta, url);
        const id = randomBytes(18).toString('base64url');
        sessions.set(id, {
          meta: { name: meta.name, parents, mimeType: typeof meta.mimeType === 'string' ? meta.mimeType : 'application/octet-stream', driveId },
          received: [],
          length: 0,
          fields: url.searchParams.get('fields'),
          done: null,
        });
        // the session URI is on the host the client asked (through a proxy: the proxy's)
        const location = `http://${req.headers.host ?? new URL(fake.origin).host}/upload/drive/v3/files?uploadType=resumable&upload_id=${id}${url.searchParams.get('supportsAllDrives') ? '&supportsAllDrives=true' : ''}`;
        return { status: 200, headers: { Location: location, 'X-GUploader-UploadID': id }, json: undefined };
      }
      case 'upload.put': {
        const id = url.searchParams.get('upload_id') ?? '';
        const s = sessions.get(id);
        if (!s) throw driveError(404, 'notFound', 'No such upload session.');
        if (s.done) return { status: 200, json: pick(fileJson(s.done), s.fields ? parseFields(s.fields) : DEFAULT_FILE_FIELDS) };
        const range = String(req.headers['content-range'] ?? '');
        const query = /^bytes \*\/(\d+|\*)$/.exec(range);
        const chunk = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
        let total: number | null = null;
        if (query) {
          if (body.length) throw driveError(400, 'badRequest', 'A status query carries no body.');
          total = query[1] === '*' ? null : Number(query[1]);
        } else if (chunk) {
          const start = Number(chunk[1]);
          const end = Number(chunk[2]);
          total = chunk[3] === '*' ? null : Number(chunk[3]);
          if (start !== s.length)
            throw driveError(
              400,
              'badRequest',
              `Invalid request. According to the Content-Range header, the upload offset is ${start} byte(s), which does not match the already uploaded size of ${s.length} byte(s).`,
            );
          if (end < start || end - start + 1 !== body.length)
            throw driveError(400, 'badRequest', `Invalid request. The Content-Range header says ${end - start + 1} byte(s), the body has ${body.length}.`);
          if (total === null && body.length % QUANTUM !== 0)
            throw driveError(
              400,
              'badRequest',
              `Invalid request. The number of bytes uploaded is required to be equal or greater than 262144, except for the final request (it's recommended to be the exact multiple of 262144). The received request contained ${body.length} bytes.`,
            );
          if (total !== null && end + 1 > total) throw driveError(400, 'badRequest', 'Invalid request. The Content-Range end exceeds the total size.');
          s.received.push(body);
          s.length += body.length;
        } else if (!range && body.length === 0) {
          total = null; // a bare status request
        } else {
          throw driveError(400, 'badRequest', `Invalid Content-Range: ${range || '(none)'}`);
        }
        if (total !== null && s.length === total) {
          const now = new Date();
          const f: DriveFile = {
            id: newId(),
            name: s.meta.name,
            mimeType: s.meta.mimeType,
            parents: s.meta.parents,
            data: Buffer.concat(s.received, s.length),
            createdTime: now,
            modifiedTime: now,
            trashed: false,
            driveId: s.meta.driveId,
          };
          s.received = [];
          s.done = f;
          fake.files.set(f.id, f);
          return { status: 200, json: pick(fileJson(f), s.fields ? parseFields(s.fields) : DEFAULT_FILE_FIELDS) };
        }
        if (total !== null && s.length > total) throw driveError(400, 'badRequest', 'More data than the total size.');
        const headers: Record<string, string> = { 'X-GUploader-UploadID': id };
        if (s.length > 0) headers.Range = `bytes=0-${s.length - 1}`;
        return { status: 308, headers };
      }
      case 'upload.cancel': {
        // Google answers a cancelled session with 499
        const id = url.searchParams.get('upload_id') ?? '';
        if (!sessions.delete(id)) throw driveError(404, 'notFound', 'No such upload session.');
        return { status: 499 };
      }
      case 'files.list': {
        checkToken(req);
        const sp = url.searchParams;
        const corpora = sp.get('corpora') ?? 'user';
        const driveId = sp.get('driveId');
        const allDrives = sp.get('includeItemsFromAllDrives') === 'true';
        if (driveId && (corpora !== 'drive' || !allDrives || sp.get('supportsAllDrives') !== 'true')) {
          throw driveError(
            403,
            'invalid',
            "The includeItemsFromAllDrives and supportsAllDrives parameters must be true and corpora must be 'drive' when driveId is specified.",
          );
        }
        if (corpora === 'drive' && !driveId)
          throw driveError(400, 'invalid', 'The driveId parameter must be specified if and only if corpora is set to drive.');
        if (driveId && !drives.has(driveId)) throw driveError(404, 'notFound', `Shared drive not found: ${driveId}`);
        const pageSize = Math.min(1000, Math.max(1, Number(sp.get('pageSize') ?? 100)));
        let ids: string[];
        let offset = 0;
        const fields = sp.get('fields');
        const token = sp.get('pageToken');
        if (token) {
          const t = pageTokens.get(token);
          if (!t) throw driveError(400, 'invalid', 'Invalid Value', { location: 'pageToken', locationType: 'parameter' });
          pageTokens.delete(token);
          ({ ids, offset } = t);
        } else {
          let expr: Expr | null = null;
          const q = sp.get('q');
          if (q) {
            try {
              expr = parseQuery(q);
            } catch (err) {
              throw driveError(400, 'invalid', `Invalid Value (${(err as Error).message})`, { location: 'q', locationType: 'parameter' });
            }
          }
          ids = [...fake.files.values()]
            .filter((f) => f.id !== rootId && !drives.has(f.id))
            .filter((f) => (driveId ? f.driveId === driveId : !f.driveId || allDrives))
            .filter((f) => !expr || evaluate(expr, f, rootId))
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1))
            .map((f) => f.id);
        }
        const page = ids
          .slice(offset, offset + pageSize)
          .map((id) => fake.files.get(id))
          .filter((f): f is DriveFile => Boolean(f));
        const out: Record<string, unknown> = { kind: 'drive#fileList', incompleteSearch: false, files: page.map(fileJson) };
        if (offset + pageSize < ids.length) {
          const next = randomBytes(16).toString('base64url');
          pageTokens.set(next, { ids, offset: offset + pageSize, fields });
          out.nextPageToken = next;
        }
        const parsed = fields
          ? parseFields(fields)
          : new Map<string, unknown>([
              ['kind', null],
              ['incompleteSearch', null],
              ['nextPageToken', null],
              ['files', DEFAULT_FILE_FIELDS],
            ]);
        return { status: 200, json: pick(out, parsed as Map<string, unknown>) };
      }
      case 'files.get': {
        checkToken(req);
        const id = decodeURIComponent(url.pathname.split('/').pop()!);
        const f = lookup(id, url);
        if (f.trashed) throw notFound(id);
        if (url.searchParams.get('alt') === 'media') {
          if (f.mimeType === FOLDER) throw driveError(403, 'fileNotDownloadable', 'Only files with binary content can be downloaded.');
          fake.calls.set('files.media', (fake.calls.get('files.media') ?? 0) + 1);
          res.writeHead(200, { 'Content-Type': f.mimeType, 'Content-Length': String(f.data.length) });
          // streamed in pieces, so a stalled reader/connection is observable
          const piece = 256 * 1024;
          let at = 0;
          const pump = () => {
            while (at < f.data.length) {
              const ok = res.write(f.data.subarray(at, at + piece));
              at += piece;
              if (!ok) {
                res.once('drain', pump);
                return;
              }
            }
            res.end();
          };
          pump();
          fake.statuses.set(200, (fake.statuses.get(200) ?? 0) + 1);
          return null;
        }
        const fields = url.searchParams.get('fields');
        return { status: 200, json: pick(fileJson(f), fields ? parseFields(fields) : DEFAULT_FILE_FIELDS) };
      }
      case 'files.delete': {
        checkToken(req);
        const id = decodeURIComponent(url.pathname.split('/').pop()!);
        const f = lookup(id, url);
        fake.files.delete(f.id);
        return { status: 204 };
      }
      case 'files.update': {
        checkToken(req);
        const id = decodeURIComponent(url.pathname.split('/').pop()!);
        const f = lookup(id, url);
        const meta = body.length ? (JSON.parse(body.toString()) as Record<string, unknown>) : {};
        if (typeof meta.name === 'string') f.name = meta.name;
        const add = url.searchParams.get('addParents');
        const remove = url.searchParams.get('removeParents');
        if (remove) f.parents = f.parents.filter((p) => !remove.split(',').includes(p));
        if (add) for (const p of add.split(',')) f.parents.push(lookup(p, url).id);
        f.modifiedTime = new Date();
        const fields = url.searchParams.get('fields');
        return { status: 200, json: pick(fileJson(f), fields ? parseFields(fields) : DEFAULT_FILE_FIELDS) };
      }
      default:
        throw driveError(404, 'notFound', `Unknown route ${req.method} ${url.pathname}`);
    }
  }

  function routeOf(method: string, path: string): string {
    if (path === '/token' && method === 'POST') return 'token';
    if (path === '/upload/drive/v3/files' && method === 'POST') return 'upload.start';
    if (path === '/upload/drive/v3/files' && method === 'PUT') return 'upload.put';
    if (path === '/upload/drive/v3/files' && method === 'DELETE') return 'upload.cancel';
    if (path === '/drive/v3/files' && method === 'GET') return 'files.list';
    if (path.startsWith('/drive/v3/files/') && method === 'GET') return 'files.get';
    if (path.startsWith('/drive/v3/files/') && method === 'DELETE') return 'files.delete';
    if (path.startsWith('/drive/v3/files/') && method === 'PATCH') return 'files.update';
    return `${method} ${path}`;
  }

  const served = await serveFake(fake, {
    textType: 'application/json; charset=UTF-8',
    jsonType: 'application/json; charset=UTF-8',
    internal: (err, send) =>
      send(500, {
        error: {
          code: 500,
          message: `fake error: ${err.message}`,
          errors: [{ reason: 'internalError', domain: 'global', message: err.message }],
        },
      }),
    async handle({ req, res, body, send, count }) {
      const url = new URL(req.url!, fake.origin);
      const route = routeOf(req.method!, url.pathname);
      const mediaRoute = route === 'files.get' && url.searchParams.get('alt') === 'media' ? 'files.media' : route;
      count(route);
      const fault = faults.take(mediaRoute);
      if (fault?.kind === 'status') {
        const reason = fault.reason ?? (fault.status === 429 ? 'rateLimitExceeded' : fault.status >= 500 ? 'backendError' : 'badRequest');
        const headers: Record<string, string> = fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {};
        throw Object.assign(driveError(fault.status, reason, fault.message ?? `injected ${fault.status}`), { headers });
      }
      if (fault?.kind === 'expire-token') fake.expireTokens();
      const out = await handle(route, req, url, body, res);
      if (fault?.kind === 'drop-response') {
        req.socket.destroy();
        return;
      }
      if (out) send(out.status, out.json, out.headers);
    },
  });
  fake.origin = served.origin;
  fake.tokenUrl = `${fake.origin}/token`;
  fake.endpoint = `${fake.origin}/`;
  fake.stop = served.stop;
  return fake;
}
