import type Dockerode from 'dockerode';
import type { JobConfig } from '../config/index.ts';
import { UserError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { noHooks, type HookContext, type RunHooks } from '../run/hooks.ts';
import type { RunStats } from '../run/stats.ts';
import { runShellCommand } from './command.ts';
import { parseContainers, type ContainersConfig } from './config.ts';
import { connectDocker, describeEndpoint, resolveEndpoint, DEFAULT_DOCKER_SOCKET } from './docker.ts';
import { runLabelCommands, type ExecFailure, type LifecyclePhase } from './exec.ts';
import { StopController } from './stop.ts';

export interface RunHooksOptions {
  /** A Docker client to use instead of DOCKER_HOST / the default socket (tests, embedding). */
  docker?: Dockerode;
  /** Socket looked for when DOCKER_HOST is unset (default /var/run/docker.sock). */
  defaultSocket?: string;
  /** Poll interval for Swarm task counts and exec exit codes (default 1s / 50ms). */
  pollMs?: number;
  /** Host name that identifies offsite's own container (default os.hostname()). */
  selfHostname?: string;
}

let announcedNoDocker = false;

/** Record a failure that must not stop the run (restart, post command): the run ends as failed. */
export function recordFailure(stats: RunStats, message: string, log: Logger): void {
  log.error(message);
  stats.warnings.push(message);
  if (!stats.error) stats.error = { phase: 'post', message };
  stats.status = 'failure';
}

/**
 * The run's hooks for one job: BACKUP_PRE_COMMAND / BACKUP_POST_COMMAND, the
 * exec labels of other containers, and stopping labelled containers and
 * Swarm services during the archive phase.
 *
 * Order around the archive: pre command, archive-pre labels, stop; then right
 * after the archive is written: restart, archive-post labels, post command.
 * `finish` restarts whatever is still stopped, whatever happened.
 * Never rejects: a problem found here fails the run in archivePre.
 */
export async function createRunHooks(job: JobConfig, log: Logger, opts: RunHooksOptions = {}): Promise<RunHooks> {
  let cfg: ContainersConfig;
  try {
    cfg = job.containers ?? defaultConfig(job);
  } catch (e) {
    return {
      ...noHooks,
      async archivePre() {
        throw e;
      },
    };
  }
  let docker: Dockerode | null = opts.docker ?? null;
  let where = 'the given Docker client';
  /** A connection that could not even be set up (unreadable TLS files): the run fails before archiving. */
  let connectError: unknown = null;
  if (!docker) {
    const endpoint = resolveEndpoint(cfg.docker, opts.defaultSocket ?? DEFAULT_DOCKER_SOCKET);
    if (endpoint) {
      where = describeEndpoint(endpoint);
      try {
        docker = connectDocker(endpoint, cfg.dockerApiVersion);
        log.debug({ docker: where }, 'Docker found: stop-during-backup and exec labels are on');
      } catch (e) {
        connectError = e;
      }
    } else if (!announcedNoDocker) {
      announcedNoDocker = true;
      log.info(`no Docker socket at ${opts.defaultSocket ?? DEFAULT_DOCKER_SOCKET} and DOCKER_HOST is unset: stopping containers and exec labels are off`);
    }
  }
  const stopper = docker
    ? new StopController(docker, {
        stopLabel: cfg.stopLabel,
        noRestartLabel: cfg.noRestartLabel,
        serviceTimeoutMs: cfg.stopServiceTimeoutMs,
        log,
        pollMs: opts.pollMs,
        selfHostname: opts.selfHostname,
      })
    : null;

  /** Docker failures other than our own UserErrors become one clear UserError naming the endpoint. */
  const dockerFailure = (e: unknown, what: string, signal: AbortSignal): unknown => {
    if (e instanceof UserError || signal.aborted) return e;
    return new UserError(
      `${what}: Docker at ${where} failed: ${errorMessage(e).trim()}`,
      'check that the Docker socket is mounted into offsite (or DOCKER_HOST is right) and that the Docker daemon runs',
    );
  };

  const execOpts = (ctx: HookContext, stopOnFailure: boolean) => ({
    execLabel: cfg.execLabel,
    forwardOutput: cfg.execForwardOutput,
    archivePath: ctx.archivePath,
    log,
    signal: ctx.signal,
    stopOnFailure,
    pollMs: opts.pollMs !== undefined ? Math.min(opts.pollMs, 50) : undefined,
  });

  const pre = async (phase: LifecyclePhase, ctx: HookContext): Promise<void> => {
    if (!docker) return;
    let failures: ExecFailure[];
    try {
      failures = await runLabelCommands(docker, phase, 'pre', execOpts(ctx, true));
    } catch (e) {
      throw dockerFailure(e, `${phase}-pre commands`, ctx.signal);
    }
    const f = failures[0];
    if (f) throw new UserError(f.message, `the ${phase} step was not run; fix the command or remove the label from container ${f.container}`);
  };

  const post = async (phase: LifecyclePhase, ctx: HookContext): Promise<void> => {
    if (!docker) return;
    let failures: ExecFailure[];
    try {
      failures = await runLabelCommands(docker, phase, 'post', execOpts(ctx, false));
    } catch (e) {
      recordFailure(ctx.stats, errorMessage(dockerFailure(e, `${phase}-post commands`, ctx.signal)), log);
      return;
    }
    for (const f of failures) recordFailure(ctx.stats, f.message, log);
  };

  const command = async (variable: 'BACKUP_PRE_COMMAND' | 'BACKUP_POST_COMMAND', cmd: string, ctx: HookContext): Promise<string | null> => {
    log.info({ command: variable }, `running ${variable}`);
    const env = { ...process.env, ...job.env, COMMAND_RUNTIME_ARCHIVE_FILEPATH: ctx.archivePath };
    let r;
    try {
      r = await runShellCommand(cmd, { env, log, variable, signal: ctx.signal });
    } catch (e) {
      return `${variable} could not be started: ${errorMessage(e)}`;
    }
    if (r.exitCode === 0) return null;
    const how = r.exitCode === null ? `was killed by ${r.signal ?? 'a signal'}` : `exited with code ${r.exitCode}`;
    return `${variable} ${how}${r.tail ? `: ${r.tail}` : ''}`;
  };

  // archivePost may still be restarting when finish runs (the run does not wait for it on every path)
  let restarting: Promise<void> = Promise.resolve();
  const restartNow = (ctx: HookContext): Promise<void> => {
    const next = restarting.then(async () => {
      if (!stopper || !stopper.hasPending) return;
      const errors = await stopper.restart();
      ctx.stats.containersRestarted = stopper.restarted;
      for (const e of errors) recordFailure(ctx.stats, e, log);
    });
    restarting = next.catch(() => {});
    return next;
  };

  return {
    preArchive: docker !== null || connectError !== null || Boolean(cfg.preCommand),
    async archivePre(ctx) {
      if (connectError) throw connectError;
      if (cfg.preCommand) {
        const failed = await command('BACKUP_PRE_COMMAND', cfg.preCommand, ctx);
        ctx.signal.throwIfAborted();
        if (failed) throw new UserError(failed, 'the archive was not made; fix BACKUP_PRE_COMMAND or unset it');
      }
      await pre('archive', ctx);
      if (stopper) {
        try {
          await stopper.stop(ctx.signal);
        } catch (e) {
          throw dockerFailure(e, 'stopping containers', ctx.signal);
        } finally {
          ctx.stats.containersStopped = stopper.stopped;
        }
      }
    },
    async archivePost(ctx) {
      await restartNow(ctx);
      await post('archive', ctx);
      if (cfg.postCommand) {
        const failed = await command('BACKUP_POST_COMMAND', cfg.postCommand, ctx);
        if (failed) recordFailure(ctx.stats, failed, log);
      }
    },
    processPre: (ctx) => pre('process', ctx),
    processPost: (ctx) => post('process', ctx),
    copyPre: (ctx) => pre('copy', ctx),
    copyPost: (ctx) => post('copy', ctx),
    prunePre: (ctx) => pre('prune', ctx),
    prunePost: (ctx) => post('prune', ctx),
    async finish(ctx) {
      try {
        await restartNow(ctx);
      } catch (e) {
        recordFailure(ctx.stats, `restarting stopped containers failed: ${errorMessage(e)}`, log);
      }
    },
  };
}

function defaultConfig(job: JobConfig): ContainersConfig {
  const cfg = parseContainers(job.env ?? {}, []);
  if (!cfg) throw new UserError('the container settings of this job are invalid', 'run `offsite config` to see the problems');
  return cfg;
}
