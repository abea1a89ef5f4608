/**
 * A real forward HTTP proxy (Debian `tinyproxy`) on 127.0.0.1, for the proxy tests. It
 * records every request it relays: `GET http://127.0.0.1:PORT/path` for plain http and
 * `CONNECT 127.0.0.1:PORT` for tunnels (https, and clients that tunnel everything).
 *
 * tinyproxy runs in the foreground (-d) with a private configuration: only 127.0.0.1 may
 * use it, CONNECT to any port (no ConnectPort line), no Via header, its log on stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './util.ts';

export interface ProxyRequest {
  method: string;
  /** `http://host:port/path` (plain requests) or `host:port` (CONNECT). */
  target: string;
}

export interface Tinyproxy {
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Requests relayed so far, in order. */
  requests(): ProxyRequest[];
  /** Requests (plain or CONNECT) to 127.0.0.1:`port`. */
  requestsTo(port: number): ProxyRequest[];
  /** Its log so far (for assertion messages). */
  log(): string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** `upstream`: `host:port` of a proxy tinyproxy relays everything to (plain requests and CONNECT). */
export async function startTinyproxy(opts: { upstream?: string } = {}): Promise<Tinyproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-tinyproxy-'));
  const port = await freePort();
  const conf = join(dir, 'tinyproxy.conf');
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 120',
      'LogLevel Connect',
      'MaxClients 200',
      'Allow 127.0.0.1',
      'DisableViaHeader Yes',
      ...(opts.upstream ? [`Upstream http ${opts.upstream}`] : []),
      '',
    ].join('\n'),
  );
  const child = spawn('tinyproxy', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      children.delete(child);
      r();
    }),
  );
  try {
    await waitForPort(port, 10_000, child, () => out);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const requests = (): ProxyRequest[] => {
    const list: ProxyRequest[] = [];
    for (const m of out.matchAll(/Request \(file descriptor \d+\): (\S+) (\S+) HTTP\/[\d.]+/g)) list.push({ method: m[1]!, target: m[2]! });
    return list;
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    requestsTo: (p) => requests().filter((r) => r.target === `127.0.0.1:${p}` || r.target.startsWith(`http://127.0.0.1:${p}/`)),
    log: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
