import { basicAuth, request } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, SKIP_VERIFY_NOTE, decode, userinfo } from '../url.ts';
import { titleOf } from './common.ts';

export interface NtfyConfig extends BaseServiceConfig {
  host: string;
  topic: string;
  username: string;
  password: string;
  token: string;
  scheme: 'http' | 'https';
  title: string;
  tags: string[];
  priority: string;
  actions: string[];
  click: string;
  attach: string;
  filename: string;
  delay: string;
  email: string;
  icon: string;
  markdown: boolean;
  cache: boolean;
  firebase: boolean;
}

const PRIORITIES: Record<string, string> = {
  '1': 'min',
  min: 'min',
  '2': 'low',
  low: 'low',
  '3': 'default',
  default: 'default',
  '4': 'high',
  high: 'high',
  '5': 'max',
  max: 'max',
  urgent: 'max',
};
const KEYS = [
  'title',
  'token',
  'scheme',
  'tags',
  'priority',
  'actions',
  'click',
  'attach',
  'filename',
  'delay|at|in',
  'email',
  'icon',
  'markdown',
  'cache',
  'firebase',
  'disabletlsverification',
  'disabletls',
];

export const ntfy: NotifyService<NtfyConfig> = {
  schemes: ['ntfy'],
  parse(url) {
    const { user, password } = userinfo(url);
    const topic = decode(url.pathname.replace(/^\//, ''), 'topic');
    if (!topic) throw new NotifyUrlError('missing the topic; expected ntfy://[user:password@]host/topic');
    const q = new Query(url);
    const schemeRaw = q.str('scheme', 'https').toLowerCase();
    if (schemeRaw !== 'http' && schemeRaw !== 'https') throw new NotifyUrlError(`scheme=${schemeRaw} is not http or https`);
    const prioRaw = q.str('priority', 'default').toLowerCase();
    const priority = PRIORITIES[prioRaw];
    if (!priority) throw new NotifyUrlError(`priority=${prioRaw} is not one of min, low, default, high, max (or 1-5)`);
    const token = q.str('token');
    const cfg: NtfyConfig = {
      host: url.host || 'ntfy.sh',
      topic,
      username: user,
      password,
      token,
      scheme: q.bool('disabletls', false) ? 'http' : schemeRaw,
      title: q.str('title'),
      tags: q.list('tags'),
      priority,
      actions: q.list('actions', ';'),
      click: q.str('click'),
      attach: q.str('attach'),
      filename: q.str('filename'),
      delay: q.str(['delay', 'at', 'in']),
      email: q.str('email'),
      icon: q.str('icon'),
      markdown: q.bool('markdown', false),
      cache: q.bool('cache', true),
      firebase: q.bool('firebase', true),
      secrets: [password, token].filter(Boolean),
    };
    if (q.bool('disabletlsverification', false)) cfg.notes = [SKIP_VERIFY_NOTE('disabletlsverification')];
    q.finish(KEYS);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const headers: Record<string, string> = {
      'Content-Type': cfg.markdown ? 'text/markdown' : 'text/plain; charset=utf-8',
    };
    const add = (k: string, v: string) => {
      if (v) headers[k] = headerValue(v);
    };
    add('Title', titleOf(msg, cfg.title));
    add('Priority', cfg.priority);
    add('Tags', cfg.tags.join(','));
    add('Delay', cfg.delay);
    add('Actions', cfg.actions.join(';'));
    add('Click', cfg.click);
    add('Attach', cfg.attach);
    add('X-Icon', cfg.icon);
    add('Filename', cfg.filename);
    add('Email', cfg.email);
    if (!cfg.cache) headers.Cache = 'no';
    if (!cfg.firebase) headers.Firebase = 'no';
    if (cfg.token) headers.Authorization = `Bearer ${cfg.token}`;
    else if (cfg.username || cfg.password) headers.Authorization = basicAuth(cfg.username, cfg.password);
    await request(ctx, `${cfg.scheme}://${cfg.host}/${cfg.topic}`, { method: 'POST', headers, body: msg.message });
  },
};

/** fetch only sends Latin-1 header values: encode anything else as an RFC 2047 word, which ntfy decodes. */
export function headerValue(v: string): string {
  const clean = v.replace(/[\r\n]+/g, ' ');
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(clean)) return clean;
  return `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`;
}
