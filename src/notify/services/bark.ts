import { DeliveryError, jsonOf, postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { omitEmpty, titleOf } from './common.ts';

export interface BarkConfig extends BaseServiceConfig {
  host: string;
  path: string;
  deviceKey: string;
  scheme: string;
  title: string;
  sound: string;
  badge: number;
  icon: string;
  group: string;
  url: string;
  category: string;
  copy: string;
}

export const bark: NotifyService<BarkConfig> = {
  schemes: ['bark'],
  parse(url) {
    const deviceKey = decode(url.password, 'device key');
    if (!deviceKey) throw new NotifyUrlError('missing the device key; expected bark://:DEVICEKEY@host');
    if (!url.host) throw new NotifyUrlError('missing the server host; expected bark://:DEVICEKEY@host');
    const q = new Query(url);
    const scheme = q.str('scheme', 'https').toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') throw new NotifyUrlError(`scheme=${scheme} is not http or https`);
    const cfg: BarkConfig = {
      host: url.host,
      path: url.pathname.replace(/\/+$/, ''),
      deviceKey,
      scheme,
      title: q.str('title'),
      sound: q.str('sound'),
      badge: q.int('badge', 0, 0),
      icon: q.str('icon'),
      group: q.str('group'),
      url: q.str('url'),
      category: q.str('category'),
      copy: q.str('copy'),
      secrets: [deviceKey],
    };
    q.finish(['title', 'scheme', 'sound', 'badge', 'icon', 'group', 'url', 'category', 'copy']);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const payload = {
      body: msg.message,
      device_key: cfg.deviceKey,
      title: titleOf(msg, cfg.title),
      ...omitEmpty({ sound: cfg.sound }),
      badge: cfg.badge,
      ...omitEmpty({ icon: cfg.icon, group: cfg.group, url: cfg.url, category: cfg.category, copy: cfg.copy }),
    };
    const res = await postJson(ctx, `${cfg.scheme}://${cfg.host}${cfg.path}/push`, payload);
    const body = jsonOf(res);
    if (!body || body.code !== 200) throw new DeliveryError(`bark refused the message: ${String(body?.message ?? res.text.slice(0, 200))}`);
  },
};
