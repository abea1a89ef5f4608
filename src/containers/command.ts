import type { Logger } from '../log.ts';
import { OutputSink } from './output.ts';

export interface CommandResult {
  /** Exit code, or null when killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines of stderr (or stdout when stderr was empty), for messages. */
  tail: string;
}

/**
 * Run `command` with `/bin/sh -c` in offsite's own container (BACKUP_PRE_COMMAND,
 * BACKUP_POST_COMMAND). Output goes to the log line by line. An abort kills
 * the whole process group.
 */
export function runShellCommand(
  command: string,
  opts: { env: Record<string, string | undefined>; log: Logger; variable: string; signal?: AbortSignal },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
    // node:child_process (with dgram, net handles) is loaded by the first command, not at every start
    const child = process.getBuiltinModule('node:child_process').spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out = new OutputSink((line) => opts.log.info({ command: opts.variable, stream: 'stdout' }, line));
    const err = new OutputSink((line) => opts.log.info({ command: opts.variable, stream: 'stderr' }, line));
    child.stdout.pipe(out);
    child.stderr.pipe(err);
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    };
    if (opts.signal?.aborted) kill();
    opts.signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', kill);
      reject(e);
    });
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', kill);
      out.flushPartial();
      err.flushPartial();
      resolve({ exitCode: code, signal: sig, tail: err.tail() || out.tail() });
    });
  });
}
