import { DeliveryError, jsonOf, postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { iconFields, titleOf } from './common.ts';

export interface SlackConfig extends BaseServiceConfig {
  /** `hook`, `xoxb`, `xoxp`, ... */
  tokenType: string;
  parts: [string, string, string];
  /** Channel id, or `webhook`. */
  channel: string;
  botName: string;
  icon: string;
  color: string;
  title: string;
  threadTs: string;
}

const TOKEN = /(?:(xox.|hook)[-:]|:?)([A-Z0-9]{9,})([-/,])([A-Z0-9]{9,})([-/,])([A-Za-z0-9]{24,})/;
const KEYS = ['botname|username', 'icon|icon_emoji|icon_url', 'color', 'title', 'thread_ts'];
const MAX_ATTACHMENTS = 100;

export const WEBHOOK_BASE = 'https://hooks.slack.com/services/';
export const API_POST_MESSAGE = 'https://slack.com/api/chat.postMessage';

export const slack: NotifyService<SlackConfig> = {
  schemes: ['slack'],
  parse(url) {
    let token: string;
    let channel: string;
    let botName = '';
    const path = decode(url.pathname, 'path');
    if (path.length > 1) {
      // legacy form: slack://[botname@]TA/TB/TC
      token = decode(url.hostname) + path;
      channel = 'webhook';
      botName = decode(url.username, 'user name');
    } else {
      token = url.password ? `${decode(url.username)}:${decode(url.password)}` : decode(url.username);
      channel = decode(url.hostname);
    }
    const m = TOKEN.exec(token);
    if (!m) throw new NotifyUrlError('invalid token; expected slack://hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCCCCCCCCCCCCCCCCCC@webhook or slack://xoxb:TOKEN@CHANNEL');
    if (m[3] !== m[5]) throw new NotifyUrlError('invalid token: its three parts are separated by different characters');
    if (!channel) throw new NotifyUrlError('missing the channel (the URL host); expected @webhook or a channel id such as @C0123456789');
    const q = new Query(url);
    const cfg: SlackConfig = {
      tokenType: m[1] || 'hook',
      parts: [m[2]!, m[4]!, m[6]!],
      channel,
      botName: q.str(['botname', 'username'], botName),
      icon: q.str(['icon', 'icon_emoji', 'icon_url']),
      color: q.str('color'),
      title: q.str('title'),
      threadTs: q.str('thread_ts'),
      secrets: [m[2]!, m[4]!, m[6]!, `${m[2]}-${m[4]}-${m[6]}`],
    };
    q.finish(KEYS);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const lines = msg.message.split('\n');
    const attachments: { text: string; color?: string }[] = [];
    lines.forEach((line, i) => {
      if (i >= MAX_ATTACHMENTS) {
        attachments[MAX_ATTACHMENTS - 1]!.text += `\n${line}`;
        return;
      }
      attachments.push(cfg.color ? { text: line, color: cfg.color } : { text: line });
    });
    if (attachments.length > 0 && attachments[attachments.length - 1]!.text === '') attachments.pop();
    const payload: Record<string, unknown> = { text: titleOf(msg, cfg.title) };
    if (cfg.botName) payload.username = cfg.botName;
    if (attachments.length) payload.attachments = attachments;
    if (cfg.threadTs) payload.thread_ts = cfg.threadTs;
    if (cfg.channel !== 'webhook') payload.channel = cfg.channel;
    Object.assign(payload, iconFields(cfg.icon));

    if (cfg.tokenType !== 'hook') {
      const res = await postJson(ctx, API_POST_MESSAGE, payload, { Authorization: `Bearer ${cfg.tokenType}-${cfg.parts.join('-')}` });
      const body = jsonOf(res);
      if (!body || body.ok !== true)
        throw new DeliveryError(`slack API refused the message: ${String(body?.error ?? (res.text.slice(0, 200) || 'no answer body'))}`);
      return;
    }
    const res = await postJson(ctx, `${WEBHOOK_BASE}${cfg.parts.join('/')}`, payload);
    if (res.text === '' ? res.status !== 200 : res.text !== 'ok') {
      throw new DeliveryError(`slack webhook answered HTTP ${res.status}: ${res.text.slice(0, 200)}`);
    }
  },
};
