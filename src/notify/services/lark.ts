import { createHmac } from 'node:crypto';
import { DeliveryError, jsonOf, postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { splitText, titleOf } from './common.ts';

export interface LarkConfig extends BaseServiceConfig {
  /** open.larksuite.com (Lark) or open.feishu.cn (Feishu). */
  host: string;
  /** The custom bot's hook token (the last part of its webhook URL). */
  token: string;
  /** The bot's signing secret, '' when signing is off. */
  secret: string;
  title: string;
  link: string;
}

const HOSTS = ['open.larksuite.com', 'open.feishu.cn'];
const MAX_BYTES = 4096;
const EXAMPLE = 'lark://open.larksuite.com/TOKEN (the TOKEN of https://open.larksuite.com/open-apis/bot/v2/hook/TOKEN)';

/** Lark's signature: base64 of HMAC-SHA256 keyed by "timestamp\nsecret" over nothing. */
export function larkSign(secret: string, timestamp: number): string {
  return createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64');
}

/** `lark://[open.larksuite.com|open.feishu.cn]/TOKEN?secret=&title=&link=` (the fork's lark). */
export const lark: NotifyService<LarkConfig> = {
  schemes: ['lark'],
  parse(url) {
    const host = url.host || HOSTS[0]!;
    if (!HOSTS.includes(host.toLowerCase())) throw new NotifyUrlError(`host ${host} is not open.larksuite.com or open.feishu.cn`);
    const token = decode(url.pathname.replace(/^\/+|\/+$/g, ''), 'token');
    if (!token) throw new NotifyUrlError(`missing the bot token; expected ${EXAMPLE}`);
    const q = new Query(url);
    const cfg: LarkConfig = { host: host.toLowerCase(), token, secret: q.str('secret'), title: q.str('title'), link: q.str('link'), secrets: [token] };
    if (cfg.secret) cfg.secrets.push(cfg.secret);
    q.finish(['secret', 'title', 'link']);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const url = `https://${cfg.host}/open-apis/bot/v2/hook/${cfg.token}`;
    const title = titleOf(msg, cfg.title);
    // The fork refuses a text over 4096 bytes; offsite sends it in parts.
    for (const part of splitText(msg.message, MAX_BYTES)) {
      const body: Record<string, unknown> = {};
      if (title) {
        const content: unknown[][] = [[{ tag: 'text', text: part }]];
        // the fork reads link= only from per-message parameters, which offsite has not; offsite sends the URL's
        if (cfg.link) content.push([{ tag: 'a', text: 'More Info', href: cfg.link }]);
        body.msg_type = 'post';
        body.content = { post: { en_us: { title, content } } };
      } else {
        body.msg_type = 'text';
        body.content = { text: part };
      }
      if (cfg.secret) {
        const ts = Math.floor(Date.now() / 1000);
        body.timestamp = String(ts);
        body.sign = larkSign(cfg.secret, ts);
      }
      const res = await postJson(ctx, url, body, {}, (s) => s === 200);
      const answer = jsonOf(res);
      if (!answer) throw new DeliveryError(`lark answered something that is not JSON: ${res.text.slice(0, 200)}`);
      if (answer.code !== 0 && answer.code !== undefined)
        throw new DeliveryError(`lark refused the message: code ${String(answer.code)}: ${String(answer.msg ?? '')}`);
    }
  },
};
