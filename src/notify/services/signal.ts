import { basicAuth, postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode, httpScheme, userinfo } from '../url.ts';

export interface SignalConfig extends BaseServiceConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  token: string;
  /** The sending account's number. */
  source: string;
  /** Phone numbers and `group.` ids. */
  recipients: string[];
  disableTLS: boolean;
}

const PHONE = /^\+?[0-9\s)(+-]+$/;
const GROUP = /^group\.[a-zA-Z0-9_+/=-]+$/;
const EXAMPLE = 'signal://[user:password@]host[:port]/+SOURCE/+RECIPIENT[/group.ID...]';
const KEYS = ['host', 'port', 'user', 'password', 'token|apikey', 'source', 'recipients|to', 'disabletls'];

/** Path parts after the source: a `group.` id may itself hold `/` (base64), so its parts are joined until the next `+number`. */
function recipientsOf(parts: string[]): string[] {
  const out: string[] = [];
  let group: string | undefined;
  for (const part of parts) {
    if (part.startsWith('group.')) {
      if (group !== undefined) out.push(group);
      group = part;
    } else if (group !== undefined && !part.startsWith('+')) {
      group += `/${part}`;
    } else {
      if (group !== undefined) {
        out.push(group);
        group = undefined;
      }
      out.push(part);
    }
  }
  if (group !== undefined) out.push(group);
  return out;
}

function checkRecipients(list: string[]): void {
  for (const r of list) if (!PHONE.test(r) && !GROUP.test(r)) throw new NotifyUrlError(`recipient "${r}" is neither a phone number nor a group.ID`);
}

/** The fork's signal: a signal-cli REST API server (POST /v2/send). */
export const signal: NotifyService<SignalConfig> = {
  schemes: ['signal'],
  parse(url) {
    const { user, password } = userinfo(url);
    const parts = url.pathname
      .replace(/^\/+|\/+$/g, '')
      .split('/')
      .filter((p) => p !== '')
      .map((p) => decode(p, 'path'));
    if (parts.length < 2) throw new NotifyUrlError(`missing the source number or the recipients; expected ${EXAMPLE}`);
    const source = parts[0]!;
    if (!PHONE.test(source)) throw new NotifyUrlError(`the source "${source}" is not a phone number`);
    const recipients = recipientsOf(parts.slice(1));
    checkRecipients(recipients);
    const q = new Query(url);
    const cfg: SignalConfig = {
      host: q.str('host', decode(url.hostname, 'host')),
      port: q.int('port', url.port ? parseInt(url.port, 10) : 8080, 1, 65535),
      user: q.str('user', user),
      password: q.str('password', password),
      token: q.str(['token', 'apikey']),
      source: q.str('source', source),
      recipients,
      disableTLS: q.bool('disabletls', false),
      secrets: [],
    };
    const listed = q.list(['recipients', 'to']);
    if (listed.length > 0) {
      checkRecipients(listed);
      cfg.recipients = listed;
    }
    q.finish(KEYS);
    if (!cfg.host) throw new NotifyUrlError(`missing the signal-cli REST API host; expected ${EXAMPLE}`);
    if (cfg.password) {
      cfg.secrets.push(cfg.password);
      // a server echoing the Authorization header shows this form
      if (cfg.user) cfg.secrets.push(Buffer.from(`${cfg.user}:${cfg.password}`, 'utf8').toString('base64'));
    }
    if (cfg.token) cfg.secrets.push(cfg.token);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const headers: Record<string, string> = {};
    if (cfg.token) headers.Authorization = `Bearer ${cfg.token}`;
    else if (cfg.user) headers.Authorization = basicAuth(cfg.user, cfg.password);
    // the title is dropped (the fork's signal sends the text only)
    const body = { message: msg.message, number: cfg.source, recipients: cfg.recipients };
    await postJson(ctx, `${httpScheme(cfg.disableTLS)}://${cfg.host}:${cfg.port}/v2/send`, body, headers);
  },
};
