import { hostname } from 'node:os';
import { retryLoop } from '../../retry.ts';
import type nodemailer from 'nodemailer';
import { lazy } from '../../lazy.ts';

/** Loaded when an smtp:// URL sends. */
const mailer = lazy<typeof nodemailer>('nodemailer');
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { parseDuration } from '../../config/duration.ts';
import { DeliveryError, formatMs, notifyBackoff } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyMessage, type NotifyService, type SendContext } from '../types.ts';
import { Query, userinfo } from '../url.ts';
import { titleOf } from './common.ts';

export const AUTH_TYPES = ['None', 'Plain', 'CRAMMD5', 'Unknown', 'OAuth2', 'Login'] as const;
export const ENCRYPTIONS = ['None', 'ExplicitTLS', 'ImplicitTLS', 'Auto'] as const;

export interface SmtpConfig extends BaseServiceConfig {
  host: string;
  port: number;
  username: string;
  password: string;
  from: string;
  fromName: string;
  to: string[];
  subject: string;
  auth: (typeof AUTH_TYPES)[number];
  encryption: (typeof ENCRYPTIONS)[number];
  useStartTLS: boolean;
  requireStartTLS: boolean;
  skipTLSVerify: boolean;
  useHTML: boolean;
  clientHost: string;
  timeoutMs: number;
}

const KEYS = [
  'fromaddress|from',
  'toaddresses|to',
  'fromname',
  'subject|title',
  'auth',
  'encryption',
  'usestarttls|starttls',
  'usehtml',
  'clienthost',
  'requirestarttls',
  'skiptlsverify',
  'timeout',
];

const ADDRESS = /^[^\s@<>,]+@[^\s@<>,]+$/;

export const smtp: NotifyService<SmtpConfig> = {
  schemes: ['smtp'],
  parse(url) {
    const { user, password } = userinfo(url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!host) throw new NotifyUrlError('missing the SMTP server host; expected smtp://user:password@host:587/?from=...&to=...');
    const port = url.port ? parseInt(url.port, 10) : 25;
    const q = new Query(url);
    const from = q.str(['fromaddress', 'from']);
    const to = q.list(['toaddresses', 'to']);
    if (!from) throw new NotifyUrlError('missing from= (the sender address)');
    if (!ADDRESS.test(from)) throw new NotifyUrlError(`from=${from} is not an e-mail address`);
    if (to.length === 0) throw new NotifyUrlError('missing to= (the recipient addresses, separated by %2C)');
    for (const t of to) if (!ADDRESS.test(t)) throw new NotifyUrlError(`to: ${t} is not an e-mail address`);
    const timeoutRaw = q.str('timeout');
    let timeoutMs = 10_000;
    if (timeoutRaw) {
      const ms = parseDuration(timeoutRaw);
      if (ms === null || ms <= 0) throw new NotifyUrlError(`timeout=${timeoutRaw} is not a duration such as 10s`);
      timeoutMs = ms;
    }
    const clientHostRaw = q.str('clienthost', 'localhost');
    const cfg: SmtpConfig = {
      host,
      port,
      username: user,
      password,
      from,
      to,
      fromName: q.str('fromname'),
      subject: q.str(['subject', 'title']),
      auth: q.choice('auth', AUTH_TYPES, 'Unknown'),
      encryption: q.choice('encryption', ENCRYPTIONS, 'Auto'),
      useStartTLS: q.bool(['usestarttls', 'starttls'], true),
      requireStartTLS: q.bool('requirestarttls', false),
      skipTLSVerify: q.bool('skiptlsverify', false),
      useHTML: q.bool('usehtml', false),
      clientHost: clientHostRaw === 'auto' ? hostname() : clientHostRaw,
      timeoutMs,
      secrets: password ? [password] : [],
    };
    q.finish(KEYS);
    if (cfg.auth === 'OAuth2' && !password) throw new NotifyUrlError('auth=OAuth2 needs the access token as the password');
    if ((cfg.auth === 'Plain' || cfg.auth === 'Login' || cfg.auth === 'CRAMMD5') && !user)
      throw new NotifyUrlError(`auth=${cfg.auth} needs a user name in the URL`);
    if (cfg.encryption === 'ExplicitTLS' && !cfg.useStartTLS) throw new NotifyUrlError('encryption=ExplicitTLS contradicts usestarttls=no');
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const transport = mailer().createTransport(transportOptions(cfg, ctx));
    const onAbort = () => transport.close();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      // One transaction per recipient, as shoutrrr does: one refusal does not hide the others.
      const failures: string[] = [];
      for (const rcpt of cfg.to) {
        try {
          await sendOne(transport, cfg, rcpt, msg, ctx);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      if (failures.length > 0) throw new DeliveryError(failures.join('; '));
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      transport.close();
    }
  },
};

function transportOptions(cfg: SmtpConfig, ctx: SendContext): SMTPTransport.Options {
  const implicit = cfg.encryption === 'ImplicitTLS' || (cfg.encryption === 'Auto' && cfg.port === 465);
  const timeout = Math.min(cfg.timeoutMs, ctx.timeoutMs);
  let auth: SMTPTransport.Options['auth'];
  let authMethod: string | undefined;
  const kind = cfg.auth === 'Unknown' ? (cfg.username ? 'Plain' : 'None') : cfg.auth;
  switch (kind) {
    case 'None':
      break;
    case 'OAuth2':
      auth = { type: 'OAuth2', user: cfg.username, accessToken: cfg.password };
      break;
    case 'Plain':
      auth = { user: cfg.username, pass: cfg.password };
      authMethod = 'PLAIN';
      break;
    case 'Login':
      auth = { user: cfg.username, pass: cfg.password };
      authMethod = 'LOGIN';
      break;
    case 'CRAMMD5':
      auth = { user: cfg.username, pass: cfg.password };
      authMethod = 'CRAM-MD5';
      break;
  }
  return {
    host: cfg.host,
    port: cfg.port,
    secure: implicit,
    // encryption=None does not turn STARTTLS off; usestarttls=no does.
    ignoreTLS: !implicit && !cfg.useStartTLS,
    requireTLS: !implicit && (cfg.requireStartTLS || cfg.encryption === 'ExplicitTLS'),
    auth,
    authMethod,
    name: cfg.clientHost,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    tls: { rejectUnauthorized: !cfg.skipTLSVerify, ...(ctx.ca ? { ca: ctx.ca } : {}) },
    logger: false,
    debug: false,
  };
}

function isTransient(err: { code?: string; responseCode?: number }): boolean {
  if (err.code === 'EAUTH' || err.code === 'ETIMEDOUT') return false;
  if (typeof err.responseCode === 'number') return err.responseCode >= 400 && err.responseCode < 500;
  return err.code === 'ECONNECTION' || err.code === 'ESOCKET' || err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EDNS';
}

async function sendOne(transport: nodemailer.Transporter, cfg: SmtpConfig, rcpt: string, msg: NotifyMessage, ctx: SendContext): Promise<void> {
  const where = `${cfg.host}:${cfg.port}`;
  const subject = titleOf(msg, cfg.subject);
  const mail = {
    from: cfg.fromName ? { name: cfg.fromName, address: cfg.from } : cfg.from,
    to: rcpt,
    subject,
    ...(cfg.useHTML ? { html: msg.message } : { text: msg.message }),
    textEncoding: 'quoted-printable' as const,
  };
  let text = '';
  await retryLoop(
    async () => {
      if (ctx.signal.aborted) throw new DeliveryError(`smtp to ${where} for ${rcpt} was stopped`);
      ctx.attempts++;
      await transport.sendMail(mail);
    },
    {
      signal: ctx.signal,
      stopped: () => new DeliveryError(`${text} (stopped before the next try)`),
      next(e, attempt) {
        if (e instanceof DeliveryError) throw e;
        const err = e as { code?: string; responseCode?: number; message?: string };
        const why = err.code === 'ETIMEDOUT' ? `got no answer within ${formatMs(Math.min(cfg.timeoutMs, ctx.timeoutMs))}` : (err.message ?? String(e));
        text = `smtp to ${where} for ${rcpt}: ${why}`;
        if (ctx.signal.aborted || !isTransient(err) || attempt >= ctx.retry.attempts) {
          throw new DeliveryError(attempt > 1 ? `${text} (gave up after ${attempt} tries)` : text);
        }
        const delay = notifyBackoff(ctx, attempt);
        ctx.log.debug({ attempt, delayMs: delay }, `notification: retrying: ${text}`);
        return delay;
      },
    },
  );
}
