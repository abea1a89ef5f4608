/**
 * Preloaded into an offsite process (`NODE_OPTIONS=--import <this file>`) by tests that make it
 * connect directly to a public host name (NO_PROXY bypassing the proxy): every name resolves to
 * 127.0.0.1, so the direct attempt stays on this machine (and meets nothing listening there).
 */
import dns from 'node:dns';

type Callback = (...args: unknown[]) => void;
const original = dns.lookup;
(dns as any).lookup = function lookup(this: unknown, _hostname: string, options: unknown, callback?: Callback) {
  return (original as Function).call(this, '127.0.0.1', options, callback);
};
