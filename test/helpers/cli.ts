import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The command under test: the sources, or OFFSITE_TEST_CLI (e.g. the image's bundle, `npm run bundle` then OFFSITE_TEST_CLI=dist/offsite.mjs). */
export const CLI = process.env.OFFSITE_TEST_CLI ? resolve(process.env.OFFSITE_TEST_CLI) : fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** A private work dir with an empty conf.d, lock file and health file, so tests never share state. */
export function isolatedEnv(extra: Record<string, string> = {}): { dir: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-test-'));
  mkdirSync(join(dir, 'conf.d'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    OFFSITE_CONF_DIR: join(dir, 'conf.d'),
    OFFSITE_LOCK_FILE: join(dir, 'offsite.lock'),
    OFFSITE_HEALTH_FILE: join(dir, 'health.json'),
    OFFSITE_STATE_DIR: join(dir, 'state'),
    OFFSITE_DOTENV: '/dev/null',
    LOG_FORMAT: 'json',
    ...extra,
  };
  return { dir, env };
}

export function runCli(args: string[], env: Record<string, string>, cwd?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

// Children a test started and did not see exit: a failed assertion before the test's own
// kill() must not leave a daemon running, which would keep the test file (and the suite)
// waiting forever.
const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

export function startCli(args: string[], env: Record<string, string>, cwd?: string): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Everything a child writes to stdout and stderr so far. */
export function collect(child: ChildProcess): () => string {
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  return () => out;
}

/** Polls `cond` until it holds; fails after `ms` with what it waited for and the child's output. */
export async function waitFor(cond: () => boolean, ms: number, what: string, log: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  out: string;
  /** Milliseconds from spawn to the child's streams closing. */
  elapsed: number;
}

/**
 * The CLI as a child, without blocking this process's event loop (runCli's spawnSync would
 * stall the servers and recorders a test runs in-process). Resolves once the child has exited
 * and its output is complete; killed with SIGKILL after `timeoutMs` (default 120 s).
 */
export async function runCliAsync(args: string[], env: Record<string, string>, opts: { timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  const started = Date.now();
  const child = startCli(args, env, opts.cwd);
  let stdout = '';
  let stderr = '';
  let out = '';
  // decoded as a stream: a character split across two chunks stays whole
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d) => {
    stdout += d;
    out += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
    out += d;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  return { code, signal, stdout, stderr, out, elapsed: Date.now() - started };
}

const LISTENING = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** `offsite daemon` started and serving: its control plane's URL, its output so far, and a stop that waits for the exit. */
export async function startDaemon(
  env: Record<string, string>,
  opts: { timeoutMs?: number } = {},
): Promise<{ child: ChildProcess; url: string; output: () => string; stop: () => Promise<void> }> {
  const child = startCli(['daemon'], env);
  const output = collect(child);
  await waitFor(() => LISTENING.test(output()), opts.timeoutMs ?? 60_000, 'the HTTP server', output);
  const url = LISTENING.exec(output())![1]!;
  return {
    child,
    url,
    output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
