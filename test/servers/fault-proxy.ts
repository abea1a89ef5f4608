/**
 * A fault-injecting TCP proxy on 127.0.0.1 in front of a real server (s3rver, azurite,
 * Apache/webdav-server, sshd, the Dropbox fake). The mode can change at any time; it
 * applies to connections opened afterwards (and `cut`/`stall` also to open ones, counted
 * per connection from the mode change on).
 *
 * - pass:   forward both ways.
 * - refuse: nothing listens on the port (connections are refused).
 * - cut:    forward, then reset both sides once the client sent `afterBytes` bytes on
 *           that connection (0: reset at once).
 * - stall:  forward until the client sent `afterBytes` bytes on that connection, then
 *           stop forwarding in both directions and never answer (0: accept, never answer).
 * - http:   (HTTP servers) requests matching `match` (`METHOD /path?query`) are answered
 *           with `status` (and the body/headers given), after the client sent
 *           `afterBytes` bytes of that request's body; the connection is closed. Other
 *           requests are forwarded.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'refuse' }
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'http'; status: number; match?: RegExp; afterBytes?: number; body?: string; headers?: Record<string, string> };

export interface FaultProxy {
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  mode: FaultMode;
  setMode(mode: FaultMode): Promise<void>;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Requests answered by an injected HTTP status so far. */
  readonly injected: number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: { host?: string; port: number }, initial: FaultMode = { kind: 'pass' }): Promise<FaultProxy> {
  const host = target.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const live = new Set<Conn>();
  /** Connections served by the HTTP fault injector: they go away when the mode changes. */
  const httpSockets = new Set<Socket>();
  let connections = 0;
  let injected = 0;
  let mode: FaultMode = initial;
  let server: Server | null = null;
  let port = 0;

  interface Conn {
    client: Socket;
    upstream: Socket | null;
    sent: number;
    stalled: boolean;
    apply(): void;
  }

  const http = createHttpServer({ keepAlive: true }, (req, res) => handleHttp(req, res));
  http.on('clientError', (_e, s) => s.destroy());

  function handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const m = mode;
    const line = `${req.method} ${req.url}`;
    if (m.kind === 'http' && (!m.match || m.match.test(line))) {
      let seen = 0;
      let answered = false;
      const answer = () => {
        if (answered) return;
        answered = true;
        injected++;
        const body = m.body ?? '';
        res.writeHead(m.status, {
          'content-type': 'application/xml',
          'content-length': String(Buffer.byteLength(body)),
          connection: 'close',
          ...(m.headers ?? {}),
        });
        res.end(body, () => setTimeout(() => req.socket.destroy(), 50));
      };
      const after = m.afterBytes ?? 0;
      if (after === 0) answer();
      req.on('data', (d: Buffer) => {
        seen += d.length;
        if (seen >= after) answer();
      });
      req.on('end', answer);
      return;
    }
    const up = httpRequest({ host, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.rawHeaders as unknown as Record<string, string>);
      ur.pipe(res);
    });
    up.on('error', () => {
      res.destroy();
    });
    req.pipe(up);
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
  }

  function onConnection(client: Socket): void {
    connections++;
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (mode.kind === 'http') {
      httpSockets.add(client);
      client.once('close', () => httpSockets.delete(client));
      http.emit('connection', client);
      return;
    }
    const c: Conn = {
      client,
      upstream: null,
      sent: 0,
      stalled: false,
      apply() {
        const m = mode;
        if (m.kind === 'cut' && c.sent >= m.afterBytes) {
          client.resetAndDestroy();
          c.upstream?.resetAndDestroy();
          return;
        }
        if (m.kind === 'stall' && c.sent >= m.afterBytes && !c.stalled) {
          c.stalled = true;
          // keep both sockets open, forward nothing more, never answer
          client.unpipe();
          c.upstream?.unpipe();
          client.pause();
          c.upstream?.pause();
        }
      },
    };
    live.add(c);
    client.once('close', () => {
      live.delete(c);
      c.upstream?.destroy();
    });
    if (mode.kind === 'stall' && mode.afterBytes === 0) {
      c.stalled = true;
      client.pause();
      return;
    }
    if (mode.kind === 'cut' && mode.afterBytes === 0) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host, port: target.port });
    c.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.once('close', () => {
      if (!c.stalled) client.destroy();
    });
    // with backpressure both ways: what is in flight stays small, so a stall stops a transfer in its middle
    upstream.on('data', (d: Buffer) => {
      if (!c.stalled && !client.write(d)) upstream.pause();
    });
    client.on('drain', () => {
      if (!c.stalled) upstream.resume();
    });
    upstream.on('drain', () => {
      if (!c.stalled) client.resume();
    });
    client.on('data', (d: Buffer) => {
      if (c.stalled) return;
      const m = mode;
      const limit = m.kind === 'cut' || m.kind === 'stall' ? m.afterBytes : Infinity;
      if (c.sent + d.length >= limit) {
        const part = d.subarray(0, Math.max(0, limit - c.sent));
        if (part.length) upstream.write(part);
        c.sent += d.length;
        c.apply();
        return;
      }
      c.sent += d.length;
      if (!upstream.write(d)) client.pause();
    });
    client.once('end', () => {
      if (!c.stalled) upstream.end();
    });
  }

  async function listen(p: number): Promise<void> {
    const s = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    server = s;
    port = (s.address() as { port: number }).port;
  }

  async function unlisten(): Promise<void> {
    const s = server;
    server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  async function setMode(next: FaultMode): Promise<void> {
    mode = next;
    for (const s of httpSockets) s.destroy();
    if (next.kind === 'refuse') {
      const closing = unlisten();
      for (const s of sockets) s.destroy();
      await closing;
      return;
    }
    if (!server) {
      // the same port again (retry briefly: the kernel may hold it for a moment)
      for (let i = 0; ; i++) {
        try {
          await listen(port);
          break;
        } catch (err) {
          if (i > 40) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    for (const c of live) {
      // HTTP faults are injected per request: connections opened before go away, clients reconnect
      if (next.kind === 'http') {
        c.client.destroy();
        c.upstream?.destroy();
        continue;
      }
      // a connection that was stalled stays broken (bytes were dropped): the server drops it when it recovers
      if (next.kind === 'pass' && c.stalled) {
        c.client.destroy();
        c.upstream?.destroy();
        continue;
      }
      c.sent = 0;
      c.apply();
    }
  }

  await listen(0);
  if (initial.kind === 'refuse') await setMode(initial);
  return {
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get mode() {
      return mode;
    },
    set mode(m: FaultMode) {
      void setMode(m);
    },
    setMode,
    get connections() {
      return connections;
    },
    get injected() {
      return injected;
    },
    async close() {
      const closing = unlisten();
      for (const s of sockets) s.destroy();
      await closing;
      http.close();
    },
  };
}
