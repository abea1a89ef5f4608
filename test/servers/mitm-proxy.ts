/**
 * A forward HTTP proxy on 127.0.0.1 that delivers every request to one local server (the HTTP
 * recorder), whatever host the client meant: the way the tests show that a service with a
 * fixed public host (hooks.slack.com, api.telegram.org...) goes through HTTPS_PROXY, without
 * anything leaving the machine.
 *
 * - `CONNECT host:port`: answered 200; when the client then starts TLS, the proxy terminates
 *   it with a certificate for the SNI name signed by a test CA made here with openssl (the
 *   client trusts it through NODE_EXTRA_CA_CERTS=caFile); a client that speaks plain HTTP in
 *   the tunnel is served as is.
 * - absolute-URI requests (`GET http://host:port/path`): served as is.
 *
 * The decrypted request goes to the target server unchanged (method, path, query, headers,
 * body; Host stays the one the client sent) plus `x-original-host` (the Host), `x-original-scheme`
 * (`https:` inside TLS, `http:` otherwise) and `x-test-proxy` (`CONNECT host:port` or
 * `absolute-uri`): the recorder's originalHost/originalScheme, and proof of the way it came.
 * The answer goes back to the client as the target gave it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { promisify } from 'node:util';

export interface MitmProxy {
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** PEM file of the test CA (for NODE_EXTRA_CA_CERTS). */
  caFile: string;
  /** CONNECT targets (`host:port`) in order. */
  readonly connects: string[];
  /** Requests relayed to the target (`CONNECT host:port` / `absolute-uri`, then method and URL), in order. */
  readonly relayed: { via: string; method: string; url: string }[];
  /** Forget what was recorded. */
  reset(): void;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** `target`: `http://127.0.0.1:PORT` of the server every request goes to. */
export async function startMitmProxy(target: string): Promise<MitmProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-mitm-'));
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  const leafKey = join(dir, 'leaf.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=offsite test CA'], { stdio: 'ignore' });
  execFileSync('openssl', ['req', ...ec, '-keyout', leafKey, '-out', '/dev/null', '-subj', '/CN=leaf'], { stdio: 'ignore' });
  const key = readFileSync(leafKey);
  let serial = 0;

  // one certificate per host name, made on first use
  const contexts = new Map<string, Promise<SecureContext>>();
  const contextFor = (host: string): Promise<SecureContext> => {
    let p = contexts.get(host);
    if (!p) {
      const out = join(dir, `leaf-${++serial}.pem`);
      const san = /^[\d.]+$/.test(host) ? `IP:${host}` : `DNS:${host}`;
      p = run('openssl', [
        'req',
        '-new',
        '-x509',
        '-key',
        leafKey,
        '-subj',
        `/CN=${host}`,
        '-CA',
        caFile,
        '-CAkey',
        caKey,
        '-set_serial',
        String(1000 + serial),
        '-days',
        '2',
        '-addext',
        `subjectAltName=${san}`,
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-out',
        out,
      ]).then(() => createSecureContext({ key, cert: readFileSync(out) }));
      contexts.set(host, p);
    }
    return p;
  };

  const connects: string[] = [];
  const relayed: MitmProxy['relayed'] = [];
  const tunnelOf = new WeakMap<object, string>();

  const relay = (scheme: 'https:' | 'http:', via: (req: IncomingMessage) => string) => (req: IncomingMessage, res: ServerResponse) => {
    const how = via(req);
    const url = req.url ?? '/';
    relayed.push({ via: how, method: req.method ?? '', url });
    // absolute-URI requests name the target in the request line; the others in Host
    const path = /^https?:\/\//.test(url) ? new URL(url).pathname + new URL(url).search : url;
    const t = new URL(target);
    const up = request(
      {
        host: t.hostname,
        port: t.port,
        method: req.method,
        path,
        headers: { ...req.headers, 'x-original-host': req.headers.host ?? '', 'x-original-scheme': scheme, 'x-test-proxy': how },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(up);
  };

  const tunnel = (req: IncomingMessage) => `CONNECT ${tunnelOf.get(req.socket) ?? '?'}`;
  // TLS inside a tunnel (the TLS socket is handed to it), and plain HTTP inside a tunnel
  const httpsInTunnel = createServer(relay('https:', tunnel));
  const plainInTunnel = createServer(relay('http:', tunnel));
  const sni = (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
    contextFor(name).then(
      (ctx) => cb(null, ctx),
      (err: Error) => cb(err),
    );
  };

  const server: Server = createServer(relay('http:', () => 'absolute-uri'));
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const authority = req.url ?? '';
    connects.push(authority);
    socket.on('error', () => {});
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const start = (first: Buffer) => {
      socket.unshift(first);
      // a TLS handshake starts with a record of type 22
      if (first[0] === 0x16) {
        const tls = new TLSSocket(socket, { isServer: true, SNICallback: sni });
        tls.on('error', () => {});
        tunnelOf.set(tls, authority);
        httpsInTunnel.emit('connection', tls);
      } else {
        tunnelOf.set(socket, authority);
        plainInTunnel.emit('connection', socket);
        socket.resume();
      }
    };
    if (head.length) start(head);
    else {
      socket.once('data', (first: Buffer) => {
        socket.pause();
        start(first);
      });
      socket.resume();
    }
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    caFile,
    connects,
    relayed,
    reset() {
      connects.length = 0;
      relayed.length = 0;
    },
    async stop() {
      server.closeAllConnections();
      httpsInTunnel.closeAllConnections();
      plainInTunnel.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
