/**
 * A Docker socket proxy as offen's test/proxy runs it (tecnativa/docker-socket-proxy: HAProxy in
 * front of the Engine API socket, each API section allowed by an environment variable): HAProxy
 * (Debian `haproxy`) on 127.0.0.1 in front of a unix socket, with that image's policy written out
 * here: a request other than GET is refused (403) unless POST=1; a path (after an optional
 * `/v1.xx` prefix) is forwarded only when the variable of its section is 1 (INFO for /info,
 * CONTAINERS for /containers, SERVICES, TASKS, NODES, ...); everything else is refused with 403.
 * The image's defaults are kept: EVENTS, PING and VERSION 1, the others 0.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort, killOnExit, stopChild } from './util.ts';

const SECTIONS = [
  'auth',
  'build',
  'commit',
  'configs',
  'containers',
  'distribution',
  'events',
  'exec',
  'grpc',
  'images',
  'info',
  'networks',
  'nodes',
  '_ping',
  'plugins',
  'secrets',
  'services',
  'session',
  'swarm',
  'system',
  'tasks',
  'version',
  'volumes',
];
const DEFAULTS: Record<string, string> = { EVENTS: '1', PING: '1', VERSION: '1' };
const variableOf = (section: string) => (section === '_ping' ? 'PING' : section.toUpperCase());

export interface SocketProxy {
  /** DOCKER_HOST for clients: `tcp://127.0.0.1:PORT`. */
  dockerHost: string;
  log(): string;
  stop(): Promise<void>;
}

/** `allow`: the image's variables (POST, INFO, CONTAINERS, ...), '1' or '0'. */
export async function startSocketProxy(socketPath: string, allow: Record<string, string>): Promise<SocketProxy> {
  execFileSync('haproxy', ['-v'], { stdio: 'ignore' }); // a clear error when the package is missing
  const dir = mkdtempSync(join(tmpdir(), 'offsite-socket-proxy-'));
  const env = { PATH: process.env.PATH ?? '', ...DEFAULTS, ...allow };
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const rules = SECTIONS.map((s) => `  http-request allow if { path,url_dec -m reg -i ^(/v[\\d.]+)?/${s} } { env(${variableOf(s)}) -m bool }`).join('\n');
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      `global
  pidfile ${dir}/haproxy.pid
  maxconn 200

defaults
  mode http
  option http-server-close
  timeout connect 10s
  timeout client 2m
  timeout server 2m
  timeout http-request 10s

frontend docker
  bind 127.0.0.1:${port}
  http-request deny unless METH_GET || { env(POST) -m bool }
${rules}
  http-request deny
  default_backend engine

backend engine
  server engine ${socketPath}
`,
    );
    execFileSync('haproxy', ['-c', '-q', '-f', cfg], { env });
    const child = spawn('haproxy', ['-db', '-f', cfg], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    killOnExit(child);
    try {
      await waitForPort(port, 10_000, child, () => out);
    } catch (err) {
      await stopChild(child);
      if (attempt < 3 && /Address already in use|cannot bind/.test(out)) continue;
      throw err;
    }
    return {
      dockerHost: `tcp://127.0.0.1:${port}`,
      log: () => out,
      async stop() {
        await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
