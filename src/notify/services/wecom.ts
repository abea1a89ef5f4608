import { DeliveryError, jsonOf, postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { splitText } from './common.ts';

export interface WecomConfig extends BaseServiceConfig {
  /** The group robot's webhook key. */
  key: string;
  mentionedList: string[];
  mentionedMobileList: string[];
}

export const WECOM_URL = 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send';
const MAX_BYTES = 4096;

/** `wecom://KEY?mentioned_list=a,b&mentioned_mobile_list=...` (the fork's wecom). */
export const wecom: NotifyService<WecomConfig> = {
  schemes: ['wecom'],
  parse(url) {
    const key = decode(url.host, 'webhook key');
    if (!key) throw new NotifyUrlError('missing the webhook key; expected wecom://KEY (the key= of https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY)');
    if (/[@!#$%^&*()+=[\]{}|\\:;"'<>?,./]/.test(key)) throw new NotifyUrlError('the webhook key has characters a WeCom key never has');
    const q = new Query(url);
    const cfg: WecomConfig = { key, mentionedList: q.list('mentioned_list'), mentionedMobileList: q.list('mentioned_mobile_list'), secrets: [key] };
    q.finish(['mentioned_list', 'mentioned_mobile_list']);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const url = `${WECOM_URL}?${new URLSearchParams({ key: cfg.key })}`;
    // The title is dropped (the fork's wecom has no title). The fork refuses a text over
    // 4096 bytes; offsite sends it in parts.
    for (const part of splitText(msg.message, MAX_BYTES)) {
      const text: Record<string, unknown> = { content: part };
      // the fork sends each list as one string; WeCom wants one entry per user
      if (cfg.mentionedList.length > 0) text.mentioned_list = cfg.mentionedList;
      if (cfg.mentionedMobileList.length > 0) text.mentioned_mobile_list = cfg.mentionedMobileList;
      const res = await postJson(ctx, url, { msgtype: 'text', text }, {}, (s) => s === 200);
      const answer = jsonOf(res);
      if (!answer) throw new DeliveryError(`wecom answered something that is not JSON: ${res.text.slice(0, 200)}`);
      if (answer.errcode !== 0 && answer.errcode !== undefined)
        throw new DeliveryError(`wecom refused the message: error ${String(answer.errcode)}: ${String(answer.errmsg ?? '')}`);
    }
  },
};
