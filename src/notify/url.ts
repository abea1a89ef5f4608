import { NotifyUrlError } from './types.ts';

/** Percent-decode a URL component; a malformed escape is a URL error. */
export function decode(s: string, what = 'URL part'): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new NotifyUrlError(`the ${what} has an invalid percent-escape`);
  }
}

/** WHATWG gives userinfo percent-encoded: decoded user name and password ('' when absent). */
export function userinfo(url: URL): { user: string; password: string } {
  return { user: decode(url.username, 'user name'), password: decode(url.password, 'password') };
}

/** Host (name and port) as written, '' when absent. */
export function hostOf(url: URL): string {
  return url.host;
}

/** Path segments, decoded, without empty ones. */
export function pathSegments(url: URL): string[] {
  return url.pathname
    .split('/')
    .filter(Boolean)
    .map((p) => decode(p, 'path'));
}

const TRUE = ['true', '1', 'yes', 'y'];
const FALSE = ['false', '0', 'no', 'n'];

export function parseBool(key: string, v: string): boolean {
  const s = v.trim().toLowerCase();
  if (TRUE.includes(s)) return true;
  if (FALSE.includes(s)) return false;
  throw new NotifyUrlError(`${key}=${v} is not a boolean; expected yes or no`);
}

/**
 * The query of a notification URL. Keys are matched case-insensitively (shoutrrr's
 * PropKeyResolver) unless `exact`; every key a service reads is marked, and
 * finish() refuses the rest for services that refuse unknown keys.
 */
export class Query {
  readonly params: URLSearchParams;
  readonly exact: boolean;
  readonly used = new Set<string>();

  constructor(url: URL, exact = false) {
    this.params = url.searchParams;
    this.exact = exact;
  }

  private norm(k: string): string {
    return this.exact ? k : k.toLowerCase();
  }

  /** The first value of the first alias present, marking every alias as read. */
  get(...aliases: string[]): string | undefined {
    const want = aliases.map((a) => this.norm(a));
    let found: string | undefined;
    for (const [k, v] of this.params) {
      const nk = this.norm(k);
      if (want.includes(nk)) {
        this.used.add(k);
        if (found === undefined) found = v;
      }
    }
    return found;
  }

  str(aliases: string | string[], def = ''): string {
    const v = this.get(...(Array.isArray(aliases) ? aliases : [aliases]));
    return v === undefined ? def : v;
  }

  bool(aliases: string | string[], def: boolean): boolean {
    const names = Array.isArray(aliases) ? aliases : [aliases];
    const v = this.get(...names);
    if (v === undefined || v === '') return def;
    return parseBool(names[0]!, v);
  }

  int(aliases: string | string[], def: number, min?: number, max?: number): number {
    const names = Array.isArray(aliases) ? aliases : [aliases];
    const v = this.get(...names);
    if (v === undefined || v === '') return def;
    if (!/^[+-]?\d+$/.test(v.trim())) throw new NotifyUrlError(`${names[0]}=${v} is not a whole number`);
    const n = parseInt(v, 10);
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
      throw new NotifyUrlError(`${names[0]}=${v} is out of range; expected ${min} to ${max}`);
    }
    return n;
  }

  /** Comma-separated list, trimmed, empties dropped. */
  list(aliases: string | string[], sep = ','): string[] {
    const v = this.get(...(Array.isArray(aliases) ? aliases : [aliases]));
    if (!v) return [];
    return v
      .split(sep)
      .map((s) => s.trim())
      .filter(Boolean);
  }

  /** One of a fixed set (case-insensitive), returned in its canonical spelling. */
  choice<T extends string>(aliases: string | string[], choices: readonly T[], def: T): T {
    const names = Array.isArray(aliases) ? aliases : [aliases];
    const v = this.get(...names);
    if (v === undefined || v === '') return def;
    const found = choices.find((c) => c.toLowerCase() === v.trim().toLowerCase());
    if (!found) throw new NotifyUrlError(`${names[0]}=${v} is not one of ${choices.join(', ')}`);
    return found;
  }

  /** Keys not read by the service. */
  unused(): string[] {
    const out: string[] = [];
    for (const k of this.params.keys()) if (!this.used.has(k) && !out.includes(k)) out.push(k);
    return out;
  }

  /** Refuse keys the service does not know (shoutrrr's resolver does the same). */
  finish(known: readonly string[]): void {
    const bad = this.unused();
    if (bad.length > 0) {
      throw new NotifyUrlError(`unknown query parameter ${bad.map((b) => `"${b}"`).join(', ')}; expected ${known.join(', ')}`);
    }
  }
}

/** Parse a hex colour as shoutrrr does (`0x50D9ff`, `#50D9ff` or `50D9ff`). */
export function parseHexColor(key: string, v: string): number {
  const s = v.trim().replace(/^(0x|#)/i, '');
  if (!/^[0-9a-f]{1,8}$/i.test(s)) throw new NotifyUrlError(`${key}=${v} is not a hex colour such as 0x50D9ff`);
  return parseInt(s, 16);
}

/** Require a non-empty part. */
export function need(value: string, what: string, example: string): string {
  if (!value) throw new NotifyUrlError(`missing ${what}; expected ${example}`);
  return value;
}

/** scheme (http/https) from a disabletls flag. */
export function httpScheme(disableTls: boolean): string {
  return disableTls ? 'http' : 'https';
}

/** For keys that ask to skip certificate checks, which Node's fetch cannot do per request. */
export const SKIP_VERIFY_NOTE = (key: string): string =>
  `${key}=yes is not supported: certificates are always verified; to trust a private CA, give its PEM file in NODE_EXTRA_CA_CERTS`;
