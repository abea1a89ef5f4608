/**
 * A real SMTP peer (smtp-server, npm) for notification tests: plain, STARTTLS
 * or implicit TLS with a self-signed certificate made by openssl, with
 * optional authentication. Records every accepted message.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  data: string;
  /** The authenticated user, if any. */
  user: string | undefined;
  /** Whether the session was encrypted (STARTTLS or implicit TLS). */
  secure: boolean;
  clientHostname: string;
}

export interface SmtpPeer {
  port: number;
  messages: ReceivedMail[];
  /** Failed logins seen. */
  refusedLogins: number;
  /** Auth methods clients used. */
  authMethods: string[];
  close(): Promise<void>;
}

export interface SmtpPeerOptions {
  /** Implicit TLS (needs tls). */
  secure?: boolean;
  /** Certificate for STARTTLS / implicit TLS; without it STARTTLS is disabled. */
  tls?: { key: string; cert: string };
  /** Accepted user -> password; without it no AUTH is offered. */
  users?: Record<string, string>;
  authMethods?: string[];
  /** Reply a temporary failure (451) to the first N messages. */
  failFirst?: number;
}

/** A self-signed certificate for localhost / 127.0.0.1 made with openssl. */
export function makeSelfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startSmtp(opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const messages: ReceivedMail[] = [];
  const peer: SmtpPeer = { port: 0, messages, refusedLogins: 0, authMethods: [], close: async () => {} };
  let toFail = opts.failFirst ?? 0;
  const server = new SMTPServer({
    secure: opts.secure ?? false,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    disabledCommands: [...(opts.tls ? [] : ['STARTTLS']), ...(opts.users ? [] : ['AUTH'])],
    authMethods: opts.authMethods ?? ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2'],
    allowInsecureAuth: true,
    authOptional: !opts.users,
    logger: false,
    onAuth(auth, _session, cb) {
      peer.authMethods.push(auth.method);
      const want = opts.users?.[auth.username ?? ''];
      let ok = false;
      if (want !== undefined) {
        if (auth.method === 'CRAM-MD5') ok = auth.validatePassword(want);
        else if (auth.method === 'XOAUTH2') ok = auth.accessToken === want;
        else ok = auth.password === want;
      }
      if (!ok) {
        peer.refusedLogins++;
        cb(new Error('Invalid username or password'));
        return;
      }
      cb(null, { user: auth.username });
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (toFail > 0) {
          toFail--;
          const err = new Error('Try again later') as Error & { responseCode: number };
          err.responseCode = 451;
          cb(err);
          return;
        }
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
          user: session.user as string | undefined,
          secure: session.secure,
          clientHostname: session.hostNameAppearsAs,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  peer.port = (server.server.address() as AddressInfo).port;
  peer.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return peer;
}
