import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode, httpScheme } from '../url.ts';
import { iconFields, titleOf } from './common.ts';

export interface MattermostConfig extends BaseServiceConfig {
  host: string;
  token: string;
  channel: string;
  username: string;
  icon: string;
  title: string;
  disableTLS: boolean;
}

export const mattermost: NotifyService<MattermostConfig> = {
  schemes: ['mattermost'],
  parse(url) {
    if (!url.host) throw new NotifyUrlError('missing the server host; expected mattermost://[username@]host/TOKEN[/CHANNEL]');
    const path = url.pathname.replace(/^\/+|\/+$/g, '').split('/');
    const token = decode(path[0] ?? '', 'token');
    if (!token) throw new NotifyUrlError('missing the webhook token; expected mattermost://[username@]host/TOKEN[/CHANNEL]');
    const q = new Query(url);
    const cfg: MattermostConfig = {
      host: url.host,
      token,
      channel: decode(path[1] ?? '', 'channel'),
      username: decode(url.username, 'user name'),
      icon: q.str(['icon', 'icon_emoji', 'icon_url']),
      title: q.str('title'),
      disableTLS: q.bool('disabletls', false),
      secrets: [token],
    };
    q.finish(['icon|icon_emoji|icon_url', 'title', 'disabletls']);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const title = titleOf(msg, cfg.title);
    const payload: Record<string, unknown> = { text: title ? `${title}\n${msg.message}` : msg.message };
    if (cfg.username) payload.username = cfg.username;
    if (cfg.channel) payload.channel = cfg.channel;
    Object.assign(payload, iconFields(cfg.icon));
    await postJson(ctx, `${httpScheme(cfg.disableTLS)}://${cfg.host}/hooks/${cfg.token}`, payload, {}, (s) => s === 200);
  },
};
