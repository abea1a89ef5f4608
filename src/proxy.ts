/**
 * HTTP(S) proxies from the environment: HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their
 * lower-case forms), as curl and most tools read them. Node's own proxy support does the
 * work (no proxy code here):
 *
 * - installProxyFromEnv() points `fetch` and the default http/https agents at the proxy
 *   (`http.setGlobalProxyFromEnv`): notifications, webhooks, push monitors, Dropbox.
 * - proxyAgentOptions() is spread into the agents a destination makes itself (S3, WebDAV):
 *   Node's `proxyEnv` agent option, the same rules per request.
 * - Azure's and Google's clients read the same variables themselves.
 * - SFTP (SSH), SMTP and MQTT connect directly: they are not HTTP.
 *
 * Plain-http targets go through the proxy as absolute-URI requests (one connection each, see
 * proxyAgentOptions), https ones through a CONNECT tunnel (TLS stays end to end). A proxy URL's password is masked in every output.
 */
import { registerUrlSecrets } from './redact.ts';
// node:http when a proxy is set, not `import ... from 'node:http'`: its ES module facade loads undici
// at start (see destinations/describe.ts), and without a proxy nothing needs it at start

const NAMES = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'] as const;

/** The proxy variables that are set (upper and lower case), or null when no proxy is configured. */
export function proxyEnv(env: Record<string, string | undefined> = process.env): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const n of NAMES) {
    for (const k of [n, n.toLowerCase()]) {
      const v = env[k];
      if (v !== undefined && v !== '') out[k] = v;
    }
  }
  const hasProxy = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy'].some((k) => k in out);
  return hasProxy ? out : null;
}

/**
 * Check the proxy URLs; returns what is wrong, by variable (for the configuration errors).
 */
export function proxyIssues(env: Record<string, string | undefined> = process.env): { variable: string; message: string }[] {
  const issues: { variable: string; message: string }[] = [];
  for (const k of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy']) {
    const v = env[k];
    if (!v) continue;
    let u: URL | null = null;
    try {
      u = new URL(v);
    } catch {
      /* below */
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      issues.push({ variable: k, message: 'is not an http:// or https:// proxy URL (e.g. http://proxy.example:3128)' });
    }
  }
  return issues;
}

let restore: (() => void) | null = null;

/**
 * Send fetch and the default agents through the proxy the environment names (no-op without
 * one). Returns a function that undoes it. Called once at start, before anything connects.
 */
export function installProxyFromEnv(env: Record<string, string | undefined> = process.env): () => void {
  const p = proxyEnv(env);
  if (!p) return () => {};
  for (const k of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy']) if (p[k]) registerUrlSecrets(p[k]);
  restore?.();
  const undo = process.getBuiltinModule('node:http').setGlobalProxyFromEnv(p);
  restore = undo;
  return () => {
    if (restore === undo) restore = null;
    undo();
  };
}

/**
 * Options for an http(s).Agent a destination makes itself: the proxy from the environment, if
 * any. Spread them after the agent's own options.
 *
 * For the plain-http agent (`kind` 'http') with HTTP_PROXY set, keep-alive is also turned off:
 * plain-http requests reach the proxy as absolute-URI requests, and a proxy may close the
 * client connection after each response without announcing it (tinyproxy does: no
 * `Connection: close`). Node's agent reuses the pooled connection at once for the next
 * request (WebDAV's MKCOL right after its PROPFIND), which the closed socket answers with a
 * reset. One connection per request through the proxy costs a TCP handshake to the proxy;
 * https targets are unaffected (their CONNECT tunnel stays open).
 */
export function proxyAgentOptions(
  env: Record<string, string | undefined> = process.env,
  kind: 'http' | 'https' = 'https',
): { proxyEnv?: Record<string, string>; keepAlive?: false } {
  const p = proxyEnv(env);
  if (!p) return {};
  if (kind === 'http' && (p.HTTP_PROXY || p.http_proxy)) return { proxyEnv: p, keepAlive: false };
  return { proxyEnv: p };
}
