import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, SKIP_VERIFY_NOTE, decode, httpScheme } from '../url.ts';
import { titleOf } from './common.ts';

export interface GotifyConfig extends BaseServiceConfig {
  host: string;
  /** Sub-path before the token, without trailing slash ('' or '/gotify'). */
  path: string;
  token: string;
  priority: number;
  title: string;
  disableTLS: boolean;
  useHeader: boolean;
  extras: Record<string, unknown> | null;
  /** `date=` normalised to RFC 3339 UTC (whole seconds), or ''. */
  date: string;
}

const TOKEN_CHARS = /^[A-Za-z0-9._-]+$/;
const KEYS = ['priority', 'title', 'disabletls', 'insecureskipverify', 'useheader', 'extras', 'date'];

/** Gotify < 3: 15 characters starting with A; Gotify 3+: `gtfy<x>.` and at least 49 characters. */
function validToken(t: string): boolean {
  if (t.length >= 6 && t.startsWith('gtfy') && t[4] !== '.' && t[5] === '.') return t.length >= 49;
  return t.length === 15 && t[0] === 'A' && TOKEN_CHARS.test(t);
}

export const gotify: NotifyService<GotifyConfig> = {
  schemes: ['gotify'],
  parse(url) {
    if (!url.host) throw new NotifyUrlError('missing the server host; expected gotify://host/TOKEN');
    const path = url.pathname.replace(/\/$/, '');
    const idx = path.lastIndexOf('/');
    const token = decode(path.slice(idx + 1), 'token');
    const sub = path.slice(0, Math.max(0, idx));
    if (!token) throw new NotifyUrlError('missing the application token; expected gotify://host/TOKEN');
    if (!validToken(token))
      throw new NotifyUrlError('invalid application token; expected 15 characters starting with A (or a Gotify 3 token starting with gtfy)');
    const q = new Query(url);
    const extrasRaw = q.str('extras');
    let extras: Record<string, unknown> | null = null;
    if (extrasRaw) {
      try {
        const v = JSON.parse(extrasRaw) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        extras = v as Record<string, unknown>;
      } catch {
        throw new NotifyUrlError('extras= is not a JSON object');
      }
    }
    const cfg: GotifyConfig = {
      host: url.host,
      path: sub,
      token,
      priority: q.int('priority', 0, -2, 10),
      title: q.str('title', 'Shoutrrr notification'),
      disableTLS: q.bool('disabletls', false),
      useHeader: q.bool('useheader', false),
      extras,
      date: gotifyDate(q.str('date')),
      secrets: [token],
    };
    if (q.bool('insecureskipverify', false)) cfg.notes = [SKIP_VERIFY_NOTE('insecureskipverify')];
    q.finish(KEYS);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    let url = `${httpScheme(cfg.disableTLS)}://${cfg.host}${cfg.path}/message`;
    const headers: Record<string, string> = {};
    if (cfg.useHeader) headers['X-Gotify-Key'] = cfg.token;
    else url += `?${new URLSearchParams({ token: cfg.token })}`;
    const body: Record<string, unknown> = { message: msg.message, title: titleOf(msg, cfg.title), priority: cfg.priority };
    if (cfg.date) body.date = cfg.date;
    // the fork's payload always carries extras (null when none are set)
    body.extras = cfg.extras;
    await postJson(ctx, url, body, headers);
  },
};

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * `date=` as the fork reads it: RFC 3339, `YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DD HH:MM:SS`
 * (UTC), or Unix seconds; sent as RFC 3339 in UTC. The fork drops an unreadable date
 * with a log line; offsite refuses it at start.
 */
export function gotifyDate(v: string): string {
  const s = v.trim();
  if (!s) return '';
  let ms: number | undefined;
  if (/^[+-]?\d+$/.test(s)) ms = parseInt(s, 10) * 1000;
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(s)) ms = Date.parse(s);
  else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}$/.test(s)) ms = Date.parse(`${s.replace(' ', 'T')}Z`);
  if (ms === undefined || Number.isNaN(ms)) {
    throw new NotifyUrlError(`date=${v} is not a date; expected RFC 3339 (2026-03-01T02:00:00Z), "2026-03-01 02:00:00" (UTC) or Unix seconds`);
  }
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}
