import { basicAuth, jsonOf, postForm, request } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService, type SendContext } from '../types.ts';
import { Query, userinfo } from '../url.ts';
import { runeCount, splitText, titleOf } from './common.ts';

export interface ZulipConfig extends BaseServiceConfig {
  botMail: string;
  botKey: string;
  host: string;
  /** `channel` (a stream and topic) or `direct` (users in `to`). */
  type: 'channel' | 'direct';
  stream: string;
  topic: string;
  title: string;
  /** Direct-message recipients (user ids or e-mails). */
  to: string[];
  readBySender: boolean;
}

/** Zulip's defaults, used when /api/v1/register does not tell the server's own. */
const TOPIC_MAX = 60;
const CONTENT_MAX = 10000;
const EXAMPLE = 'zulip://bot%40example.com:APIKEY@host?stream=...';

/**
 * The server's limits, as the fork learns them: POST /api/v1/register with
 * fetch_event_types=["realm"]. Best effort: one try, any failure keeps the defaults.
 */
async function limits(cfg: ZulipConfig, ctx: SendContext): Promise<{ topic: number; content: number }> {
  const out = { topic: TOPIC_MAX, content: CONTENT_MAX };
  try {
    const res = await request({ ...ctx, retry: { ...ctx.retry, attempts: 1 } }, `https://${cfg.host}/api/v1/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicAuth(cfg.botMail, cfg.botKey) },
      body: new URLSearchParams({ fetch_event_types: '["realm"]' }).toString(),
      ok: (s) => s === 200,
    });
    const body = jsonOf(res);
    if (typeof body?.max_topic_length === 'number' && body.max_topic_length > 0) out.topic = body.max_topic_length;
    if (typeof body?.max_message_length === 'number' && body.max_message_length > 0) out.content = body.max_message_length;
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    ctx.log.debug({ host: cfg.host }, `zulip: could not read the server's limits, using ${TOPIC_MAX}/${CONTENT_MAX}: ${(err as Error).message}`);
  }
  return out;
}

export const zulip: NotifyService<ZulipConfig> = {
  schemes: ['zulip'],
  parse(url) {
    const { user, password } = userinfo(url);
    if (!user) throw new NotifyUrlError(`missing the bot e-mail; expected ${EXAMPLE}`);
    if (!password) throw new NotifyUrlError(`missing the API key; expected ${EXAMPLE}`);
    if (!url.host) throw new NotifyUrlError(`missing the server host; expected ${EXAMPLE}`);
    const q = new Query(url);
    const type = q.choice('type', ['channel', 'direct'] as const, 'channel');
    const stream = q.str('stream');
    const to = q.list('to');
    if (type === 'channel' && !stream) throw new NotifyUrlError('missing stream= (the channel to post to)');
    if (type === 'direct' && to.length === 0 && !stream) throw new NotifyUrlError('type=direct needs to= (user ids or e-mails, comma-separated)');
    // Other query keys are ignored, as the fork's zulip does.
    return {
      botMail: user,
      botKey: password,
      host: url.host,
      type,
      stream,
      to:
        to.length > 0
          ? to
          : stream
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
      topic: q.str('topic'),
      title: q.str('title'),
      readBySender: q.bool('read_by_sender', false),
      secrets: [password],
    };
  },

  async send(cfg, msg, ctx) {
    const max = await limits(cfg, ctx);
    let title = titleOf(msg, cfg.title);
    let topic = cfg.topic;
    // a channel message without topic= takes the title as its topic; a direct message has no topic,
    // so its title goes before the text (the fork drops it there)
    if (!topic && title && cfg.type === 'channel') {
      topic = title;
      title = '';
    }
    // The fork refuses a topic over the limit; offsite shortens it so the message still arrives.
    if (runeCount(topic) > max.topic)
      topic = `${Array.from(topic)
        .slice(0, max.topic - 1)
        .join('')}…`;
    const content = title ? `${title}\n\n${msg.message}` : msg.message;
    const url = `https://${cfg.host}/api/v1/messages`;
    // The fork refuses a message over the limit; offsite sends it in parts.
    for (const part of splitText(content, max.content)) {
      const form: Record<string, string> = { type: cfg.type };
      if (cfg.type === 'direct') form.to = JSON.stringify(cfg.to);
      else form.to = cfg.stream;
      form.content = part;
      if (topic && cfg.type !== 'direct') form.topic = topic;
      if (cfg.readBySender) form.read_by_sender = 'true';
      await postForm(ctx, url, form, { Authorization: basicAuth(cfg.botMail, cfg.botKey) }, (s) => s === 200);
    }
  },
};
