import { postJson, request } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode, parseHexColor } from '../url.ts';
import { titleOf } from './common.ts';

export interface DiscordConfig extends BaseServiceConfig {
  webhookId: string;
  token: string;
  title: string;
  username: string;
  avatar: string;
  color: number;
  colorError: number;
  colorWarn: number;
  colorInfo: number;
  colorDebug: number;
  splitLines: boolean;
  json: boolean;
  threadId: string;
}

export const HOOKS_BASE = 'https://discord.com/api/webhooks';
const CHUNK_SIZE = 2000;
const TOTAL_CHUNK_SIZE = 6000;
const CHUNK_COUNT = 10;
const MAX_SEARCH_RUNES = 100;
const ELLIPSIS = ' [...]';
const KEYS = ['title', 'username', 'avatar|avatarurl', 'color', 'colorError', 'colorWarn', 'colorInfo', 'colorDebug', 'splitLines', 'json', 'thread_id'];

export const discord: NotifyService<DiscordConfig> = {
  schemes: ['discord'],
  parse(url) {
    const token = decode(url.username, 'token').trim();
    const webhookId = decode(url.host).trim();
    if (url.pathname !== '' && url.pathname !== '/' && url.pathname !== '/raw') {
      throw new NotifyUrlError(`unexpected path ${url.pathname}; only /raw is allowed`);
    }
    if (!webhookId) throw new NotifyUrlError('missing the webhook id; expected discord://TOKEN@WEBHOOKID');
    if (!token) throw new NotifyUrlError('missing the token; expected discord://TOKEN@WEBHOOKID');
    const q = new Query(url);
    const color = (k: string, def: number) => {
      const v = q.str(k);
      return v ? parseHexColor(k, v) : def;
    };
    const cfg: DiscordConfig = {
      webhookId,
      token,
      title: q.str('title'),
      username: q.str('username'),
      avatar: q.str(['avatar', 'avatarurl']),
      color: color('color', 0x50d9ff),
      colorError: color('colorError', 0xd60510),
      colorWarn: color('colorWarn', 0xffc441),
      colorInfo: color('colorInfo', 0x2488ff),
      colorDebug: color('colorDebug', 0x7b00ab),
      splitLines: q.bool('splitLines', true),
      json: url.pathname === '/raw' || q.bool('json', false),
      threadId: q.str('thread_id').trim(),
      secrets: [token],
    };
    q.finish(KEYS);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    let url = `${HOOKS_BASE}/${cfg.webhookId}/${cfg.token}`;
    if (cfg.threadId) url += `?${new URLSearchParams({ thread_id: cfg.threadId })}`;
    if (cfg.json) {
      await request(ctx, url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: msg.message });
      return;
    }
    const title = titleOf(msg, cfg.title);
    for (const batch of batchesOf(msg.message, cfg.splitLines)) {
      await postJson(ctx, url, payloadOf(batch, title, cfg));
    }
  },
};

/** Items per request, within Discord's limits (2000 runes a text, 10 embeds, 6000 runes a request). */
export function batchesOf(plain: string, splitLines: boolean): string[][] {
  if (splitLines) return itemsFromLines(plain);
  const batches: string[][] = [];
  let rest = Array.from(plain);
  while (rest.length > 0) {
    const { items, consumed } = partition(rest);
    batches.push(items);
    rest = rest.slice(consumed);
  }
  return batches;
}

function itemsFromLines(plain: string): string[][] {
  const batches: string[][] = [];
  let items: string[] = [];
  let total = 0;
  for (let line of plain.split('\n')) {
    let runes = Array.from(line);
    if (runes.length > CHUNK_SIZE) {
      runes = runes.slice(0, CHUNK_SIZE - ELLIPSIS.length);
      line = runes.join('') + ELLIPSIS;
    }
    if (runes.length < 1) continue;
    const len = Array.from(line).length;
    if (items.length === CHUNK_COUNT || total + len > TOTAL_CHUNK_SIZE) {
      batches.push(items);
      items = [];
      total = 0;
    }
    items.push(line);
    total += len;
  }
  if (items.length > 0) batches.push(items);
  return batches;
}

/** shoutrrr's PartitionMessage: chunks of <= 2000 runes split at a nearby space or newline. */
function partition(runes: string[]): { items: string[]; consumed: number } {
  const items: string[] = [];
  const maxTotal = Math.min(runes.length, TOTAL_CHUNK_SIZE);
  let offset = 0;
  for (let i = 0; i < CHUNK_COUNT - 1; i++) {
    let end = offset + CHUNK_SIZE;
    let next = end;
    if (end >= maxTotal) {
      end = maxTotal;
      next = maxTotal;
    } else {
      for (let r = 0; r < MAX_SEARCH_RUNES; r++) {
        const rp = end - r;
        if (runes[rp] === '\n' || runes[rp] === ' ') {
          end = rp;
          next = rp + 1;
          break;
        }
      }
    }
    items.push(runes.slice(offset, end).join(''));
    offset = next;
    if (offset >= maxTotal) break;
  }
  return { items, consumed: offset };
}

function payloadOf(items: string[], title: string, cfg: DiscordConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (items.length === 1 && !title) {
    out.content = items[0];
  } else {
    const embeds = items.slice(0, CHUNK_COUNT).map((text, i) => {
      const e: Record<string, unknown> = {};
      if (i === 0 && title) e.title = title;
      if (text) e.description = text;
      if (cfg.color) e.color = cfg.color;
      return e;
    });
    out.embeds = embeds;
  }
  if (cfg.username) out.username = cfg.username;
  if (cfg.avatar) out.avatar_url = cfg.avatar;
  return out;
}
