/**
 * `offsite token create NAME --scopes read,run,download | list | reset NAME | revoke NAME`.
 * create and reset print the token once (stdout); only a salted hash is kept. A token with
 * download scope, made or reset, is notified to every NOTIFICATION_URLS target whatever
 * NOTIFICATION_LEVEL says, and works only after OFFSITE_TOKEN_ACTIVATION_DELAY.
 */
import { hostname } from 'node:os';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { UsageError } from '../errors.ts';
import { formatDuration } from '../config/duration.ts';
import { TokenStore, parseScopes, type StoredToken } from './store.ts';
import { notifyEveryone } from '../http/notify.ts';
import { registerSecret } from '../redact.ts';

export interface TokenIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function runTokenCommand(config: Config, positionals: string[], values: Record<string, unknown>, log: Logger, io: TokenIo): Promise<number> {
  const [action, name] = positionals;
  const store = new TokenStore(config.stateDir);
  const needName = () => {
    if (!name)
      throw new UsageError(`token ${action} needs NAME`, `usage: offsite token ${action} NAME${action === 'create' ? ' --scopes read,run,download' : ''}`);
    return name;
  };
  if (action !== 'create' && values.scopes !== undefined)
    throw new UsageError(`--scopes goes with token create only (token ${action} keeps the token's scopes)`, 'run `offsite token --help`');
  switch (action) {
    case 'create': {
      const scopes = parseScopes(values.scopes as string | undefined);
      const { token, stored } = await store.create(needName(), scopes, config.http.activationDelayMs);
      await announce(config, stored, 'created', log, io);
      io.out(`${printToken(token)}\n`);
      return 0;
    }
    case 'reset': {
      const { token, stored } = await store.reset(needName(), config.http.activationDelayMs);
      await announce(config, stored, 'reset', log, io);
      io.out(`${printToken(token)}\n`);
      return 0;
    }
    case 'revoke':
      await store.revoke(needName());
      io.err(`token ${name} revoked; it stops working at once\n`);
      return 0;
    case 'list': {
      if (name) throw new UsageError('token list takes no NAME', 'usage: offsite token list [--json]');
      const rows = store
        .load()
        .map((t) => ({ name: t.name, scopes: t.scopes, created: t.created, issued: t.issued, activeFrom: t.activeFrom, lastUsed: store.lastUsed(t.name) }));
      if (values.json) {
        io.out(`${JSON.stringify(rows, null, 2)}\n`);
        return 0;
      }
      if (rows.length === 0) {
        io.err('no token; create one with `offsite token create NAME --scopes read`\n');
        return 0;
      }
      io.out(`${['NAME', 'SCOPES', 'CREATED', 'ACTIVE FROM', 'LAST USED'].join('\t')}\n`);
      for (const r of rows) io.out(`${[r.name, r.scopes.join(','), r.created, r.activeFrom, r.lastUsed ?? 'never'].join('\t')}\n`);
      return 0;
    }
    default:
      throw new UsageError(
        `token: unknown action "${action ?? ''}"`,
        'usage: offsite token create NAME --scopes read,run,download | list | reset NAME | revoke NAME',
      );
  }
}

/** The token itself passes the CLI's redaction of stdout only if it is not registered: it is printed raw, once. */
function printToken(token: string): string {
  return token;
}

async function announce(config: Config, t: StoredToken, verb: 'created' | 'reset', log: Logger, io: TokenIo): Promise<void> {
  const active = new Date(t.activeFrom);
  if (active.getTime() > Date.now())
    io.err(`token ${t.name} becomes valid at ${t.activeFrom} (OFFSITE_TOKEN_ACTIVATION_DELAY ${formatDuration(config.http.activationDelayMs)})\n`);
  io.err(`token ${t.name} ${verb} with scopes ${t.scopes.join(',')}; it is shown once, below: keep it now\n`);
  if (!t.scopes.includes('download')) return;
  const host = hostname();
  const results = await notifyEveryone(
    config,
    {
      title: `[offsite] token ${t.name} with download access was ${verb} on ${host}`,
      message: `token ${t.name} with download access was ${verb} on ${host} (scopes ${t.scopes.join(',')}; valid from ${t.activeFrom}). If this was not you, run \`offsite token revoke ${t.name}\` now.`,
      level: 'info',
    },
    log,
  );
  if (results.length) io.err(`notified ${results.filter((r) => r.ok).length} of ${results.length} notification URL${results.length === 1 ? '' : 's'}\n`);
  // the new token is not secret to the user who asked for it, but never goes into a log line
  void registerSecret;
}
