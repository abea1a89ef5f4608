import { request } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { titleOf } from './common.ts';

export interface JoinConfig extends BaseServiceConfig {
  apiKey: string;
  devices: string[];
  title: string;
  icon: string;
}

export const JOIN_URL = 'https://joinjoaomgcd.appspot.com/_ah/api/messaging/v1/sendPush';

export const join: NotifyService<JoinConfig> = {
  schemes: ['join'],
  parse(url) {
    const apiKey = decode(url.password, 'API key');
    if (!apiKey) throw new NotifyUrlError('missing the API key; expected join://shoutrrr:APIKEY@join/?devices=d1,d2');
    const q = new Query(url);
    const cfg: JoinConfig = { apiKey, devices: q.list('devices'), title: q.str('title'), icon: q.str('icon'), secrets: [apiKey] };
    q.finish(['devices', 'title', 'icon']);
    if (cfg.devices.length === 0) throw new NotifyUrlError('missing devices=; expected devices=d1,d2');
    return cfg;
  },

  async send(cfg, msg, ctx) {
    // as the fork (Go sorts the query keys): the icon goes with a title only, empty when unset
    const params = new URLSearchParams();
    params.set('apikey', cfg.apiKey);
    params.set('deviceIds', cfg.devices.join(','));
    const title = titleOf(msg, cfg.title);
    if (title) params.set('icon', cfg.icon);
    params.set('text', msg.message);
    if (title) params.set('title', title);
    // an empty body, labelled text/plain as the fork does
    await request(ctx, `${JOIN_URL}?${params}`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, ok: (s) => s === 200 });
  },
};
