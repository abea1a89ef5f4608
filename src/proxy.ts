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
 * Plain-http targets go through the proxy as absolute-URI requests, https ones through a
 * CONNECT tunnel (TLS stays end to end). A proxy URL's password is masked in every output.
 */
import { setGlobalProxyFromEnv } from 'node:http';
import { registerUrlSecrets } from './redact.ts';

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
  const undo = setGlobalProxyFromEnv(p);
  restore = undo;
  return () => {
    if (restore === undo) restore = null;
    undo();
  };
}

/** Options for an http(s).Agent a destination makes itself: the proxy from the environment, if any. */
export function proxyAgentOptions(env: Record<string, string | undefined> = process.env): { proxyEnv?: Record<string, string> } {
  const p = proxyEnv(env);
  return p ? { proxyEnv: p } : {};
}
