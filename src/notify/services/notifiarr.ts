import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { titleOf } from './common.ts';

export interface NotifiarrConfig extends BaseServiceConfig {
  apiKey: string;
  /** The app name Notifiarr shows [Shoutrrr]. */
  name: string;
  /** Discord channel id, or undefined. */
  channel: number | undefined;
  thumbnail: string;
  image: string;
  color: string;
}

export const NOTIFIARR_BASE = 'https://notifiarr.com/api/v1/notification/passthrough';

/** The first user (`<@123>`, `<@!123>`) and role (`<@&123>`) mentioned in the text. */
function pings(text: string): { pingUser?: number; pingRole?: number } {
  const out: { pingUser?: number; pingRole?: number } = {};
  for (const m of text.matchAll(/<@!?(\d+)>|<@&(\d+)>/g)) {
    if (m[1] && out.pingUser === undefined) out.pingUser = Number(m[1]);
    if (m[2] && out.pingRole === undefined) out.pingRole = Number(m[2]);
  }
  return out;
}

/** `notifiarr://APIKEY?name=&channel=&thumbnail=&image=&color=` (the fork's notifiarr passthrough). */
export const notifiarr: NotifyService<NotifiarrConfig> = {
  schemes: ['notifiarr'],
  parse(url) {
    const q = new Query(url, true);
    const apiKey = q.str('apikey', decode(url.host, 'API key'));
    if (!apiKey) throw new NotifyUrlError('missing the API key; expected notifiarr://APIKEY');
    const channelRaw = q.str('channel');
    if (channelRaw && !/^[+-]?\d+$/.test(channelRaw)) throw new NotifyUrlError(`channel=${channelRaw} is not a Discord channel id (a number)`);
    // Other query keys are ignored, as the fork's notifiarr does.
    return {
      apiKey,
      name: q.str('name', 'Shoutrrr'),
      channel: channelRaw ? Number(channelRaw) : undefined,
      thumbnail: q.str('thumbnail'),
      image: q.str('image'),
      color: q.str('color'),
      secrets: [apiKey],
    };
  },

  async send(cfg, msg, ctx) {
    const title = titleOf(msg, '');
    const discord: Record<string, unknown> = {};
    if (cfg.color) discord.color = cfg.color;
    const ping = pings(msg.message);
    if (ping.pingUser !== undefined || ping.pingRole !== undefined) discord.ping = ping;
    if (cfg.thumbnail || cfg.image) {
      const images: Record<string, string> = {};
      if (cfg.thumbnail) images.thumbnail = cfg.thumbnail;
      if (cfg.image) images.image = cfg.image;
      discord.images = images;
    }
    const text: Record<string, string> = {};
    if (title) text.title = title;
    if (msg.message) text.description = msg.message;
    discord.text = text;
    if (cfg.channel !== undefined) discord.ids = { channel: cfg.channel };
    const body = { notification: { name: cfg.name }, discord };
    await postJson(ctx, `${NOTIFIARR_BASE}/${encodeURIComponent(cfg.apiKey)}`, body, { Accept: 'application/json' });
  },
};
