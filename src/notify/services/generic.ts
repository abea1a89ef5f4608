import { request } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { parseBool } from '../url.ts';
import { titleOf } from './common.ts';

export interface GenericConfig extends BaseServiceConfig {
  /** Target URL (scheme resolved, service keys removed). */
  target: string;
  contentType: string;
  /** '' = the raw message as the body; 'json' = a JSON object. */
  template: '' | 'json';
  title: string;
  titleKey: string;
  messageKey: string;
  method: string;
  headers: Record<string, string>;
  extras: Record<string, string>;
}

/** The service's own keys (exact, lower case); `__key` escapes a target-URL parameter of the same name. */
const CONFIG_KEYS = ['contenttype', 'disabletls', 'template', 'title', 'titlekey', 'messagekey', 'method'];

/** `XApiKey` / `x-api-key` -> `X-Api-Key`, as shoutrrr normalizes @header keys. */
export function normalizedHeaderKey(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    let c = key[i]!;
    if (c >= 'A' && c <= 'Z') {
      if (i > 0 && key[i - 1] !== '-') out += '-';
    } else if ((i === 0 || key[i - 1] === '-') && c >= 'a' && c <= 'z') {
      c = c.toUpperCase();
    }
    out += c;
  }
  return out;
}

export const generic: NotifyService<GenericConfig> = {
  schemes: ['generic', 'generic+http', 'generic+https'],
  parse(url) {
    const scheme = url.protocol.replace(/:$/, '').toLowerCase();
    if (!url.host) throw new NotifyUrlError('missing the host; expected generic://host/path or generic+https://host/path');
    const headers: Record<string, string> = {};
    const extras: Record<string, string> = {};
    const conf: Record<string, string> = {};
    const rest = new URLSearchParams();
    for (const [k, v] of url.searchParams) {
      if (k.startsWith('@') && k.length > 1) {
        if (!(normalizedHeaderKey(k.slice(1)) in headers)) headers[normalizedHeaderKey(k.slice(1))] = v;
        continue;
      }
      if (k.startsWith('$') && k.length > 1) {
        if (!(k.slice(1) in extras)) extras[k.slice(1)] = v;
        continue;
      }
      if (CONFIG_KEYS.includes(k)) {
        if (!(k in conf)) conf[k] = v;
        continue;
      }
      if (k.startsWith('__') && CONFIG_KEYS.includes(k.slice(2))) {
        rest.append(k.slice(2), v);
        continue;
      }
      rest.append(k, v);
    }
    const template = (conf.template ?? '').toLowerCase();
    if (template !== '' && template !== 'json')
      throw new NotifyUrlError(`template=${conf.template} is not supported; use template=json or leave it out for the raw message`);
    const method = (conf.method ?? 'POST').toUpperCase();
    if (!/^[A-Z]+$/.test(method)) throw new NotifyUrlError(`method=${conf.method} is not an HTTP method`);
    let targetScheme = 'https';
    if (scheme === 'generic+http') targetScheme = 'http';
    else if (scheme === 'generic' && conf.disabletls !== undefined && conf.disabletls !== '' && parseBool('disabletls', conf.disabletls)) targetScheme = 'http';
    rest.sort();
    const query = rest.toString();
    const target = `${targetScheme}://${url.host}${url.pathname || '/'}${query ? `?${query}` : ''}`;
    const secrets: string[] = [];
    if (url.password) secrets.push(decodeURIComponent(url.password));
    for (const [k, v] of Object.entries(headers)) if (/auth|token|key|secret|pass/i.test(k) && v) secrets.push(v.replace(/^(Bearer|Basic|Token)\s+/i, ''), v);
    for (const [k, v] of rest) if (/token|key|secret|pass|sig/i.test(k) && v) secrets.push(v);
    // webhook ids in the path (Home Assistant, n8n, ...) are secrets too: long segments with digits,
    // very long segments, and whatever follows a hook/webhook/token/key segment
    const segs = url.pathname.split('/');
    segs.forEach((seg, i) => {
      if (seg.length < 4) return;
      const after = i > 0 && /^(?:web)?hooks?$|^tokens?$|^keys?$|^secrets?$|^t$|^k$/i.test(segs[i - 1]!);
      if (after || (/^[A-Za-z0-9_.~%-]{16,}$/.test(seg) && /\d/.test(seg)) || seg.length >= 24) {
        secrets.push(seg);
        try {
          const d = decodeURIComponent(seg);
          if (d !== seg) secrets.push(d);
        } catch {
          /* keep */
        }
      }
    });
    return {
      target,
      contentType: conf.contenttype || 'application/json',
      template,
      title: conf.title ?? '',
      titleKey: conf.titlekey || 'title',
      messageKey: conf.messagekey || 'message',
      method,
      headers,
      extras,
      secrets,
    };
  },

  async send(cfg, msg, ctx) {
    let body: string;
    let contentType = cfg.contentType;
    if (cfg.template === 'json') {
      const obj: Record<string, string> = {};
      const title = titleOf(msg, cfg.title);
      if (title) obj[cfg.titleKey] = title;
      obj[cfg.messageKey] = msg.message;
      Object.assign(obj, cfg.extras);
      body = JSON.stringify(Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
    } else {
      body = msg.message;
      contentType = 'text/plain';
    }
    const headers: Record<string, string> = { 'Content-Type': contentType, Accept: contentType, ...cfg.headers };
    const hasBody = cfg.method !== 'GET' && cfg.method !== 'HEAD';
    await request(ctx, cfg.target, { method: cfg.method, headers, body: hasBody ? body : undefined, ok: (s) => s < 400 });
  },
};
