/**
 * A local HTTP peer for notification tests: records every request (method,
 * path, query, headers, body) and answers from a queue of replies or a handler.
 * Services with a fixed public host reach it through rewriteFetch(), which keeps
 * the original scheme and host in the x-original-scheme / x-original-host headers.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The host the service meant to reach (rewriteFetch), else the Host header. */
  originalHost: string;
  /** `https:` or `http:` as the service meant it (rewriteFetch), else `http:`. */
  originalScheme: string;
  /** Body parsed as JSON, or undefined. */
  json: unknown;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Never answer (the connection stays open until the client gives up or close()). */
  hang?: boolean;
}

export type Handler = (req: RecordedRequest) => Reply | undefined;

export interface HttpRecorder {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly requests: RecordedRequest[];
  /** Replies used first, in order, one per request. */
  queue(...replies: Reply[]): void;
  /** Fallback answer (default: 200 with an empty body). */
  handle(handler: Handler): void;
  /** Forget requests, queued replies and the handler. */
  reset(): void;
  /** A fetch that sends every request to this recorder instead of its real origin. */
  rewriteFetch(): typeof fetch;
  close(): Promise<void>;
}

export async function startRecorder(): Promise<HttpRecorder> {
  const requests: RecordedRequest[] = [];
  let queued: Reply[] = [];
  let handler: Handler | null = null;
  const hanging = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://recorder');
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body,
        originalHost: String(req.headers['x-original-host'] ?? req.headers.host ?? ''),
        originalScheme: String(req.headers['x-original-scheme'] ?? 'http:'),
        json,
      };
      requests.push(rec);
      const reply = queued.shift() ?? handler?.(rec) ?? {};
      if (reply.hang) {
        hanging.add(res);
        return;
      }
      const payload = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      const headers: Record<string, string> = { ...(reply.headers ?? {}) };
      if (reply.body !== undefined && typeof reply.body !== 'string' && !headers['content-type']) headers['content-type'] = 'application/json';
      res.writeHead(reply.status ?? 200, headers);
      res.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  return {
    url: base,
    host: `127.0.0.1:${port}`,
    requests,
    queue(...replies) {
      queued.push(...replies);
    },
    handle(h) {
      handler = h;
    },
    reset() {
      requests.length = 0;
      queued = [];
      handler = null;
    },
    rewriteFetch() {
      return (async (input: string | URL | Request, init?: RequestInit) => {
        const original = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
        const headers = new Headers(init?.headers);
        headers.set('x-original-host', original.host);
        headers.set('x-original-scheme', original.protocol);
        return fetch(`${base}${original.pathname}${original.search}`, { ...init, headers });
      }) as typeof fetch;
    },
    async close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
