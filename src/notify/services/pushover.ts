import { postForm } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { titleOf } from './common.ts';

export interface PushoverConfig extends BaseServiceConfig {
  token: string;
  user: string;
  devices: string[];
  priority: number;
  title: string;
}

export const PUSHOVER_URL = 'https://api.pushover.net/1/messages.json';

export const pushover: NotifyService<PushoverConfig> = {
  schemes: ['pushover'],
  parse(url) {
    const token = decode(url.password, 'token');
    const user = decode(url.host, 'user key');
    if (!user) throw new NotifyUrlError('missing the user key; expected pushover://shoutrrr:APITOKEN@USERKEY');
    if (!token) throw new NotifyUrlError('missing the API token; expected pushover://shoutrrr:APITOKEN@USERKEY');
    const q = new Query(url);
    const cfg: PushoverConfig = {
      token,
      user,
      devices: q.list('devices'),
      priority: q.int('priority', 0, -2, 1),
      title: q.str('title'),
      secrets: [token, user],
    };
    q.finish(['devices', 'priority', 'title']);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const form: Record<string, string> = { device: cfg.devices.join(','), message: msg.message, priority: String(cfg.priority) };
    const title = titleOf(msg, cfg.title);
    if (title) form.title = title;
    form.token = cfg.token;
    form.user = cfg.user;
    await postForm(ctx, PUSHOVER_URL, form, {}, (s) => s === 200);
  },
};
