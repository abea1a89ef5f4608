import type Dockerode from 'dockerode';
import { parse } from 'shell-quote';
import type { Logger } from '../log.ts';
import { dockerError } from './docker.ts';
import { OutputSink } from './output.ts';
import { LABEL_PREFIX, containerName } from './labels.ts';

export type LifecyclePhase = 'archive' | 'process' | 'copy' | 'prune';
export type LifecycleStep = 'pre' | 'post';

export interface ExecOptions {
  /** EXEC_LABEL: when set, only containers with docker-volume-backup.exec-label=<this>. */
  execLabel: string;
  /** EXEC_FORWARD_OUTPUT: output lines at info level (else debug). */
  forwardOutput: boolean;
  /** COMMAND_RUNTIME_ARCHIVE_FILEPATH given to the command. */
  archivePath: string;
  log: Logger;
  signal?: AbortSignal;
  /** Stop at the first failing command (pre steps) instead of running them all (post steps). */
  stopOnFailure: boolean;
  /** Poll interval while waiting for the exec's exit code to appear. */
  pollMs?: number;
}

export interface ExecFailure {
  container: string;
  command: string;
  /** Exit code, or null when the command could not be run at all. */
  exitCode: number | null;
  message: string;
}

/** The label holding a phase's command, e.g. docker-volume-backup.archive-pre. */
export function commandLabel(phase: LifecyclePhase, step: LifecycleStep): string {
  return `${LABEL_PREFIX}${phase}-${step}`;
}

/**
 * The argv Docker should run for a label's command. Like offen, a command is
 * split into words by shell quoting rules and run directly (so it works in
 * images without a shell); a command using shell syntax (pipes, redirections,
 * `&&`, globs, comments) is run with `/bin/sh -c` instead.
 */
export function commandArgv(command: string): string[] {
  const tokens = parse(command, (name: string) => `$${name}`);
  if (tokens.length > 0 && tokens.every((t) => typeof t === 'string')) return tokens as string[];
  return ['/bin/sh', '-c', command];
}

function shortCommand(command: string): string {
  const c = command.replace(/\s+/g, ' ').trim();
  return c.length > 160 ? `${c.slice(0, 157)}...` : c;
}

/**
 * Run the `<phase>-<step>` label commands of every running container that has
 * one (filtered by EXEC_LABEL), one container after another in name order.
 * Returns the failures (empty when all exited 0).
 */
export async function runLabelCommands(docker: Dockerode, phase: LifecyclePhase, step: LifecycleStep, opts: ExecOptions): Promise<ExecFailure[]> {
  const label = commandLabel(phase, step);
  const labels = [label];
  // offen's deprecated names for the archive step
  if (phase === 'archive') labels.push(`${LABEL_PREFIX}exec-${step}`);
  const found = new Map<string, Dockerode.ContainerInfo>();
  for (const l of labels) {
    const filters: string[] = [l];
    if (opts.execLabel) filters.push(`${LABEL_PREFIX}exec-label=${opts.execLabel}`);
    const list = await docker.listContainers({ filters: { label: filters }, abortSignal: opts.signal } as Dockerode.ContainerListOptions);
    for (const c of list) if (!found.has(c.Id)) found.set(c.Id, c);
  }
  const targets = [...found.values()].sort((a, b) => (containerName(a) < containerName(b) ? -1 : containerName(a) > containerName(b) ? 1 : 0));
  const failures: ExecFailure[] = [];
  for (const c of targets) {
    opts.signal?.throwIfAborted();
    const usedLabel = c.Labels[label] !== undefined ? label : `${LABEL_PREFIX}exec-${step}`;
    const command = c.Labels[usedLabel] ?? '';
    if (!command.trim()) continue;
    const user = c.Labels[`${usedLabel}.user`] ?? '';
    const name = containerName(c);
    opts.log.info({ container: name, label: usedLabel }, `running ${phase}-${step} command in container ${name}`);
    const failure = await runOne(docker, c.Id, name, command, user, usedLabel, opts);
    if (failure) {
      failures.push(failure);
      if (opts.stopOnFailure) break;
    }
  }
  return failures;
}

async function runOne(
  docker: Dockerode,
  id: string,
  name: string,
  command: string,
  user: string,
  label: string,
  opts: ExecOptions,
): Promise<ExecFailure | null> {
  const shown = shortCommand(command);
  const level = opts.forwardOutput ? 'info' : 'debug';
  const out = new OutputSink((line) => opts.log[level]({ container: name, stream: 'stdout' }, line));
  const err = new OutputSink((line) => opts.log[level]({ container: name, stream: 'stderr' }, line));
  let execId = '';
  try {
    const exec = await docker.getContainer(id).exec({
      Cmd: commandArgv(command),
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Env: [`COMMAND_RUNTIME_ARCHIVE_FILEPATH=${opts.archivePath}`],
      ...(user ? { User: user } : {}),
      abortSignal: opts.signal,
    });
    execId = exec.id;
    const stream = await exec.start({ hijack: true, stdin: false, Detach: false, Tty: false, abortSignal: opts.signal });
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (e?: Error) => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        if (e) reject(e);
        else resolve();
      };
      const onAbort = () => {
        stream.destroy();
        done(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      docker.modem.demuxStream(stream, out, err);
      stream.on('end', () => {
        stream.destroy();
        done();
      });
      stream.on('close', () => done());
      stream.on('error', (e: Error) => done(e));
    });
    out.flushPartial();
    err.flushPartial();
    const exitCode = await waitExitCode(exec, opts);
    if (exitCode === 0) return null;
    const tail = err.tail() || out.tail();
    const message = `${label} command "${shown}" in container ${name} exited with code ${exitCode ?? 'unknown'}${tail ? `: ${tail}` : ''}`;
    return { container: name, command: shown, exitCode, message };
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    const message = `${label} command "${shown}" in container ${name} could not be run${execId ? '' : ' (exec not created)'}: ${dockerError(e)}`;
    return { container: name, command: shown, exitCode: null, message };
  }
}

/** The exec's exit code once Docker reports it finished (the stream can end a moment before). */
async function waitExitCode(exec: Dockerode.Exec, opts: ExecOptions): Promise<number | null> {
  const pollMs = opts.pollMs ?? 50;
  for (let i = 0; i < 200; i++) {
    const info = await exec.inspect({ abortSignal: opts.signal } as object);
    if (!info.Running) return typeof info.ExitCode === 'number' ? info.ExitCode : null;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return null;
}
