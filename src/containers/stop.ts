import { hostname } from 'node:os';
import type Dockerode from 'dockerode';
import { UserError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { formatDuration } from '../config/duration.ts';
import { dockerError, statusOf } from './docker.ts';
import { dependencyOrder } from './order.ts';
import { STOP_LABEL, NO_RESTART_LABEL, SWARM_SERVICE_ID, SWARM_SERVICE_NAME, containerName } from './labels.ts';

export interface StopOptions {
  /** Value of the stop-during-backup label to match. */
  stopLabel: string;
  /** Value of the stop-during-backup-no-restart label to match. */
  noRestartLabel: string;
  /** Longest wait for a Swarm service to reach its replica count. */
  serviceTimeoutMs: number;
  log: Logger;
  /** Poll interval while waiting for Swarm tasks (default 1s, like offen). */
  pollMs?: number;
  /** This process's host name (default os.hostname()): in a container, the short id of offsite's own container. */
  selfHostname?: string;
}

interface StoppedContainer {
  id: string;
  name: string;
  restart: boolean;
  /** 'waiting' until its stop request is sent, 'stopping' while it runs, then 'stopped' or 'failed' (state unknown). */
  state: 'waiting' | 'stopping' | 'stopped' | 'failed';
}

interface ScaledService {
  id: string;
  name: string;
  replicas: number;
  restart: boolean;
}

/**
 * Stops the labelled containers and scales the labelled Swarm services to 0
 * for the archive phase, and brings them back. Every container is remembered
 * before its stop request is sent, so whatever happens afterwards (a failed
 * stop, an abort, an exception) `restart()` starts it again.
 */
export class StopController {
  private readonly docker: Dockerode;
  private readonly opts: StopOptions;
  /** Containers to bring back, in start order (dependencies first). */
  private pending: StoppedContainer[] = [];
  private services: ScaledService[] = [];
  stopped = 0;
  restarted = 0;

  constructor(docker: Dockerode, opts: StopOptions) {
    this.docker = docker;
    this.opts = opts;
  }

  /** True while something stopped by this controller has not been brought back. */
  get hasPending(): boolean {
    return this.pending.length > 0 || this.services.length > 0;
  }

  /**
   * Stop the labelled containers (dependents first) and scale labelled
   * services to 0. Throws a UserError on the first failure; whatever was
   * stopped by then is still restarted by `restart()`.
   */
  async stop(signal?: AbortSignal): Promise<void> {
    const { log } = this.opts;
    const info = await this.docker.info();
    const swarm = info?.Swarm ?? {};
    const swarmActive = swarm.LocalNodeState === 'active';
    const swarmManager = swarmActive && swarm.ControlAvailable === true;

    const all = await this.docker.listContainers({});
    const toStop = await this.docker.listContainers({ filters: { label: [`${STOP_LABEL}=${this.opts.stopLabel}`] } });
    const noRestart = await this.docker.listContainers({ filters: { label: [`${NO_RESTART_LABEL}=${this.opts.noRestartLabel}`] } });

    const targets = new Map<string, { id: string; name: string; labels: Record<string, string>; restart: boolean }>();
    for (const c of toStop) targets.set(c.Id, { id: c.Id, name: containerName(c), labels: c.Labels ?? {}, restart: true });
    for (const c of noRestart) targets.set(c.Id, { id: c.Id, name: containerName(c), labels: c.Labels ?? {}, restart: false });

    // Never stop offsite's own container (Docker names its hostname after the short container id).
    const self = this.opts.selfHostname ?? hostname();
    if (/^[0-9a-f]{12}$/.test(self)) {
      for (const [id, t] of targets) {
        if (id.startsWith(self)) {
          log.warn({ container: t.name }, "offsite's own container carries a stop label; it is not stopped");
          targets.delete(id);
        }
      }
    }

    // A Swarm task's container is replaced by Swarm when stopped: the label belongs on the service.
    if (swarmActive) {
      for (const t of targets.values()) {
        if (t.labels[SWARM_SERVICE_ID]) {
          const svc = t.labels[SWARM_SERVICE_NAME] ?? t.labels[SWARM_SERVICE_ID];
          throw new UserError(
            `container ${t.name} is labelled to stop but is a task of Swarm service ${svc}; Swarm would replace it at once`,
            `put the ${STOP_LABEL} label on the service (deploy.labels in a stack file) instead of the container`,
          );
        }
      }
    }

    const services: ScaledService[] = [];
    if (swarmManager) {
      const found = new Map<string, ScaledService>();
      const add = async (labelFilter: string, restart: boolean) => {
        const list = await this.docker.listServices({ filters: { label: [labelFilter] } } as Dockerode.ServiceListOptions);
        for (const s of list) {
          const name = s.Spec?.Name ?? s.ID;
          const replicas = s.Spec?.Mode?.Replicated?.Replicas;
          if (typeof replicas !== 'number') {
            throw new UserError(
              `Swarm service ${name} is labelled to stop but is not in replicated mode, so it cannot be scaled to 0`,
              `remove the ${STOP_LABEL} label from the global service ${name}`,
            );
          }
          found.set(s.ID, { id: s.ID, name, replicas, restart });
        }
      };
      await add(`${STOP_LABEL}=${this.opts.stopLabel}`, true);
      await add(`${NO_RESTART_LABEL}=${this.opts.noRestartLabel}`, false);
      services.push(...[...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
    } else if (swarmActive) {
      log.debug('this Docker node is a Swarm worker: labelled services can only be scaled from a manager');
    }

    if (targets.size === 0 && services.length === 0) return;

    const { startOrder, cycle } = dependencyOrder(
      [...targets.values()],
      all.map((c) => ({ id: c.Id, name: containerName(c), labels: c.Labels ?? {} })),
    );
    if (cycle.length) log.warn({ containers: cycle }, 'containers depend on each other in a cycle; stopping them in name order');
    const stopOrder = [...startOrder].reverse();
    log.info(
      { containers: stopOrder.map((c) => c.name), services: services.map((s) => s.name) },
      `stopping ${stopOrder.length} of ${all.length} running container(s)${services.length ? ` and scaling ${services.length} service(s) to 0` : ''} for the backup`,
    );

    // Remember everything first, in start order, so restart() knows them even if a stop fails midway.
    this.pending = startOrder.map((c) => ({ id: c.id, name: c.name, restart: c.restart, state: 'waiting' as const }));
    for (const c of stopOrder) {
      signal?.throwIfAborted();
      const entry = this.pending.find((p) => p.id === c.id)!;
      entry.state = 'stopping';
      try {
        // No abort signal here: a stop Docker has begun must be known to finish before we move on.
        await this.docker.getContainer(c.id).stop();
        entry.state = 'stopped';
        this.stopped++;
        log.debug({ container: c.name }, 'container stopped');
      } catch (e) {
        if (statusOf(e) === 304) {
          // It stopped by itself since it was listed: it was not running, so it is not ours to start.
          this.pending = this.pending.filter((p) => p !== entry);
          log.info({ container: c.name }, 'container was already stopped; it will be left stopped');
          continue;
        }
        const status = statusOf(e);
        if (status !== undefined && status >= 400 && status < 500) {
          // Refused before anything happened (Docker's 404, a socket proxy's 403): the container
          // still runs as it did, so it is not started "again" (that would only fail the same way).
          this.pending = this.pending.filter((p) => p !== entry);
        } else entry.state = 'failed';
        const restarted = 'the containers stopped so far are started again';
        throw new UserError(
          `could not stop container ${c.name}: ${dockerError(e)}`,
          status === 403
            ? `the backup was not made; Docker refused the request: a Docker socket proxy in front of it (DOCKER_HOST) must allow POST and CONTAINERS${this.stopped > 0 ? `; ${restarted}` : ''}`
            : `the backup was not made; ${restarted}`,
        );
      }
    }

    for (const s of services) {
      signal?.throwIfAborted();
      this.services.push(s);
      try {
        await this.scale(s.id, 0);
      } catch (e) {
        const status = statusOf(e);
        // refused before anything changed (a socket proxy's 403): it still runs, nothing to scale back
        if (status !== undefined && status >= 400 && status < 500) this.services = this.services.filter((x) => x !== s);
        throw new UserError(
          `could not scale Swarm service ${s.name} to 0: ${dockerError(e)}`,
          status === 403
            ? 'the backup was not made; Docker refused the request: a Docker socket proxy in front of it (DOCKER_HOST) must allow POST, SERVICES and TASKS'
            : 'the backup was not made; stopped containers and services are started again',
        );
      }
    }
    if (services.length) {
      const waits = await Promise.allSettled(services.map((s) => this.awaitRunning(s, 0, signal)));
      const failed = waits.find((w) => w.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) throw failed.reason;
      this.stopped += services.length;
    }
  }

  /**
   * Start everything that was stopped (dependencies first) and scale services
   * back. Never throws; returns one message per failure.
   */
  async restart(): Promise<string[]> {
    const { log } = this.opts;
    const errors: string[] = [];
    const pending = this.pending;
    this.pending = [];
    const left: string[] = [];
    for (const c of pending) {
      if (c.state === 'waiting') continue;
      if (!c.restart) {
        if (c.state === 'stopped') left.push(c.name);
        continue;
      }
      try {
        await this.docker.getContainer(c.id).start();
        if (c.state === 'stopped') this.restarted++;
        log.debug({ container: c.name }, 'container started');
      } catch (e) {
        // Already running: ours if we had stopped it (something else started it), else it never stopped.
        if (statusOf(e) === 304) {
          if (c.state === 'stopped') this.restarted++;
          continue;
        }
        errors.push(`could not start container ${c.name} again: ${dockerError(e)}`);
      }
    }
    if (left.length) log.info({ containers: left }, `${left.length} container(s) labelled ${NO_RESTART_LABEL} left stopped`);

    const services = this.services;
    this.services = [];
    const back = services.filter((s) => s.restart);
    const scaled: ScaledService[] = [];
    for (const s of back) {
      try {
        await this.scale(s.id, s.replicas);
        scaled.push(s);
      } catch (e) {
        errors.push(`could not scale Swarm service ${s.name} back to ${s.replicas}: ${dockerError(e)}`);
      }
    }
    const waits = await Promise.allSettled(scaled.map((s) => this.awaitRunning(s, s.replicas)));
    for (const w of waits) {
      if (w.status === 'rejected') errors.push((w.reason as Error).message);
      else this.restarted++;
    }
    if (services.length > back.length)
      log.info({ services: services.filter((s) => !s.restart).map((s) => s.name) }, 'services labelled no-restart left at 0 replicas');
    if (pending.length || services.length) {
      log.info({ restarted: this.restarted, errors: errors.length }, errors.length ? 'restarted containers with errors' : 'restarted the stopped containers');
    }
    return errors;
  }

  private async scale(id: string, replicas: number): Promise<void> {
    const svc = this.docker.getService(id);
    const current = await svc.inspect();
    const spec = current.Spec;
    if (!spec?.Mode?.Replicated) throw new Error('the service is not in replicated mode');
    spec.Mode.Replicated.Replicas = replicas;
    const res = await svc.update({ _query: { version: current.Version.Index }, _body: spec } as unknown as object);
    for (const w of (res as { Warnings?: string[] | null } | null)?.Warnings ?? []) this.opts.log.warn({ service: spec.Name }, w);
  }

  /** Wait until the service has exactly `count` running tasks, polling like offen (every second). */
  private async awaitRunning(s: ScaledService, count: number, signal?: AbortSignal): Promise<void> {
    const pollMs = this.opts.pollMs ?? 1000;
    const deadline = Date.now() + this.opts.serviceTimeoutMs;
    for (;;) {
      const tasks = await this.docker.listTasks({ filters: { service: [s.id] } } as object);
      const running = tasks.filter((t) => (t as { Status?: { State?: string } }).Status?.State === 'running').length;
      if (running === count) return;
      if (Date.now() >= deadline) {
        throw new UserError(
          `Swarm service ${s.name} did not reach ${count} running task(s) within ${formatDuration(this.opts.serviceTimeoutMs)} (it has ${running})`,
          'raise BACKUP_STOP_SERVICE_TIMEOUT or check the service with docker service ps',
        );
      }
      signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, deadline - Date.now()))));
    }
  }
}
