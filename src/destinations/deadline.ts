/**
 * Deadlines for destination operations: one mechanism shared by every destination.
 *
 * `guarded(opts, fn)` runs one operation (a request, an upload, a connect, an fs call)
 * with an idle deadline: when it makes no progress for `timeoutMs` (progress is
 * reported with `g.progress()`; an operation that reports none has a plain deadline of
 * `timeoutMs`), it is aborted:
 *   1. `g.signal` is aborted with a DestinationTimeoutError (SDKs that take an
 *      AbortSignal stop the request and close its socket);
 *   2. every `g.onAbort()` hook runs (destroy a socket, end an SSH connection, destroy
 *      a stream), for libraries that do not honour a signal everywhere;
 *   3. the returned promise rejects at once, whether or not the operation ever settles:
 *      an operation that cannot be cancelled (an fs call blocked on a hung mount) is
 *      abandoned, its late outcome ignored.
 * The caller's own signal (a run being stopped) aborts the same way, with its reason.
 *
 * `guardStream()` gives a download stream the same idle deadline: no data for
 * `timeoutMs` while the reader is waiting for some destroys it with a timeout error.
 */
import { PassThrough, type Readable } from 'node:stream';
import { DestinationTimeoutError } from './retry.ts';
import { abortError } from './remote-util.ts';
import { describeFailure } from './describe.ts';

export interface Guard {
  /** Aborted when the deadline passes (reason: DestinationTimeoutError) or the caller's signal aborts. */
  readonly signal: AbortSignal;
  /** The operation made progress (bytes sent or received, a request answered): the idle deadline starts again. */
  progress(): void;
  /** Run `fn` (once) when the operation is aborted: for what a signal cannot stop. Runs at once if already aborted. */
  onAbort(fn: () => void): void;
  /** True once the deadline passed. */
  readonly timedOut: boolean;
}

export interface GuardOptions {
  /** Idle deadline (BACKUP_DESTINATION_TIMEOUT). */
  timeoutMs: number;
  /** What is running, for the timeout message: `<kind> upload to <location>/<name>`. */
  what: string;
  /** The caller's signal: aborting it aborts the operation. */
  signal?: AbortSignal;
  /**
   * The last error a library retried internally during this operation, if it knows one
   * (an SDK that retries each request itself): a timeout then also says what was seen before it.
   */
  lastError?: () => unknown;
}

/** The message of a timeout, in the user's terms. */
export function timeoutMessage(what: string, timeoutMs: number): string {
  return `${what}: timed out after ${formatSeconds(timeoutMs)} with no progress (BACKUP_DESTINATION_TIMEOUT)`;
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
}

/** A (transient) timeout error with code ETIMEDOUT. */
export function timeoutError(what: string, timeoutMs: number, cause?: unknown): DestinationTimeoutError {
  return new DestinationTimeoutError(timeoutMessage(what, timeoutMs), { code: 'ETIMEDOUT', timeoutMs, cause });
}

/** Is this (or what caused it) one of our timeouts? */
export function isTimeout(err: unknown): err is DestinationTimeoutError {
  for (let e = err as { name?: string; cause?: unknown } | undefined, i = 0; e && typeof e === 'object' && i < 6; e = e.cause as typeof e, i++) {
    if (e instanceof DestinationTimeoutError || e.name === 'DestinationTimeoutError') return true;
  }
  return false;
}

/**
 * Run `fn` under an idle deadline (see the file comment). Resolves or rejects with fn's
 * outcome, or rejects with a DestinationTimeoutError / the caller's abort as soon as the
 * deadline passes or the caller aborts, without waiting for fn.
 */
export function guarded<T>(opts: GuardOptions, fn: (g: Guard) => Promise<T>): Promise<T> {
  const { timeoutMs, what, signal: outer } = opts;
  const ac = new AbortController();
  const hooks: (() => void)[] = [];
  let timedOut = false;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  let fail: (err: unknown) => void = () => {};

  const abort = (reason: unknown) => {
    if (ac.signal.aborted) return;
    ac.abort(reason);
    for (const h of hooks.splice(0)) {
      try {
        h();
      } catch {
        /* best effort */
      }
    }
    fail(reason);
  };
  const arm = () => {
    if (timer) clearTimeout(timer);
    if (settled || ac.signal.aborted) return;
    timer = setTimeout(() => {
      timedOut = true;
      const err = timeoutError(what, timeoutMs);
      const last = opts.lastError?.();
      if (last) {
        err.message += `; last error: ${describeFailure(last)}`;
        (err as { cause?: unknown }).cause = last;
      }
      abort(err);
    }, timeoutMs);
  };
  // a caller's signal that is itself a timeout (an SDK's own request timeout) reads as ours
  const outerReason = () => ((outer?.reason as { name?: string } | undefined)?.name === 'TimeoutError' ? timeoutError(what, timeoutMs) : abortError(outer));
  const onOuter = () => abort(outerReason());

  const g: Guard = {
    signal: ac.signal,
    progress: arm,
    onAbort(h) {
      if (ac.signal.aborted) {
        try {
          h();
        } catch {
          /* best effort */
        }
        return;
      }
      hooks.push(h);
    },
    get timedOut() {
      return timedOut;
    },
  };

  return new Promise<T>((resolve, reject) => {
    fail = (err) => {
      if (!settled) {
        settled = true;
        cleanup();
        reject(err);
      }
    };
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    };
    if (outer?.aborted) return fail(outerReason());
    outer?.addEventListener('abort', onOuter, { once: true });
    arm();
    let p: Promise<T>;
    try {
      p = fn(g);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (v) => {
        if (!settled) {
          settled = true;
          cleanup();
          resolve(v);
        }
      },
      (err) => {
        if (settled) return;
        // fn failed because we aborted it: report why we aborted, not the library's "aborted"
        settled = true;
        cleanup();
        reject(ac.signal.aborted ? ac.signal.reason : err);
      },
    );
  });
}

/**
 * The same idle deadline for a stream being read (a download): when the reader is
 * waiting for data and none arrives for `timeoutMs`, the stream fails with a
 * DestinationTimeoutError and `source` is destroyed (and `onAbort` runs: close the
 * connection). A slow reader never counts as a stall.
 */
export function guardStream(source: Readable, opts: { timeoutMs: number; what: string; onAbort?: () => void }): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let last = Date.now();
  let done = false;
  source.on('data', () => {
    last = Date.now();
  });
  source.once('error', (err) => {
    done = true;
    clearInterval(timer);
    // a library's own inactivity timeout reads like ours
    const e = err as { name?: string; code?: string };
    out.destroy(e?.name === 'TimeoutError' || e?.code === 'ETIMEDOUT' ? timeoutError(opts.what, opts.timeoutMs, err) : err);
  });
  source.once('end', () => {
    done = true;
    clearInterval(timer);
  });
  source.pipe(out);
  out.once('close', () => {
    clearInterval(timer);
    if (!done) source.destroy();
  });
  const tick = Math.max(25, Math.min(5000, Math.floor(opts.timeoutMs / 5)));
  const timer = setInterval(() => {
    if (done) return;
    // data is waiting for the reader: the reader is slow, not the server
    if (out.readableLength > 0 || out.writableLength > 0) {
      last = Date.now();
      return;
    }
    if (Date.now() - last > opts.timeoutMs) {
      done = true;
      clearInterval(timer);
      const err = timeoutError(opts.what, opts.timeoutMs);
      out.destroy(err);
      source.destroy(err);
      try {
        opts.onAbort?.();
      } catch {
        /* best effort */
      }
    }
  }, tick);
  return out;
}

/**
 * Pass `source` through, reporting each chunk the destination takes as progress and
 * counting the bytes: what an upload has sent (for "reset after N bytes" and the size
 * check before a rename/commit). While the destination has taken everything and waits
 * for the source (a slow archive), progress is reported too: only time during which data
 * was waiting for the destination counts against the deadline.
 */
export function metered(source: Readable, onProgress: () => void): { stream: Readable; bytes(): number } {
  let count = 0;
  const stream = new PassThrough({ highWaterMark: 256 << 10 });
  const idle = setInterval(() => {
    if (source.readableEnded || stream.destroyed) {
      clearInterval(idle);
      return;
    }
    if (stream.readableLength === 0 && stream.writableLength === 0 && source.readableLength === 0) onProgress();
  }, 200);
  idle.unref();
  stream.once('close', () => clearInterval(idle));
  const transform = stream._transform.bind(stream);
  stream._transform = (chunk: Buffer, enc, cb) => {
    count += chunk.length;
    onProgress();
    transform(chunk, enc, cb);
  };
  // the source failing or closing early fails the stream (a consumer waiting for more data must not wait forever)
  source.on('error', (err) => {
    if (!stream.destroyed) stream.destroy(err);
  });
  source.once('close', () => {
    if (source.readableEnded || stream.destroyed) return;
    stream.destroy(source.errored ?? Object.assign(new Error('the archive stream closed before it ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  });
  stream.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  source.pipe(stream);
  return { stream, bytes: () => count };
}
