import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { titleOf } from './common.ts';

export interface IftttConfig extends BaseServiceConfig {
  key: string;
  events: string[];
  values: [string, string, string];
  /** Which value (1-3) carries the message; 0 = none. */
  messageValue: number;
  /** Which value (1-3) carries the title; 0 = none. */
  titleValue: number;
  title: string;
}

export const IFTTT_BASE = 'https://maker.ifttt.com/trigger';

export const ifttt: NotifyService<IftttConfig> = {
  schemes: ['ifttt'],
  parse(url) {
    const key = decode(url.host, 'webhook key');
    if (!key) throw new NotifyUrlError('missing the webhook key; expected ifttt://KEY/?events=event1,event2');
    const q = new Query(url);
    const cfg: IftttConfig = {
      key,
      events: q.list('events'),
      values: [q.str('value1'), q.str('value2'), q.str('value3')],
      messageValue: q.int('messagevalue', 2, 0, 3),
      titleValue: q.int('titlevalue', 0, 0, 3),
      title: q.str('title'),
      secrets: [key],
    };
    q.finish(['events', 'value1', 'value2', 'value3', 'messagevalue', 'titlevalue', 'title']);
    if (cfg.events.length === 0) throw new NotifyUrlError('missing events=; expected events=event1,event2');
    if (cfg.messageValue !== 0 && cfg.messageValue === cfg.titleValue) throw new NotifyUrlError('messagevalue and titlevalue name the same value');
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const values = [...cfg.values];
    if (cfg.messageValue > 0) values[cfg.messageValue - 1] = msg.message;
    const title = titleOf(msg, cfg.title);
    if (cfg.titleValue > 0) values[cfg.titleValue - 1] = title;
    const payload = { value1: values[0], value2: values[1], value3: values[2] };
    for (const event of cfg.events) {
      await postJson(ctx, `${IFTTT_BASE}/${encodeURIComponent(event)}/with/key/${cfg.key}`, payload);
    }
  },
};
