/**
 * Secret redaction. Every string that leaves the process (logs, errors,
 * notifications, `offsite config`) passes through redact().
 *
 * Two mechanisms:
 * - registered secret values (every env variable whose name looks secret, and
 *   secrets found inside URLs) are replaced wherever they appear;
 * - URL userinfo and secret-looking query parameters are masked by pattern.
 */

const MASK = '***';
const secrets = new Set<string>();

/** Names of variables whose values are secrets. */
export function isSecretName(name: string): boolean {
  return /(PASSWORD|PASSPHRASE|SECRET|TOKEN|_KEY$|_KEY_|ACCOUNT_KEY|CONNECTION_STRING|ACCESS_KEY|NOTIFICATION_URLS|KEY_RING|PUBLIC_KEYS|ENCRYPTION_KEY)/i.test(name);
}

/** Remember a secret value so redact() masks it anywhere. Short values (< 4 chars) are ignored to avoid masking noise. */
export function registerSecret(value: string | undefined | null): void {
  if (!value) return;
  const v = String(value);
  if (v.length >= 4) secrets.add(v);
  // URL-encoded and decoded forms too
  try { const e = encodeURIComponent(v); if (e !== v && e.length >= 4) secrets.add(e); } catch { /* ignore */ }
  try { const d = decodeURIComponent(v); if (d !== v && d.length >= 4) secrets.add(d); } catch { /* ignore */ }
}

/** Register every secret-named variable of an environment, and the secrets inside URL-valued variables. */
export function registerSecretsFromEnv(env: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(env)) {
    if (!v) continue;
    if (isSecretName(k)) {
      registerSecret(v);
      // URL lists: register each URL's credentials and path tokens too
      for (const part of v.split(',')) registerUrlSecrets(part.trim());
    } else if (/URL|ENDPOINT|HOST/.test(k)) {
      registerUrlSecrets(v);
    }
  }
}

/** Register the password/username-token and query secrets of a URL. */
export function registerUrlSecrets(url: string): void {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/?#]*)@/i.exec(url);
  if (m) {
    const userinfo = m[1]!;
    const idx = userinfo.indexOf(':');
    if (idx >= 0) registerSecret(userinfo.slice(idx + 1));
    else registerSecret(userinfo);
  }
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
    if (idx >= 0) return `${scheme}${userinfo.slice(0, idx)}:${MASK}@`;
    return `${scheme}${MASK}@`;
  });
  out = out.replace(SECRET_QUERY, `$1${MASK}`);
  return out;
}

/** For tests: forget registered secrets. */
export function clearSecrets(): void {
  secrets.clear();
}
