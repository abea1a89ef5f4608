import { DeliveryError, basicAuth, postForm } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode, userinfo } from '../url.ts';
import { titleOf } from './common.ts';

export interface TwilioConfig extends BaseServiceConfig {
  accountSid: string;
  authToken: string;
  /** A phone number, or a Messaging Service SID (MG...). */
  from: string;
  to: string[];
  title: string;
}

export const TWILIO_BASE = 'https://api.twilio.com/2010-04-01/Accounts';
const EXAMPLE = 'twilio://ACCOUNTSID:AUTHTOKEN@+15551234567/+15557654321';

/** As the fork: spaces, dashes, dots and parentheses are removed from numbers (not from an MG... SID). */
function normalise(n: string): string {
  return n.startsWith('MG') ? n : n.replace(/[ \-().]/g, '');
}

/** `twilio://SID:TOKEN@FROM/TO1/TO2?title=`: one SMS per recipient (the fork's twilio). */
export const twilio: NotifyService<TwilioConfig> = {
  schemes: ['twilio'],
  parse(url) {
    const { user, password } = userinfo(url);
    const from = normalise(decode(url.hostname, 'sender'));
    const to = url.pathname
      .replace(/^\//, '')
      .split('/')
      .map((p) => normalise(decode(p, 'recipient').trim()))
      .filter(Boolean);
    const q = new Query(url);
    const cfg: TwilioConfig = { accountSid: user, authToken: password, from, to, title: q.str('title'), secrets: password ? [password] : [] };
    q.finish(['title']);
    if (!user) throw new NotifyUrlError(`missing the account SID; expected ${EXAMPLE}`);
    if (!password) throw new NotifyUrlError(`missing the auth token; expected ${EXAMPLE}`);
    if (!from) throw new NotifyUrlError(`missing the sender number or Messaging Service SID; expected ${EXAMPLE}`);
    if (to.length === 0) throw new NotifyUrlError(`missing the recipient numbers; expected ${EXAMPLE}`);
    if (!from.startsWith('MG') && to.includes(from)) throw new NotifyUrlError('the sender and a recipient are the same number');
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const title = titleOf(msg, cfg.title);
    const text = title ? `${title}\n${msg.message}` : msg.message;
    const url = `${TWILIO_BASE}/${encodeURIComponent(cfg.accountSid)}/Messages.json`;
    const errors: string[] = [];
    // every recipient is tried; the failures are reported together
    for (const to of cfg.to) {
      const form: Record<string, string> = { Body: text };
      if (cfg.from.startsWith('MG')) form.MessagingServiceSid = cfg.from;
      else form.From = cfg.from;
      form.To = to;
      try {
        await postForm(ctx, url, form, { Authorization: basicAuth(cfg.accountSid, cfg.authToken) });
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        errors.push(`sending to ${to}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) throw new DeliveryError(`twilio: ${errors.join('; ')}`);
  },
};
