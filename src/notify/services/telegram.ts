import { DeliveryError, jsonOf, postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { splitText, titleOf } from './common.ts';

export const PARSE_MODES = ['None', 'Markdown', 'HTML', 'MarkdownV2'] as const;

export interface TelegramConfig extends BaseServiceConfig {
  token: string;
  chats: string[];
  preview: boolean;
  notification: boolean;
  parseMode: (typeof PARSE_MODES)[number];
  title: string;
}

export const API_BASE = 'https://api.telegram.org';
const MAX_BYTES = 4096;
const KEYS = ['chats|channels', 'preview', 'notification', 'parsemode', 'title'];

export const telegram: NotifyService<TelegramConfig> = {
  schemes: ['telegram'],
  parse(url) {
    const token = `${decode(url.username)}:${decode(url.password)}`;
    if (!/^[0-9]+:[a-zA-Z0-9_-]+$/.test(token)) {
      throw new NotifyUrlError('invalid bot token; expected telegram://BOTID:SECRET@telegram?chats=@channel,12345');
    }
    const q = new Query(url);
    const cfg: TelegramConfig = {
      token,
      chats: q.list(['chats', 'channels']),
      preview: q.bool('preview', true),
      notification: q.bool('notification', true),
      parseMode: q.choice('parsemode', PARSE_MODES, 'None'),
      title: q.str('title'),
      secrets: [token, decode(url.password)],
    };
    q.finish(KEYS);
    if (cfg.chats.length === 0) throw new NotifyUrlError('missing chats=; expected a list such as chats=@channel,12345,-100123:42');
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const title = titleOf(msg, cfg.title);
    let parseMode: string = cfg.parseMode;
    let escapeBody = false;
    if (cfg.parseMode === 'None' && title) {
      // no parse mode given: treat the text as plain and send it as escaped HTML under a bold title
      parseMode = 'HTML';
      escapeBody = true;
    }
    const header = parseMode === 'HTML' && title ? `<b>${escapeHtml(title)}</b>\n` : '';
    const render = (part: string, first: boolean) => (first ? header : '') + (escapeBody ? escapeHtml(part) : part);
    // Telegram refuses texts over 4096 bytes. The fork then fails; offsite sends the message in
    // several parts rather than lose it (a deliberate difference, see README).
    const room = MAX_BYTES - Buffer.byteLength(header, 'utf8');
    const parts = splitText(msg.message, Math.max(256, room), (s) => Buffer.byteLength(escapeBody ? escapeHtml(s) : s, 'utf8'));
    const url = `${API_BASE}/bot${cfg.token}/sendMessage`;
    for (const chat of cfg.chats) {
      const idx = chat.indexOf(':');
      const chatId = idx >= 0 ? chat.slice(0, idx) : chat;
      const thread = idx >= 0 && /^-?\d+$/.test(chat.slice(idx + 1)) ? parseInt(chat.slice(idx + 1), 10) : undefined;
      for (let i = 0; i < parts.length; i++) {
        const payload: Record<string, unknown> = { text: render(parts[i]!, i === 0), chat_id: chatId };
        if (thread !== undefined) payload.message_thread_id = thread;
        if (parseMode !== 'None') payload.parse_mode = parseMode;
        payload.disable_web_page_preview = !cfg.preview;
        payload.disable_notification = !cfg.notification;
        // the fork's payload always carries it (0 = not a reply)
        payload.reply_to_message_id = 0;
        const res = await postJson(ctx, url, payload);
        const body = jsonOf(res);
        if (!body || body.ok !== true) {
          throw new DeliveryError(`telegram refused the message for chat ${chatId}: ${String(body?.description ?? res.text.slice(0, 200))}`);
        }
      }
    }
  },
};

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
}
