import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';

export interface GooglechatConfig extends BaseServiceConfig {
  /** The https webhook URL. */
  url: string;
}

export const googlechat: NotifyService<GooglechatConfig> = {
  schemes: ['googlechat', 'hangouts'],
  parse(url) {
    if (!url.host) throw new NotifyUrlError('missing the host; expected googlechat://chat.googleapis.com/v1/spaces/FOO/messages?key=K&token=T');
    if (!url.pathname || url.pathname === '/')
      throw new NotifyUrlError('missing the webhook path; expected googlechat://chat.googleapis.com/v1/spaces/FOO/messages?key=K&token=T');
    const key = url.searchParams.get('key') ?? '';
    const token = url.searchParams.get('token') ?? '';
    if (!key || !token) throw new NotifyUrlError('missing key= or token= (copy them from the webhook URL Google Chat gave you)');
    // every query parameter belongs to the webhook URL
    return { url: `https://${url.host}${url.pathname}${url.search}`, secrets: [key, token] };
  },

  async send(cfg, msg, ctx) {
    // Google Chat drops the title (shoutrrr sends the message only).
    await postJson(ctx, cfg.url, { text: msg.message });
  },
};
