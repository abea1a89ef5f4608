/**
 * A test stand-in for the Docker Engine API, served over a unix socket, for the
 * endpoints offsite uses. Request and response shapes and status codes follow
 * the Engine API reference (v1.4x):
 *
 *   GET  /_ping, /version, /info
 *   GET  /containers/json?all&filters      (filters: label, status, name, id; list or legacy map form)
 *   GET  /containers/{id}/json
 *   POST /containers/{id}/stop  -> 204 | 304 already stopped | 404
 *   POST /containers/{id}/start -> 204 | 304 already started | 404
 *   POST /containers/{id}/exec  -> 201 {Id} | 404 | 409 not running
 *   POST /exec/{id}/start       -> 101 upgrade (Connection: Upgrade) or 200 raw-stream; Detach -> 200 empty
 *   GET  /exec/{id}/json
 *   GET  /services?filters, /services/{id}   (503 when this node is not a Swarm manager)
 *   POST /services/{id}/update?version=N     -> 200 {Warnings} | 400 bad version | 404 | 500 out of sequence
 *   GET  /tasks?filters                      (filters: service, desired-state, id, name)
 *
 * Exec runs a real child process (the container's "filesystem" is this
 * machine), so exit codes and output are real. Without a TTY the output is
 * multiplexed in 8-byte-header frames: [stream type (1 stdout, 2 stderr), 0, 0, 0,
 * uint32 big-endian length] + payload, which dockerode's demuxStream decodes.
 * Every request is recorded in `calls`.
 */
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeTls {
  key: Buffer | string;
  cert: Buffer | string;
  /** CA that client certificates must be signed by. */
  ca: Buffer | string;
}

export interface FakeCall {
  method: string;
  /** Path without the /v1.xx prefix and without the query. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
}

export interface FakeContainer {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Labels: Record<string, string>;
  State: 'running' | 'exited' | 'created' | 'paused';
  Status: string;
  /** Environment given to exec'd processes (besides PATH and the exec's own Env). */
  env: Record<string, string>;
  /** Working directory of exec'd processes. */
  workDir: string;
}

export interface FakeTask {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
  Labels: Record<string, string>;
  ServiceID: string;
  Slot?: number;
  NodeID: string;
  Status: { Timestamp: string; State: string; Message: string };
  DesiredState: string;
}

export interface FakeService {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  Spec: any;
}

interface FakeExec {
  ID: string;
  ContainerID: string;
  Cmd: string[];
  Env: string[];
  User: string;
  Tty: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  started: boolean;
}

const API_VERSION = '1.47';
const NODE_ID = 'fakenode0000000000000000a';

function newId(): string {
  return randomBytes(32).toString('hex');
}

function now(): string {
  return new Date().toISOString();
}

/** Docker's filters query: {"label":["a=b"]} or the legacy {"label":{"a=b":true}}. */
function parseFilters(raw: string | undefined): Record<string, string[]> | string {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'invalid filter: not JSON';
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return 'invalid filter';
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v && typeof v === 'object') out[k] = Object.keys(v as object).filter((x) => (v as Record<string, unknown>)[x]);
    else return `invalid filter '${k}'`;
  }
  return out;
}

function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const i = filter.indexOf('=');
  if (i < 0) return Object.prototype.hasOwnProperty.call(labels, filter);
  return labels[filter.slice(0, i)] === filter.slice(i + 1);
}

function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt8(stream, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

export class DockerFake {
  readonly socketPath: string;
  readonly calls: FakeCall[] = [];
  readonly containers = new Map<string, FakeContainer>();
  readonly services = new Map<string, FakeService>();
  readonly tasks: FakeTask[] = [];
  readonly execs = new Map<string, FakeExec>();
  /** Swarm role of this node: inactive (no Swarm), worker, or manager. */
  swarm: 'inactive' | 'worker' | 'manager' = 'inactive';
  /** Container names whose stop / start requests fail with 500. */
  readonly failStop = new Set<string>();
  /** The status of a refused stop by container name (default 500; 403 as a socket proxy refuses). */
  readonly stopStatus = new Map<string, number>();
  readonly failStart = new Set<string>();
  /** How long a Swarm task takes to go from pending to running, or running to shutdown. */
  taskDelayMs = 0;
  /** Called for every request before it is handled (tests use it to act mid-run). */
  onRequest: ((call: { method: string; path: string }) => void) | null = null;
  private readonly server: Server;
  private readonly dir: string;
  private readonly children = new Set<import('node:child_process').ChildProcess>();
  private readonly timers = new Set<NodeJS.Timeout>();

  /** TCP port when started with `tcp` (else 0). */
  port = 0;

  private constructor(dir: string, tls?: FakeTls) {
    this.dir = dir;
    this.socketPath = join(dir, 'docker.sock');
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      void this.handle(req, res, null);
    };
    // like dockerd --tlsverify: clients must present a certificate signed by the CA
    this.server = tls
      ? createHttpsServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, handler)
      : createServer(handler);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.handle(req, null, { socket, head });
    });
  }

  /** Listen on a unix socket (default), or on 127.0.0.1 with `tcp` (optionally TLS with client certificates). */
  static async start(opts: { tcp?: boolean; tls?: FakeTls } = {}): Promise<DockerFake> {
    const dir = mkdtempSync(join(tmpdir(), 'docker-fake-'));
    const fake = new DockerFake(dir, opts.tls);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      if (opts.tcp || opts.tls) fake.server.listen(0, '127.0.0.1', () => resolve());
      else fake.server.listen(fake.socketPath, () => resolve());
    });
    const addr = fake.server.address();
    if (addr && typeof addr === 'object') fake.port = addr.port;
    return fake;
  }

  async close(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  addContainer(opts: {
    name: string;
    labels?: Record<string, string>;
    state?: FakeContainer['State'];
    env?: Record<string, string>;
    workDir?: string;
    image?: string;
  }): string {
    const id = newId();
    const running = (opts.state ?? 'running') === 'running';
    this.containers.set(id, {
      Id: id,
      Names: [`/${opts.name}`],
      Image: opts.image ?? 'alpine:3',
      ImageID: `sha256:${newId()}`,
      Command: 'sleep infinity',
      Created: Math.floor(Date.now() / 1000),
      Labels: { ...(opts.labels ?? {}) },
      State: opts.state ?? 'running',
      Status: running ? 'Up 5 minutes' : 'Exited (0) 5 minutes ago',
      env: opts.env ?? {},
      workDir: opts.workDir ?? '/',
    });
    return id;
  }

  /** Add a Swarm service with `replicas` running tasks (global when replicas is 'global'). */
  addService(opts: { name: string; labels?: Record<string, string>; replicas: number | 'global' }): string {
    const id = newId().slice(0, 25);
    const mode = opts.replicas === 'global' ? { Global: {} } : { Replicated: { Replicas: opts.replicas } };
    this.services.set(id, {
      ID: id,
      Version: { Index: 10 },
      CreatedAt: now(),
      UpdatedAt: now(),
      Spec: {
        Name: opts.name,
        Labels: { ...(opts.labels ?? {}) },
        TaskTemplate: { ContainerSpec: { Image: 'alpine:3' }, ForceUpdate: 0, Runtime: 'container' },
        Mode: mode,
        EndpointSpec: { Mode: 'vip' },
      },
    });
    const n = opts.replicas === 'global' ? 1 : opts.replicas;
    for (let i = 0; i < n; i++) this.addTask(id, i + 1, 'running');
    return id;
  }

  container(name: string): FakeContainer {
    const c = this.find(name);
    if (!c) throw new Error(`no fake container ${name}`);
    return c;
  }

  /** Running tasks of a service. */
  runningTasks(serviceId: string): number {
    return this.tasks.filter((t) => t.ServiceID === serviceId && t.Status.State === 'running').length;
  }

  /** Calls whose method and path match, e.g. ('POST', /\/stop$/). */
  callsTo(method: string, path: RegExp): FakeCall[] {
    return this.calls.filter((c) => c.method === method && path.test(c.path));
  }

  /** Name of the container a /containers/{id}/... call was about. */
  nameOf(path: string): string {
    const id = /^\/containers\/([^/]+)/.exec(path)?.[1] ?? '';
    const c = this.find(decodeURIComponent(id));
    return c ? c.Names[0]!.slice(1) : id;
  }

  private addTask(serviceId: string, slot: number, state: string): FakeTask {
    const t: FakeTask = {
      ID: newId().slice(0, 25),
      Version: { Index: 11 },
      CreatedAt: now(),
      UpdatedAt: now(),
      Labels: {},
      ServiceID: serviceId,
      Slot: slot,
      NodeID: NODE_ID,
      Status: { Timestamp: now(), State: state, Message: state === 'running' ? 'started' : 'created' },
      DesiredState: 'running',
    };
    this.tasks.push(t);
    return t;
  }

  private later(fn: () => void): void {
    if (this.taskDelayMs <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.taskDelayMs);
    this.timers.add(t);
  }

  private find(ref: string): FakeContainer | undefined {
    const direct = this.containers.get(ref);
    if (direct) return direct;
    for (const c of this.containers.values()) {
      if (c.Names.includes(`/${ref}`) || c.Names.includes(ref)) return c;
    }
    if (ref.length >= 4) {
      const byPrefix = [...this.containers.values()].filter((c) => c.Id.startsWith(ref));
      if (byPrefix.length === 1) return byPrefix[0];
    }
    return undefined;
  }

  private findService(ref: string): FakeService | undefined {
    const direct = this.services.get(ref);
    if (direct) return direct;
    return [...this.services.values()].find((s) => s.Spec.Name === ref || (ref.length >= 4 && s.ID.startsWith(ref)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse | null, up: { socket: Duplex; head: Buffer } | null): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname.replace(/^\/v\d+\.\d+(?=\/)/, '');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const method = req.method ?? 'GET';
    const raw = up ? await readUpgradeBody(req, up.socket, up.head) : await readBody(req);
    let body: unknown = undefined;
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = raw.toString('utf8');
      }
    }
    const call: FakeCall = { method, path, query, body, status: 0 };
    this.calls.push(call);
    this.onRequest?.({ method, path });

    const send = (status: number, payload?: unknown, contentType = 'application/json') => {
      call.status = status;
      const data = payload === undefined ? '' : contentType === 'application/json' ? JSON.stringify(payload) : String(payload);
      if (res) {
        res.writeHead(status, { 'Content-Type': contentType, 'Api-Version': API_VERSION, 'Content-Length': Buffer.byteLength(data) });
        res.end(data);
      } else if (up) {
        up.socket.end(
          `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: ${contentType}\r\nApi-Version: ${API_VERSION}\r\nContent-Length: ${Buffer.byteLength(data)}\r\nConnection: close\r\n\r\n${data}`,
        );
      }
    };
    const fail = (status: number, message: string) => send(status, { message });

    let m: RegExpExecArray | null;
    try {
      if (method === 'GET' && path === '/_ping') return send(200, 'OK', 'text/plain; charset=utf-8');
      if (method === 'GET' && path === '/version')
        return send(200, { ApiVersion: API_VERSION, MinAPIVersion: '1.24', Version: '27.0.0-fake', Os: 'linux', Arch: 'amd64' });
      if (method === 'GET' && path === '/info') return send(200, this.info());

      if (method === 'GET' && path === '/containers/json') {
        const filters = parseFilters(query.filters);
        if (typeof filters === 'string') return fail(400, filters);
        for (const k of Object.keys(filters)) if (!['label', 'status', 'name', 'id'].includes(k)) return fail(400, `invalid filter '${k}'`);
        const all = query.all === '1' || query.all === 'true';
        const list = [...this.containers.values()].filter((c) => {
          if (!all && !filters.status && c.State !== 'running') return false;
          if (filters.status && !filters.status.includes(c.State)) return false;
          if (filters.label && !filters.label.every((l) => labelMatches(c.Labels, l))) return false;
          if (filters.name && !filters.name.some((n) => c.Names.some((cn) => cn.slice(1).includes(n.replace(/^\//, ''))))) return false;
          if (filters.id && !filters.id.some((i) => c.Id.startsWith(i))) return false;
          return true;
        });
        return send(
          200,
          list.map((c) => this.summary(c)),
        );
      }
      if ((m = /^\/containers\/([^/]+)\/json$/.exec(path)) && method === 'GET') {
        const c = this.find(decodeURIComponent(m[1]!));
        if (!c) return fail(404, `No such container: ${m[1]}`);
        return send(200, this.inspect(c));
      }
      if ((m = /^\/containers\/([^/]+)\/(stop|start)$/.exec(path)) && method === 'POST') {
        const c = this.find(decodeURIComponent(m[1]!));
        if (!c) return fail(404, `No such container: ${m[1]}`);
        const name = c.Names[0]!.slice(1);
        if (m[2] === 'stop') {
          if (this.failStop.has(name)) return fail(this.stopStatus.get(name) ?? 500, `cannot stop container: ${name}: permission denied`);
          if (c.State !== 'running') return send(304);
          c.State = 'exited';
          c.Status = 'Exited (0) Less than a second ago';
          return send(204);
        }
        if (this.failStart.has(name)) return fail(500, `failed to create task for container: ${name}: mount source path does not exist`);
        if (c.State === 'running') return send(304);
        c.State = 'running';
        c.Status = 'Up Less than a second';
        return send(204);
      }
      if ((m = /^\/containers\/([^/]+)\/exec$/.exec(path)) && method === 'POST') {
        const c = this.find(decodeURIComponent(m[1]!));
        if (!c) return fail(404, `No such container: ${m[1]}`);
        if (c.State !== 'running') return fail(409, `container ${c.Id} is not running`);
        const b = (body ?? {}) as Record<string, unknown>;
        if (!Array.isArray(b.Cmd) || b.Cmd.length === 0) return fail(400, 'No exec command specified');
        const id = newId();
        this.execs.set(id, {
          ID: id,
          ContainerID: c.Id,
          Cmd: b.Cmd.map(String),
          Env: Array.isArray(b.Env) ? b.Env.map(String) : [],
          User: typeof b.User === 'string' ? b.User : '',
          Tty: b.Tty === true,
          AttachStdout: b.AttachStdout === true,
          AttachStderr: b.AttachStderr === true,
          Running: false,
          ExitCode: null,
          Pid: 0,
          started: false,
        });
        return send(201, { Id: id });
      }
      if ((m = /^\/exec\/([^/]+)\/start$/.exec(path)) && method === 'POST') {
        const e = this.execs.get(m[1]!);
        if (!e) return fail(404, `No such exec instance: ${m[1]}`);
        const c = this.containers.get(e.ContainerID);
        if (!c || c.State !== 'running') return fail(409, `container ${e.ContainerID} is not running`);
        if (e.started) return fail(409, `Exec command ${e.ID} is already running`);
        const b = (body ?? {}) as Record<string, unknown>;
        return this.startExec(e, c, b.Detach === true, res, up, call);
      }
      if ((m = /^\/exec\/([^/]+)\/json$/.exec(path)) && method === 'GET') {
        const e = this.execs.get(m[1]!);
        if (!e) return fail(404, `No such exec instance: ${m[1]}`);
        return send(200, {
          CanRemove: false,
          ContainerID: e.ContainerID,
          DetachKeys: '',
          ExitCode: e.ExitCode,
          ID: e.ID,
          OpenStderr: e.AttachStderr,
          OpenStdin: false,
          OpenStdout: e.AttachStdout,
          ProcessConfig: { arguments: e.Cmd.slice(1), entrypoint: e.Cmd[0], privileged: false, tty: e.Tty, user: e.User },
          Running: e.Running,
          Pid: e.Pid,
        });
      }

      if (path === '/services' || path.startsWith('/services/') || path === '/tasks') {
        if (this.swarm !== 'manager') {
          return fail(503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.');
        }
      }
      if (method === 'GET' && path === '/services') {
        const filters = parseFilters(query.filters);
        if (typeof filters === 'string') return fail(400, filters);
        const list = [...this.services.values()].filter((s) => {
          if (filters.label && !filters.label.every((l) => labelMatches(s.Spec.Labels ?? {}, l))) return false;
          if (filters.name && !filters.name.some((n) => s.Spec.Name.startsWith(n))) return false;
          if (filters.id && !filters.id.some((i) => s.ID.startsWith(i))) return false;
          return true;
        });
        return send(
          200,
          list.map((s) => structuredClone(s)),
        );
      }
      if ((m = /^\/services\/([^/]+)$/.exec(path)) && method === 'GET') {
        const s = this.findService(decodeURIComponent(m[1]!));
        if (!s) return fail(404, `service ${m[1]} not found`);
        return send(200, structuredClone(s));
      }
      if ((m = /^\/services\/([^/]+)\/update$/.exec(path)) && method === 'POST') {
        const s = this.findService(decodeURIComponent(m[1]!));
        if (!s) return fail(404, `service ${m[1]} not found`);
        if (!/^\d+$/.test(query.version ?? ''))
          return fail(400, `invalid service version '${query.version ?? ''}': strconv.ParseUint: parsing "${query.version ?? ''}": invalid syntax`);
        if (Number(query.version) !== s.Version.Index) return fail(500, 'rpc error: code = Unknown desc = update out of sequence');
        const spec = body as FakeService['Spec'];
        if (!spec || typeof spec !== 'object' || !spec.Name) return fail(400, 'invalid JSON: service spec with a Name expected');
        s.Spec = structuredClone(spec);
        s.Version = { Index: s.Version.Index + 7 };
        s.UpdatedAt = now();
        this.reconcile(s);
        return send(200, { Warnings: null });
      }
      if (method === 'GET' && path === '/tasks') {
        const filters = parseFilters(query.filters);
        if (typeof filters === 'string') return fail(400, filters);
        const list = this.tasks.filter((t) => {
          if (
            filters.service &&
            !filters.service.some((ref) => {
              const s = this.findService(ref);
              return s ? s.ID === t.ServiceID : false;
            })
          )
            return false;
          if (filters['desired-state'] && !filters['desired-state'].includes(t.DesiredState)) return false;
          if (filters.id && !filters.id.some((i) => t.ID.startsWith(i))) return false;
          return true;
        });
        return send(
          200,
          list.map((t) => structuredClone(t)),
        );
      }
      return fail(404, 'page not found');
    } catch (err) {
      return fail(500, (err as Error).message);
    }
  }

  private info(): unknown {
    const all = [...this.containers.values()];
    return {
      ID: 'FAKE:DOCK:ER00',
      Name: 'docker-fake',
      ServerVersion: '27.0.0-fake',
      OperatingSystem: 'Debian (fake)',
      Containers: all.length,
      ContainersRunning: all.filter((c) => c.State === 'running').length,
      ContainersPaused: all.filter((c) => c.State === 'paused').length,
      ContainersStopped: all.filter((c) => c.State !== 'running' && c.State !== 'paused').length,
      Swarm: {
        NodeID: this.swarm === 'inactive' ? '' : NODE_ID,
        NodeAddr: this.swarm === 'inactive' ? '' : '127.0.0.1',
        LocalNodeState: this.swarm === 'inactive' ? 'inactive' : 'active',
        ControlAvailable: this.swarm === 'manager',
        Error: '',
        RemoteManagers: null,
      },
    };
  }

  private summary(c: FakeContainer): unknown {
    return {
      Id: c.Id,
      Names: c.Names,
      Image: c.Image,
      ImageID: c.ImageID,
      Command: c.Command,
      Created: c.Created,
      Ports: [],
      Labels: c.Labels,
      State: c.State,
      Status: c.Status,
      HostConfig: { NetworkMode: 'bridge' },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    };
  }

  private inspect(c: FakeContainer): unknown {
    return {
      Id: c.Id,
      Created: new Date(c.Created * 1000).toISOString(),
      Path: 'sleep',
      Args: ['infinity'],
      State: {
        Status: c.State,
        Running: c.State === 'running',
        Paused: c.State === 'paused',
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: c.State === 'running' ? 4242 : 0,
        ExitCode: 0,
        Error: '',
        StartedAt: now(),
        FinishedAt: '0001-01-01T00:00:00Z',
      },
      Image: c.ImageID,
      Name: c.Names[0],
      RestartCount: 0,
      Config: { Hostname: c.Id.slice(0, 12), Image: c.Image, Labels: c.Labels, Env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`), WorkingDir: c.workDir },
      HostConfig: { NetworkMode: 'bridge' },
      Mounts: [],
    };
  }

  /** Bring a service's tasks to its replica count (after taskDelayMs, like a scheduler). */
  private reconcile(s: FakeService): void {
    const want = s.Spec.Mode?.Replicated ? Number(s.Spec.Mode.Replicated.Replicas ?? 0) : 1;
    const live = this.tasks.filter((t) => t.ServiceID === s.ID && t.DesiredState === 'running');
    if (live.length > want) {
      for (const t of live.slice(want)) {
        t.DesiredState = 'shutdown';
        this.later(() => {
          t.Status = { Timestamp: now(), State: 'shutdown', Message: 'shutdown' };
        });
      }
    } else {
      for (let i = live.length; i < want; i++) {
        const t = this.addTask(s.ID, i + 1, 'pending');
        this.later(() => {
          t.Status = { Timestamp: now(), State: 'running', Message: 'started' };
        });
      }
    }
  }

  private startExec(e: FakeExec, c: FakeContainer, detach: boolean, res: ServerResponse | null, up: { socket: Duplex } | null, call: FakeCall): void {
    e.started = true;
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root', HOSTNAME: c.Id.slice(0, 12), ...c.env };
    for (const kv of e.Env) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const ids = e.User ? resolveUser(e.User) : null;
    if (e.User && !ids) {
      // Docker starts the exec and the runtime then fails: exit code 126 with a message on the stream.
      e.Running = false;
      e.ExitCode = 126;
      const msg = Buffer.from(`unable to find user ${e.User}: no matching entries in passwd file\n`);
      return this.writeStream(res, up, call, detach, [frame(1, msg)], true);
    }
    const child = spawn(e.Cmd[0]!, e.Cmd.slice(1), {
      env,
      cwd: c.workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
    this.children.add(child);
    e.Running = true;
    e.Pid = child.pid ?? 0;
    let out: Duplex | ServerResponse | null = null;
    if (!detach) {
      if (up) {
        up.socket.write(
          `HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: ${API_VERSION}\r\n\r\n`,
        );
        out = up.socket;
      } else if (res) {
        res.writeHead(200, {
          'Content-Type': e.Tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream',
          'Api-Version': API_VERSION,
        });
        out = res;
      }
      call.status = up ? 101 : 200;
    } else {
      call.status = 200;
      res?.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 0, 'Api-Version': API_VERSION });
      res?.end();
      up?.socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
    }
    const forward = (type: 1 | 2, attached: boolean) => (chunk: Buffer) => {
      if (!out || !attached) return;
      out.write(e.Tty ? chunk : frame(type, chunk));
    };
    child.stdout.on('data', forward(1, e.AttachStdout));
    child.stderr.on('data', forward(2, e.AttachStderr));
    let finished = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      this.children.delete(child);
      e.Running = false;
      e.ExitCode = code;
      out?.end();
    };
    child.on('error', (err) => {
      // Like runc: a missing executable is exit code 127 (126 when not executable), reported on the stream.
      const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126;
      if (out)
        out.write(
          frame(1, Buffer.from(`OCI runtime exec failed: exec failed: unable to start container process: exec: "${e.Cmd[0]}": ${(err as Error).message}\n`)),
        );
      finish(code);
    });
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 + 15 : 1)));
  }

  private writeStream(res: ServerResponse | null, up: { socket: Duplex } | null, call: FakeCall, detach: boolean, frames: Buffer[], end: boolean): void {
    if (detach) {
      call.status = 200;
      res?.writeHead(200, { 'Content-Length': 0 });
      res?.end();
      up?.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (up) {
      call.status = 101;
      up.socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      for (const f of frames) up.socket.write(f);
      if (end) up.socket.end();
    } else if (res) {
      call.status = 200;
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
      for (const f of frames) res.write(f);
      if (end) res.end();
    }
  }
}

function statusText(status: number): string {
  return (
    (
      {
        200: 'OK',
        201: 'Created',
        204: 'No Content',
        304: 'Not Modified',
        400: 'Bad Request',
        404: 'Not Found',
        409: 'Conflict',
        500: 'Internal Server Error',
        503: 'Service Unavailable',
      } as Record<number, string>
    )[status] ?? 'Status'
  );
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The body of an upgrade request: Content-Length bytes from `head` and then the socket. */
function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<Buffer> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (!len) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    let buf = head;
    if (buf.length >= len) {
      resolve(buf.subarray(0, len));
      return;
    }
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= len) {
        socket.removeListener('data', onData);
        resolve(buf.subarray(0, len));
      }
    };
    socket.on('data', onData);
  });
}

/** uid/gid of a Docker `User` value: name, uid, name:group or uid:gid (null when unknown). */
function resolveUser(user: string): { uid: number; gid: number } | null {
  const [u, g] = user.split(':');
  try {
    const uid = /^\d+$/.test(u!) ? Number(u) : Number(execFileSync('id', ['-u', u!], { encoding: 'utf8' }).trim());
    let gid: number;
    if (g !== undefined) gid = /^\d+$/.test(g) ? Number(g) : Number(execFileSync('getent', ['group', g], { encoding: 'utf8' }).split(':')[2]);
    else gid = /^\d+$/.test(u!) ? uid : Number(execFileSync('id', ['-g', u!], { encoding: 'utf8' }).trim());
    return Number.isFinite(uid) && Number.isFinite(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}
