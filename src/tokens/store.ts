/**
 * API tokens (`offsite token create|list|reset|revoke`): stored in OFFSITE_STATE_DIR/tokens.json
 * as a random salt and the SHA-256 of salt + token, never the token itself. The token is shown
 * once, when it is created or reset. The daemon reads the file again when it changes, so a token
 * made with the CLI works (or a revoked one stops working) without a restart. When each token
 * was last used is kept by the daemon in tokens-used.json (the CLI never writes it).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.ts';

export const SCOPES = ['read', 'run', 'download'] as const;
export type Scope = (typeof SCOPES)[number];

export interface StoredToken {
  name: string;
  scopes: Scope[];
  /** hex */
  salt: string;
  /** hex SHA-256 of salt bytes + token */
  hash: string;
  created: string;
  /** When the token was last made (created or reset). */
  issued: string;
  /** The token is refused before this (OFFSITE_TOKEN_ACTIVATION_DELAY for download tokens). */
  activeFrom: string;
}

export interface TokenIdentity {
  name: string;
  scopes: readonly Scope[];
}

/** Why a presented token was refused, or the identity it proves. */
export type TokenCheck =
  { ok: true; token: TokenIdentity } | { ok: false; reason: 'unknown' } | { ok: false; reason: 'inactive'; name: string; activeFrom: Date };

const MAX_FILE = 1 << 20;
const PREFIX = 'ofs_';
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** The name OFFSITE_API_TOKEN goes by in logs and `last used`. */
export const ENV_TOKEN_NAME = 'OFFSITE_API_TOKEN';

export function sha256(data: string | Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Constant-time equality of two secrets of any length: both are hashed, then compared with timingSafeEqual. */
export function secretEquals(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

function hashToken(salt: Buffer, token: string): Buffer {
  return createHash('sha256').update(salt).update(token).digest();
}

export function parseScopes(input: string | undefined): Scope[] {
  if (!input) throw new UsageError('token create needs --scopes', `scopes: ${SCOPES.join(', ')} (comma separated), e.g. --scopes read,run`);
  const out: Scope[] = [];
  for (const s of input
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean)) {
    if (!(SCOPES as readonly string[]).includes(s)) throw new UsageError(`--scopes: unknown scope "${s}"`, `scopes: ${SCOPES.join(', ')}`);
    if (!out.includes(s as Scope)) out.push(s as Scope);
  }
  if (out.length === 0) throw new UsageError('--scopes names no scope', `scopes: ${SCOPES.join(', ')}`);
  return out;
}

function readJson(file: string): unknown {
  const st = statSync(file);
  if (!st.isFile()) throw new Error(`${file} is not a regular file`);
  if (st.size > MAX_FILE) throw new Error(`${file} is larger than 1 MiB`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

async function atomicWrite(file: string, body: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, body, { mode: 0o600 });
  await rename(tmp, file);
}

export class TokenStore {
  readonly file: string;
  readonly usedFile: string;
  private tokens: StoredToken[] = [];
  private loadedKey = '';
  private used: Record<string, string> = {};
  private usedDirty = false;
  private readonly envToken: string | null;

  constructor(stateDir: string, envToken: string | null = null) {
    this.file = join(stateDir, 'tokens.json');
    this.usedFile = join(stateDir, 'tokens-used.json');
    this.envToken = envToken;
    try {
      const u = readJson(this.usedFile) as Record<string, string>;
      if (u && typeof u === 'object') this.used = u;
    } catch {
      /* none yet */
    }
  }

  /** Read tokens.json again when it changed (size, mtime); a missing file is no token. Throws when it cannot be read or parsed. */
  load(): StoredToken[] {
    let key: string;
    try {
      const st = statSync(this.file);
      key = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.tokens = [];
        this.loadedKey = '';
        return this.tokens;
      }
      throw e;
    }
    if (key === this.loadedKey) return this.tokens;
    const j = readJson(this.file) as { tokens?: StoredToken[] };
    if (!j || !Array.isArray(j.tokens)) throw new Error(`${this.file} is not a token file offsite wrote`);
    this.tokens = j.tokens.filter((t) => t && typeof t.name === 'string' && typeof t.hash === 'string' && typeof t.salt === 'string');
    this.loadedKey = key;
    return this.tokens;
  }

  /** Is any token configured (OFFSITE_API_TOKEN or a stored one)? Without one, /api/ answers 404. */
  any(): boolean {
    if (this.envToken) return true;
    try {
      return this.load().length > 0;
    } catch {
      return false;
    }
  }

  /** Check a presented token against every token, each in constant time. */
  check(presented: string, now = new Date()): TokenCheck {
    let match: TokenCheck = { ok: false, reason: 'unknown' };
    // every candidate is compared (no early exit on a match)
    if (this.envToken && secretEquals(presented, this.envToken)) match = { ok: true, token: { name: ENV_TOKEN_NAME, scopes: SCOPES } };
    let tokens: StoredToken[] = [];
    try {
      tokens = this.load();
    } catch {
      /* unreadable: only the environment's token works */
    }
    for (const t of tokens) {
      const expected = Buffer.from(t.hash, 'hex');
      const got = hashToken(Buffer.from(t.salt, 'hex'), presented);
      if (expected.length === got.length && timingSafeEqual(expected, got) && !match.ok) {
        const activeFrom = new Date(t.activeFrom);
        match =
          now.getTime() < activeFrom.getTime()
            ? { ok: false, reason: 'inactive', name: t.name, activeFrom }
            : { ok: true, token: { name: t.name, scopes: t.scopes } };
      }
    }
    return match;
  }

  /** Remember when a token was used (written at most every minute by flushUsage). */
  touch(name: string, now = new Date()): void {
    this.used[name] = now.toISOString();
    this.usedDirty = true;
  }

  lastUsed(name: string): string | null {
    try {
      const u = readJson(this.usedFile) as Record<string, string>;
      if (u && typeof u[name] === 'string') return u[name];
    } catch {
      /* never used */
    }
    return this.used[name] ?? null;
  }

  async flushUsage(): Promise<void> {
    if (!this.usedDirty) return;
    this.usedDirty = false;
    await mkdir(join(this.file, '..'), { recursive: true });
    await atomicWrite(this.usedFile, JSON.stringify(this.used));
  }

  private async save(tokens: StoredToken[]): Promise<void> {
    await mkdir(join(this.file, '..'), { recursive: true, mode: 0o700 });
    await atomicWrite(this.file, `${JSON.stringify({ tokens }, null, 2)}\n`);
    this.loadedKey = '';
  }

  private issue(): { token: string; salt: string; hash: string } {
    const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
    const salt = randomBytes(16);
    return { token, salt: salt.toString('hex'), hash: hashToken(salt, token).toString('hex') };
  }

  /** A new token; the returned secret is shown once and never stored. */
  async create(name: string, scopes: Scope[], activationDelayMs: number, now = new Date()): Promise<{ token: string; stored: StoredToken }> {
    if (!NAME_RE.test(name))
      throw new UsageError(`"${name}" is not a token name`, 'use letters, digits, ".", "_" and "-" (at most 64), starting with a letter or digit');
    if (name === ENV_TOKEN_NAME) throw new UsageError(`${name} is the name of the token in the environment`, 'choose another name');
    const tokens = this.load();
    if (tokens.some((t) => t.name === name))
      throw new UsageError(
        `a token named "${name}" exists`,
        `\`offsite token reset ${name}\` makes a new secret for it; \`offsite token revoke ${name}\` removes it`,
      );
    const { token, salt, hash } = this.issue();
    const iso = now.toISOString();
    const delay = scopes.includes('download') ? activationDelayMs : 0;
    const stored: StoredToken = { name, scopes, salt, hash, created: iso, issued: iso, activeFrom: new Date(now.getTime() + delay).toISOString() };
    await this.save([...tokens, stored]);
    return { token, stored };
  }

  /** A new secret for an existing token (the old one stops working at once). */
  async reset(name: string, activationDelayMs: number, now = new Date()): Promise<{ token: string; stored: StoredToken }> {
    const tokens = this.load();
    const t = tokens.find((x) => x.name === name);
    if (!t) throw new UsageError(`no token named "${name}"`, 'run `offsite token list`');
    const { token, salt, hash } = this.issue();
    const delay = t.scopes.includes('download') ? activationDelayMs : 0;
    const stored: StoredToken = { ...t, salt, hash, issued: now.toISOString(), activeFrom: new Date(now.getTime() + delay).toISOString() };
    await this.save(tokens.map((x) => (x.name === name ? stored : x)));
    return { token, stored };
  }

  async revoke(name: string): Promise<void> {
    const tokens = this.load();
    if (!tokens.some((t) => t.name === name)) throw new UsageError(`no token named "${name}"`, 'run `offsite token list`');
    await this.save(tokens.filter((t) => t.name !== name));
  }
}
