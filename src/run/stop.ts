/**
 * Stopping on SIGTERM/SIGINT within a bound (OFFSITE_STOP_TIMEOUT).
 *
 * First signal: the returned `signal` aborts (every run aborts its destinations, restarts
 * stopped containers, removes its temporary files and releases the lock), and a hard
 * deadline timer starts. The timer is unref'd: it never keeps the process alive, it only
 * ends a process that is still there at the deadline.
 * Second signal, or the deadline: exit at once with a failure status and a log line,
 * after releasing the lock file synchronously. Whatever could not be cancelled (a connect
 * in progress, a write or fsync blocked on a hung mount) is abandoned, not waited for.
 *
 * A blocked file-system call holds a libuv thread-pool thread, and `process.exit()` waits
 * for those threads at exit (uv_library_shutdown joins them): the process would hang in
 * exit. When such a call may be pending, the process ends itself with SIGKILL instead (its
 * status is then 137, still a failure).
 */
import { unlink } from 'node:fs';
import type { Logger } from '../log.ts';
import { formatDuration } from '../config/duration.ts';
import { releaseHeldLocksSync } from './lock.ts';

/** Exit status of a run ended by a signal (the run is reported failed). */
export const STOP_EXIT_CODE = 1;

// ------------------------------------------------------------------ files removed on a hard exit

const trackedFiles = new Set<string>();

/** A temporary file (on local disk: BACKUP_TMP_DIR) to remove if the process must exit at once. */
export function trackTempFile(path: string): void {
  trackedFiles.add(path);
}
export function untrackTempFile(path: string): void {
  trackedFiles.delete(path);
}

/** Resources that occupy a thread-pool thread while pending (a hung mount blocks them forever). */
const POOL_RESOURCE = /^(FSReq|FileHandle|GetAddrInfo|GetNameInfo|Zlib|Work|Random|PBKDF2|Scrypt|Hash|Cipher|Sign|Verify|Keygen|DiffieHellman|ECDH|HKDF)/;

function poolBusy(): boolean {
  try {
    return process.getActiveResourcesInfo().some((r) => POOL_RESOURCE.test(r));
  } catch {
    return true;
  }
}

/** How long a hard exit gives the removal of tracked files and a busy thread pool. */
const EXIT_GRACE_MS = 400;

/**
 * End the process now: release the lock (synchronously), remove tracked temporary files
 * (asynchronously: on a hung file system a synchronous call would hang the process; what
 * is not removed within EXIT_GRACE_MS the next run removes), then exit with `code`, or end
 * with SIGKILL when a thread-pool call is still pending (process.exit would wait for it).
 */
export function exitNow(code: number): void {
  releaseHeldLocksSync();
  let pending = trackedFiles.size;
  for (const p of trackedFiles)
    unlink(p, () => {
      pending--;
    });
  trackedFiles.clear();
  const until = Date.now() + EXIT_GRACE_MS;
  const tick = () => {
    const busy = poolBusy();
    if ((pending === 0 && !busy) || Date.now() >= until) {
      if (busy) process.kill(process.pid, 'SIGKILL');
      process.exit(code);
    }
    setTimeout(tick, 20);
  };
  tick();
}

// ------------------------------------------------------------------ the handler

export interface StopHandlerOptions {
  log: Logger;
  /** OFFSITE_STOP_TIMEOUT in ms. */
  timeoutMs: number;
  /** What is stopped, for the log: "the backup", "the daemon". */
  what: string;
  /** Replaces exitNow (tests). */
  exit?: (code: number) => void;
}

export interface StopHandler {
  /** Aborts on the first SIGTERM/SIGINT. */
  readonly signal: AbortSignal;
  /** Resolves with the signal's name on the first SIGTERM/SIGINT. */
  readonly received: Promise<string>;
  /** True once a signal arrived. */
  readonly stopping: boolean;
  /**
   * For work after the runs ended (notifications): aborts shortly before the hard
   * deadline, so they are best-effort within the bound. Undefined while not stopping.
   */
  lateSignal(): AbortSignal | undefined;
  /**
   * The work is done: with `code` as the exit status, end the process soon even if some
   * abandoned socket or timer would keep it alive. No-op unless stopping.
   */
  finish(code: number): void;
  dispose(): void;
}

export function installStopHandler(opts: StopHandlerOptions): StopHandler {
  const { log, timeoutMs, what } = opts;
  const exit = opts.exit ?? exitNow;
  const controller = new AbortController();
  let resolveReceived!: (sig: string) => void;
  const received = new Promise<string>((r) => {
    resolveReceived = r;
  });
  let deadline = 0;
  let hardTimer: NodeJS.Timeout | null = null;
  let late: AbortSignal | undefined;

  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.error({ signal: sig }, `second ${sig}: exiting at once; the run is abandoned and reported failed`);
      exit(STOP_EXIT_CODE);
      return;
    }
    deadline = Date.now() + timeoutMs;
    log.warn(
      { signal: sig, stopTimeout: formatDuration(timeoutMs) },
      `stopping (${sig}): aborting ${what}; exiting within OFFSITE_STOP_TIMEOUT (${formatDuration(timeoutMs)}), at once on a second signal`,
    );
    hardTimer = setTimeout(
      () => {
        log.error(
          { stopTimeout: formatDuration(timeoutMs) },
          `${what} did not stop within OFFSITE_STOP_TIMEOUT (${formatDuration(timeoutMs)}): exiting anyway, abandoning what could not be cancelled; the run is reported failed`,
        );
        exit(STOP_EXIT_CODE);
      },
      Math.max(timeoutMs / 2, timeoutMs - EXIT_GRACE_MS - 100),
    );
    hardTimer.unref();
    controller.abort(new Error(`received ${sig}`));
    resolveReceived(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  return {
    signal: controller.signal,
    received,
    get stopping() {
      return controller.signal.aborted;
    },
    lateSignal() {
      if (!controller.signal.aborted) return undefined;
      // leave a moment at the end for the exit itself
      late ??= AbortSignal.timeout(Math.max(1, deadline - Date.now() - Math.min(1000, timeoutMs / 4)));
      return late;
    },
    finish(code: number) {
      if (!controller.signal.aborted) return;
      // An abandoned connect or socket may keep the event loop alive: do not wait for it.
      // A thread-pool call finishing right now is given a moment (exitNow would SIGKILL).
      const until = Math.min(deadline, Date.now() + 1000);
      const tick = () => {
        if (poolBusy() && Date.now() < until) {
          setTimeout(tick, 50).unref();
          return;
        }
        exit(code);
      };
      setTimeout(tick, 100).unref();
    },
    dispose() {
      // While stopping, the handlers and the hard deadline stay (a second signal still exits
      // at once, releasing the lock); the timer is unref'd and only ends a process still there.
      if (controller.signal.aborted) return;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
