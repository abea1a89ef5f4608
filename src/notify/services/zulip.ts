import { basicAuth, postForm } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, userinfo } from '../url.ts';
import { runeCount, splitText, titleOf } from './common.ts';

export interface ZulipConfig extends BaseServiceConfig {
  botMail: string;
  botKey: string;
  host: string;
  stream: string;
  topic: string;
}

const TOPIC_MAX = 60;
const CONTENT_MAX = 10000;

export const zulip: NotifyService<ZulipConfig> = {
  schemes: ['zulip'],
  parse(url) {
    const { user, password } = userinfo(url);
    if (!user) throw new NotifyUrlError('missing the bot e-mail; expected zulip://bot%40example.com:APIKEY@host?stream=...');
    if (!password) throw new NotifyUrlError('missing the API key; expected zulip://bot%40example.com:APIKEY@host?stream=...');
    if (!url.host) throw new NotifyUrlError('missing the server host; expected zulip://bot%40example.com:APIKEY@host?stream=...');
    const q = new Query(url);
    const stream = q.str('stream');
    if (!stream) throw new NotifyUrlError('missing stream= (the channel to post to)');
    // Other query keys are ignored, as shoutrrr's zulip does.
    return { botMail: user, botKey: password, host: url.host, stream, topic: q.str('topic'), secrets: [password] };
  },

  async send(cfg, msg, ctx) {
    const title = titleOf(msg, '');
    let topic = cfg.topic;
    let content = msg.message;
    if (!topic && title) topic = title;
    else if (title) content = `${title}\n\n${content}`;
    if (runeCount(topic) > TOPIC_MAX) topic = `${Array.from(topic).slice(0, TOPIC_MAX - 1).join('')}…`;
    const url = `https://${cfg.host}/api/v1/messages`;
    for (const part of splitText(content, CONTENT_MAX)) {
      const form: Record<string, string> = { type: 'stream', to: cfg.stream, content: part };
      if (topic) form.topic = topic;
      await postForm(ctx, url, form, { Authorization: basicAuth(cfg.botMail, cfg.botKey) }, (s) => s === 200);
    }
  },
};
