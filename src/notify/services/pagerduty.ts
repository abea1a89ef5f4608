import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';

interface PdContext {
  type: 'link' | 'image';
  href?: string;
  src?: string;
  text?: string;
}

export interface PagerdutyConfig extends BaseServiceConfig {
  host: string;
  port: number;
  integrationKey: string;
  severity: 'critical' | 'error' | 'warning' | 'info';
  source: string;
  action: 'trigger' | 'acknowledge' | 'resolve';
  dedupKey: string;
  /** details= parsed from JSON, or undefined. */
  details: unknown;
  contexts: PdContext[];
  client: string;
  clientUrl: string;
}

const KEY = /^[a-fA-F0-9]{32}$/;
const MAX_SUMMARY = 1024;
const KEYS = ['severity', 'source', 'action', 'dedup_key', 'details', 'contexts', 'client', 'client_url'];

/** contexts=: a JSON list of {type, href|src, text}, or `link:URL,image:URL` (`text:...` entries are skipped). */
function parseContexts(v: string): PdContext[] {
  if (!v) return [];
  let list: unknown;
  try {
    list = JSON.parse(v);
  } catch {
    list = undefined;
  }
  if (Array.isArray(list)) {
    return list.map((c: Record<string, unknown>) => {
      const type = String(c?.type ?? '');
      if (type !== 'link' && type !== 'image') throw new NotifyUrlError(`contexts: type "${type}" is not link or image`);
      if (type === 'link' && !c.href) throw new NotifyUrlError('contexts: a link needs href');
      if (type === 'image' && !c.src) throw new NotifyUrlError('contexts: an image needs src');
      const out: PdContext = { type };
      for (const k of ['href', 'src', 'text'] as const) if (typeof c[k] === 'string' && c[k]) out[k] = c[k];
      return out;
    });
  }
  const out: PdContext[] = [];
  for (const raw of v.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    const i = item.indexOf(':');
    const type = i > 0 ? item.slice(0, i).trim() : '';
    const value = i > 0 ? item.slice(i + 1).trim() : '';
    if (!type || !value) throw new NotifyUrlError(`contexts: "${item}" is not type:value (link:https://..., image:https://...)`);
    if (type === 'link') out.push({ type, href: value });
    else if (type === 'image') out.push({ type, src: value });
    else if (type !== 'text') throw new NotifyUrlError(`contexts: type "${type}" is not link or image`);
  }
  return out;
}

/** `pagerduty://[host[:port]]/INTEGRATIONKEY?severity=error&source=default&action=trigger...` (Events API v2). */
export const pagerduty: NotifyService<PagerdutyConfig> = {
  schemes: ['pagerduty'],
  parse(url) {
    const integrationKey = decode(url.pathname.replace(/^\//, ''), 'integration key');
    if (!integrationKey) throw new NotifyUrlError('missing the integration key; expected pagerduty:///INTEGRATIONKEY (32 hex characters)');
    if (!KEY.test(integrationKey)) throw new NotifyUrlError('the integration key is not 32 hexadecimal characters');
    const q = new Query(url);
    const detailsRaw = q.str('details');
    let details: unknown;
    if (detailsRaw) {
      try {
        details = JSON.parse(detailsRaw);
      } catch {
        throw new NotifyUrlError('details= is not JSON');
      }
    }
    const cfg: PagerdutyConfig = {
      host: url.hostname || 'events.pagerduty.com',
      port: url.port ? parseInt(url.port, 10) : 443,
      integrationKey,
      severity: q.choice('severity', ['critical', 'error', 'warning', 'info'] as const, 'error'),
      source: q.str('source', 'default'),
      action: q.choice('action', ['trigger', 'acknowledge', 'resolve'] as const, 'trigger'),
      dedupKey: q.str('dedup_key'),
      details,
      contexts: parseContexts(q.str('contexts')),
      client: q.str('client'),
      clientUrl: q.str('client_url'),
      secrets: [integrationKey],
    };
    q.finish(KEYS);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    // the summary is the text, cut at 1024 characters; the title is dropped (the fork has no title)
    const summary = Array.from(msg.message).slice(0, MAX_SUMMARY).join('');
    const body: Record<string, unknown> = {
      payload: { summary, severity: cfg.severity, source: cfg.source },
      routing_key: cfg.integrationKey,
      event_action: cfg.action,
    };
    if (cfg.dedupKey) body.dedup_key = cfg.dedupKey;
    if (cfg.details !== undefined && cfg.details !== null) body.details = cfg.details;
    if (cfg.contexts.length > 0) body.contexts = cfg.contexts;
    if (cfg.client) body.client = cfg.client;
    if (cfg.clientUrl) body.client_url = cfg.clientUrl;
    await postJson(ctx, `https://${cfg.host}:${cfg.port}/v2/enqueue`, body);
  },
};
