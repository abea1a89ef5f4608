/**
 * Secret redaction. Every string that leaves the process (logs, errors,
 * notifications, `offsite config`) passes through redact().
 *
 * Two mechanisms:
 * - registered secret values (every variable declared secret where it is declared:
 *   destinations, encryption, notifications, API tokens; see declareVariables(), and
 *   secrets found inside URLs) are replaced wherever they appear. A variable offsite
 *   does not declare is treated as secret when its name looks secret (the fallback);
 * - URL userinfo and secret-looking query parameters are masked by pattern.
 *
 * Each secret is registered in every form it can travel in: raw, URL-encoded
 * (percent and form), JSON-escaped, XML-escaped, and as an HTTP Basic token
 * (base64 of user:password) when its user name is known.
 * Values that are not secrets are left readable: file paths (`*_FILE`), host
 * key fingerprints and placeholder help text such as `slack://hook:TOKEN@webhook`.
 */

const MASK = '***';
const secrets = new Set<string>();

/** Variables declared secret, every variable offsite declares, and (user, password) pairs sent as HTTP Basic auth. */
const declaredSecrets = new Set<string>();
const declaredKnown = new Set<string>();
const declaredBasic: Array<readonly [string, string]> = [];

/**
 * Declare variables (config/index.ts does, from every section's declarations, before
 * anything is read): `secrets` are masked by name; `known` names that are not secrets
 * are never masked by the name pattern; `basicAuth` pairs also mask base64(user:password).
 */
export function declareVariables(d: { known?: Iterable<string>; secrets?: Iterable<string>; basicAuth?: Iterable<readonly [string, string]> }): void {
  for (const k of d.known ?? []) declaredKnown.add(k);
  for (const k of d.secrets ?? []) {
    declaredSecrets.add(k);
    declaredKnown.add(k);
  }
  for (const p of d.basicAuth ?? []) if (!declaredBasic.some(([u, pw]) => u === p[0] && pw === p[1])) declaredBasic.push(p);
}

/** The variables declared secret so far. */
export function declaredSecretNames(): string[] {
  return [...declaredSecrets];
}

/** The fallback for variables offsite does not declare: a name that looks secret. */
function looksSecret(name: string): boolean {
  if (/FINGERPRINT/i.test(name)) return false; // a fingerprint is public
  return /(PASSWORD|PASSPHRASE|SECRET|TOKEN|_KEY$|_KEY_|ACCOUNT_KEY|CONNECTION_STRING|ACCESS_KEY|NOTIFICATION_URLS|KEY_RING|PUBLIC_KEYS|ENCRYPTION_KEY|CREDENTIALS)/i.test(
    name,
  );
}

/** Names of variables whose values are secrets: declared ones; for names offsite does not declare, the name pattern. */
export function isSecretName(name: string): boolean {
  // X_FILE holds the path of the file with the secret
  if (/_FILE$/i.test(name)) return false;
  if (declaredSecrets.has(name)) return true;
  if (declaredKnown.has(name)) return false;
  return looksSecret(name);
}

function add(form: string): void {
  if (form.length >= 4) secrets.add(form);
}

/** Remember a secret value so redact() masks it anywhere, in each encoded form. Short values (< 4 chars) are ignored to avoid masking noise. */
export function registerSecret(value: string | undefined | null): void {
  if (!value) return;
  const v = String(value);
  if (v.length < 4) return;
  for (const base of [v, ...decodedForms(v)]) {
    add(base);
    try {
      add(encodeURIComponent(base));
    } catch {
      /* lone surrogate */
    }
    add(new URLSearchParams({ x: base }).toString().slice(2));
    add(JSON.stringify(base).slice(1, -1));
    add(base.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;'));
  }
}

function decodedForms(v: string): string[] {
  const out: string[] = [];
  try {
    const d = decodeURIComponent(v);
    if (d !== v) out.push(d);
  } catch {
    /* not encoded */
  }
  try {
    const d = decodeURIComponent(v.replace(/\+/g, ' '));
    if (d !== v && !out.includes(d)) out.push(d);
  } catch {
    /* not encoded */
  }
  return out;
}

/** The HTTP Basic token of user:password (and of the decoded forms): a server echoing the Authorization header shows it. */
export function registerBasicCredentials(user: string | undefined | null, password: string | undefined | null): void {
  if (!password) return;
  const u = user ?? '';
  const pairs = new Set([`${u}:${password}`]);
  for (const du of [u, ...decodedForms(u)]) for (const dp of [password, ...decodedForms(password)]) pairs.add(`${du}:${dp}`);
  for (const p of pairs) {
    const b64 = Buffer.from(p, 'utf8').toString('base64');
    registerSecret(b64);
    registerSecret(b64.replace(/=+$/, ''));
  }
}

/** Fallback for undeclared names: for each `*_PASSWORD` / `*_APP_SECRET`, the variable holding its user name. */
const USER_OF: Array<[RegExp, string[]]> = [
  [/^(.*)_PASSWORD$/, ['_USERNAME', '_USER']],
  [/^(.*)_APP_SECRET$/, ['_APP_KEY']],
];

/** Register every secret-named variable of an environment, and the secrets inside URL-valued variables. */
export function registerSecretsFromEnv(env: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(env)) {
    if (!v) continue;
    if (isSecretName(k)) {
      // a notification URL list: each URL's secrets are registered when it is parsed
      // (src/notify/router.ts registerTargetSecrets), so its scheme and host stay readable
      if (!/NOTIFICATION_URLS$/.test(k)) registerSecret(v);
      // URL lists: register each URL's credentials and path tokens too
      for (const part of v.split(',')) registerUrlSecrets(part.trim());
      for (const [user, password] of declaredBasic) {
        if (password === k && env[user] !== undefined) registerBasicCredentials(env[user], v);
      }
      if (declaredKnown.has(k)) continue;
      for (const [re, suffixes] of USER_OF) {
        const m = re.exec(k);
        if (!m) continue;
        for (const suffix of suffixes) {
          const user = env[`${m[1]}${suffix}`];
          if (user !== undefined) registerBasicCredentials(user, v);
        }
      }
    } else if (/URL|ENDPOINT|HOST/.test(k) && !/_FILE$/.test(k)) {
      registerUrlSecrets(v);
    }
  }
}

/** Notification URLs that take no host, path, user or query (stdout://, logger://), so hold no secret. */
export const SECRETLESS_URL = /^(stdout|logger):\/\/\/?$/i;

/** Register the password/username-token and query secrets of a URL. */
export function registerUrlSecrets(url: string): void {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/?#]*)@/i.exec(url);
  if (m) {
    const userinfo = m[1]!;
    const idx = userinfo.indexOf(':');
    if (idx >= 0) {
      registerSecret(userinfo.slice(idx + 1));
      registerBasicCredentials(userinfo.slice(0, idx), userinfo.slice(idx + 1));
    } else if (userinfo.length >= 8) {
      // a lone userinfo is a token (slack://TOKEN@channel); a short one is a name (slack://hook@webhook)
      registerSecret(userinfo);
    }
  }
}

/**
 * Help text shows placeholders, not secrets: `slack://hook:TOKEN@webhook`,
 * `smtp://user:PASSWORD@host`, `hook:AAAAAAAAA-BBBBBBBBB-CCCCCCCC@webhook`.
 */
function isPlaceholder(secret: string): boolean {
  if (secret === MASK) return true;
  if (/^(?:TOKEN|PASSWORD|PASS|SECRET|KEY|APIKEY|API_KEY|ACCESS_TOKEN|APP_PASSWORD|PASSWORD_OR_TOKEN)$/.test(secret)) return true;
  // AAAAAAAAA-BBBBBBBBB-CCCC...: each part one letter repeated
  return /^[A-Z]+(?:-[A-Z]+)+$/.test(secret) && secret.split('-').every((p) => /^(.)\1*$/.test(p));
}

const SECRET_QUERY = /([?&](?:token|key|apikey|api_key|password|pass|secret|sig|signature|access_token|x-amz-signature|x-amz-credential)=)[^&#\s"']*/gi;
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@"'<>]+)@/gi;

/** Mask secrets in any text. */
export function redact(text: string): string {
  if (!text) return text;
  let out = text;
  // longest first so a secret containing another is fully masked
  const list = [...secrets].sort((a, b) => b.length - a.length);
  for (const s of list) {
    if (out.includes(s)) out = out.split(s).join(MASK);
  }
  out = out.replace(URL_USERINFO, (_m, scheme: string, userinfo: string) => {
    if (userinfo === MASK) return `${scheme}${MASK}@`;
    const idx = userinfo.indexOf(':');
    // keep a plain user name visible, mask a password; mask a lone token-like userinfo
    if (idx >= 0) {
      const pass = userinfo.slice(idx + 1);
      return `${scheme}${userinfo.slice(0, idx)}:${isPlaceholder(pass) ? pass : MASK}@`;
    }
    return isPlaceholder(userinfo) || userinfo.length < 8 ? `${scheme}${userinfo}@` : `${scheme}${MASK}@`;
  });
  // a value already masked (a redacted URL followed by `: why`) keeps what follows it
  out = out.replace(SECRET_QUERY, (m: string, key: string) => (m.slice(key.length).startsWith(MASK) ? m : `${key}${MASK}`));
  return out;
}

/** For tests: forget registered secrets. */
export function clearSecrets(): void {
  secrets.clear();
}

/**
 * Make every string written to this stream pass through redact() (the CLI's
 * stdout and stderr): no output path can forget it. Binary chunks pass unchanged.
 */
export function redactStream(stream: NodeJS.WriteStream): void {
  const marked = stream as NodeJS.WriteStream & { __offsiteRedacted?: boolean };
  if (marked.__offsiteRedacted) return;
  marked.__offsiteRedacted = true;
  const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => write(typeof chunk === 'string' ? redact(chunk) : chunk, ...rest)) as typeof stream.write;
}
