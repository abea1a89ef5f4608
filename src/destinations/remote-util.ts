/**
 * Small helpers shared by the remote destinations that write temporary names and run limited parallel work.
 */
import { offsiteTempName, isOffsiteTempName } from './leftovers.ts';

/**
 * A temporary name next to `name` (`<name>.offsite-<writer>-<time>-<hex>.tmp`, see
 * leftovers.ts): uploads go there first and are renamed when complete, so nothing is ever
 * visible under `name` half-written. Retention's isTemporaryName() recognises the form,
 * listings here leave such names out, and the next run removes stale ones.
 */
export function tempName(name: string): string {
  return offsiteTempName(name);
}

export function isTempName(name: string): boolean {
  return isOffsiteTempName(name);
}

/** Run fn over items with at most `limit` running at once; resolves when all settled, rejects with an AggregateError of all failures. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1)
    throw new AggregateError(errors, `${errors.length} of ${items.length} operations failed; first: ${(errors[0] as Error)?.message ?? String(errors[0])}`);
}

/** An AbortError like fetch's, carrying the signal's reason. */
export function abortError(signal: AbortSignal | undefined): Error {
  const reason = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error(reason instanceof Error ? `upload aborted: ${reason.message}` : 'upload aborted', { cause: reason });
  err.name = 'AbortError';
  return err;
}

/**
 * The abort wiring of an SDK upload: one AbortController, aborted by the caller's
 * signal or by an error of the source stream (which is remembered, so the upload
 * fails with the source's own error rather than the SDK's "aborted").
 */
export function uploadAbort(source: import('node:stream').Readable, signal?: AbortSignal) {
  const controller = new AbortController();
  let sourceError: unknown = null;
  const onAbort = () => controller.abort(signal?.reason);
  const onSourceError = (e: unknown) => {
    sourceError ??= e;
    controller.abort(e);
  };
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  source.once('error', onSourceError);
  return {
    controller,
    /** What a failed upload throws: the source's error or the caller's abort if there was one, else the SDK's own error. */
    failure(err: unknown): unknown {
      if (sourceError) return sourceError;
      if (signal?.aborted) return signal.reason ?? err;
      return err;
    },
    dispose(): void {
      signal?.removeEventListener('abort', onAbort);
      source.off('error', onSourceError);
    },
  };
}
