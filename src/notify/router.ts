import { registerSecret, registerUrlSecrets, SECRETLESS_URL } from '../redact.ts';
import { SERVICES } from './services/index.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotificationTarget, type NotifyService } from './types.ts';
import { quote } from '../errors.ts';

const BY_SCHEME = new Map<string, NotifyService<BaseServiceConfig>>();
for (const s of SERVICES) for (const scheme of s.schemes) BY_SCHEME.set(scheme, s);

/** Every scheme the router knows, for messages and docs. */
export function knownSchemes(): string[] {
  return [...BY_SCHEME.keys()];
}

/** The service for a scheme (case-insensitive), or undefined. */
export function serviceFor(scheme: string): NotifyService<BaseServiceConfig> | undefined {
  return BY_SCHEME.get(scheme.toLowerCase());
}

export type ParseOutcome = { ok: true; target: NotificationTarget } | { ok: false; redacted: string; issue: string };

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** Parse without side effects: the target (config + redacted URL) or what is wrong. */
export function parseNotificationUrl(input: string): ParseOutcome {
  const raw = input.trim();
  const fail = (issue: string): ParseOutcome => ({ ok: false, redacted: redactWith(raw, [], false), issue });
  const m = SCHEME.exec(raw);
  if (!m) return fail('is not a notification URL; expected a URL such as smtp://..., slack://..., generic+https://...');
  const scheme = m[1]!.toLowerCase();
  const service = serviceFor(scheme);
  if (!service)
    return fail(
      `unknown service ${quote(scheme)}; expected one of ${[...new Set(SERVICES.map((s) => s.schemes[0]))].join(', ')} (or hangouts, mqtts, generic+http, generic+https)`,
    );
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail('is not a valid URL (a comma inside a URL must be written %2C)');
  }
  let config: BaseServiceConfig;
  try {
    config = service.parse(url);
  } catch (err) {
    if (err instanceof NotifyUrlError) return fail(err.message);
    return fail(`cannot be read: ${(err as Error).message}`);
  }
  return { ok: true, target: { service: service.schemes[0]!, redacted: redactWith(raw, config.secrets, true), config } };
}

/** Register the URL's secrets with src/redact.ts so no log line or error shows them. */
export function registerTargetSecrets(raw: string, target: NotificationTarget | null): void {
  // a URL that does not parse is masked whole; a parsed one by its own secrets (scheme and host stay readable)
  if (!target && !SECRETLESS_URL.test(raw.trim())) registerSecret(raw.trim());
  // the password, and its HTTP Basic token (ntfy://user:pass@host sends Authorization: Basic ...)
  registerUrlSecrets(raw.trim());
  if (target) for (const s of target.config.secrets) registerSecret(s);
}

/** A notification URL with its secrets (passwords, tokens, keys, path tokens) replaced by ***. */
export function redactNotificationUrl(raw: string): string {
  const out = parseNotificationUrl(raw);
  return out.ok ? out.target.redacted : out.redacted;
}

const MASK = '***';
const SECRET_KEY = /token|key|secret|pass|sig|authorization|code|credential/i;
/** Parameter names that match SECRET_KEY but hold no secret. */
const NOT_SECRET = new Set(['titlekey', 'messagekey', 'usestarttls', 'requirestarttls', 'passive']);

function variants(s: string): string[] {
  const v = new Set<string>([s]);
  try {
    v.add(encodeURIComponent(s));
    v.add(encodeURIComponent(encodeURIComponent(s)));
    v.add(encodeURI(s));
    v.add(encodeURIComponent(s).replace(/%20/g, '+'));
  } catch {
    /* lone surrogate */
  }
  return [...v].filter((x) => x.length >= 3);
}

/**
 * Mask known secrets, then by pattern: the password of the userinfo (or the whole userinfo
 * when the URL could not be parsed), secret-looking query values, and (when unparsed)
 * token-like path segments.
 */
function redactWith(raw: string, secrets: string[], known: boolean): string {
  const m = SCHEME.exec(raw);
  const prefix = m ? m[0] : '';
  let rest = raw.slice(prefix.length);
  const all = secrets
    .filter((s) => s && s.length >= 3)
    .flatMap(variants)
    .sort((a, b) => b.length - a.length);
  for (const s of all) if (rest.includes(s)) rest = rest.split(s).join(MASK);
  if (!m) return raw.replace(/[A-Za-z0-9_\-.~%:+/=]{8,}/g, MASK);
  // userinfo
  const at = /^([^/?#]*)@/.exec(rest);
  if (at) {
    const ui = at[1]!;
    const colon = ui.indexOf(':');
    let masked: string;
    if (!known) masked = MASK;
    else if (colon >= 0) masked = `${ui.slice(0, colon)}:${ui.slice(colon + 1) === '' ? '' : MASK}`;
    else masked = ui;
    rest = masked + rest.slice(ui.length);
  }
  // query values whose key looks secret
  rest = rest.replace(/([?&])([^=&#]*)=([^&#]*)/g, (all2, sep: string, k: string, v: string) => {
    let key = k;
    try {
      key = decodeURIComponent(k.replace(/\+/g, ' '));
    } catch {
      /* keep */
    }
    return SECRET_KEY.test(key) && !NOT_SECRET.has(key.toLowerCase()) && v && v !== MASK ? `${sep}${k}=${MASK}` : all2;
  });
  if (!known) {
    // path segments that look like tokens
    rest = rest.replace(/\/([A-Za-z0-9_\-.~%]{12,})(?=[/?#]|$)/g, `/${MASK}`);
  }
  return prefix + rest;
}
