/**
 * The request plumbing the fakes of HTTP services share (test/servers/dropbox-fake.ts,
 * gdrive-fake.ts): the whole request body read, counts of calls and answer statuses,
 * fault injection per route, an error carrying the answer, the server on 127.0.0.1.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Thrown by a fake's handler: answered with this status, body and headers. */
export class ApiError extends Error {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  constructor(status: number, body: unknown, headers: Record<string, string> = {}) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** Faults to inject: `inject(route, fault, times)` makes the next `times` calls of a route take it. */
export function faultQueue<F>(): { inject(route: string, fault: F, times?: number): void; take(route: string): F | null } {
  const faults = new Map<string, { fault: F; times: number }[]>();
  return {
    inject(route, fault, times = 1) {
      const list = faults.get(route) ?? [];
      list.push({ fault, times });
      faults.set(route, list);
    },
    take(route) {
      const list = faults.get(route);
      if (!list || list.length === 0) return null;
      const f = list[0]!;
      if (--f.times <= 0) list.shift();
      return f.fault;
    },
  };
}

/** What every fake counts. */
export interface FakeCounters {
  /** Calls per route. */
  calls: Map<string, number>;
  /** Answers per HTTP status. */
  statuses: Map<number, number>;
  /** The largest request body seen. */
  maxBody: number;
}

/** Answers with a status and a payload (JSON unless a string; no body when undefined), counted in `statuses`. */
export type Send = (status: number, payload: unknown, headers?: Record<string, string>) => void;

export interface FakeRequest {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  send: Send;
  /** Counts a call of the route. */
  count(route: string): void;
}

/**
 * An HTTP server on 127.0.0.1 that reads each request's body, then calls `handle`. An
 * ApiError thrown by it is answered as it says; any other error by `internal(err)`.
 */
export async function serveFake(
  counters: FakeCounters,
  opts: { textType: string; jsonType: string; handle(r: FakeRequest): Promise<void>; internal(err: Error, send: Send): void },
): Promise<{ origin: string; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    });
    req.on('end', async () => {
      const body = Buffer.concat(chunks, size);
      counters.maxBody = Math.max(counters.maxBody, size);
      const send: Send = (status, payload, headers = {}) => {
        counters.statuses.set(status, (counters.statuses.get(status) ?? 0) + 1);
        if (payload === undefined) {
          res.writeHead(status, { 'Content-Length': '0', ...headers });
          res.end();
          return;
        }
        const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
        res.writeHead(status, { 'Content-Type': typeof payload === 'string' ? opts.textType : opts.jsonType, ...headers });
        res.end(text);
      };
      const count = (route: string) => counters.calls.set(route, (counters.calls.get(route) ?? 0) + 1);
      try {
        await opts.handle({ req, res, body, send, count });
      } catch (err) {
        if (err instanceof ApiError) send(err.status, err.body, err.headers);
        else opts.internal(err as Error, send);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
