/**
 * Destination checks (`offsite check`, and the daemon at start): is the destination
 * reachable, are the credentials accepted, may offsite write there? A probe file is
 * written, listed and removed. Each check is bounded by CHECK_TIMEOUT_MS (or
 * BACKUP_DESTINATION_TIMEOUT when shorter); a check never throws, it reports.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Destination, DestinationKind } from './types.ts';
import { errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';
import { hintFor } from '../run/hints.ts';

export const CHECK_TIMEOUT_MS = 60_000;

export interface CheckResult {
  destination: DestinationKind;
  location: string;
  ok: boolean;
  durationMs: number;
  error?: string;
  hint?: string;
}

/** A name no backup, temporary file or prune ever matches. */
export function probeName(): string {
  return `.offsite-check-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** The check of a destination without its own: write a probe through upload(), list it, remove it. */
export async function probeByUpload(d: Destination, signal?: AbortSignal): Promise<void> {
  const name = probeName();
  const body = Buffer.from(`offsite destination check ${new Date().toISOString()}\n`);
  await d.upload(name, Readable.from([body]), { size: body.length, signal });
  let failure: unknown = null;
  try {
    const found = await d.list(name);
    if (!found.some((o) => o.name === name)) throw new Error(`the probe file ${name} was written but is not listed`);
  } catch (e) {
    failure = e;
  }
  try {
    await d.remove([name]);
  } catch (e) {
    if (!failure) throw new Error(`the probe file ${name} was written but cannot be removed: ${errorMessage(e)}`, { cause: e });
  }
  if (failure) throw failure;
}

/** Check one destination within the time limit; never throws. */
export async function checkDestination(d: Destination, timeoutMs = CHECK_TIMEOUT_MS, signal?: AbortSignal): Promise<CheckResult> {
  const started = Date.now();
  const limit = Math.max(1000, Math.min(timeoutMs, CHECK_TIMEOUT_MS));
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => {
      const e = new Error(`no answer within ${Math.round(limit / 1000)}s`);
      controller.abort(e);
      reject(e);
    }, limit);
  });
  try {
    await Promise.race([d.check ? d.check(controller.signal) : probeByUpload(d, controller.signal), timeout]);
    return { destination: d.name, location: d.location, ok: true, durationMs: Date.now() - started };
  } catch (e) {
    const error = redact(errorMessage(e));
    const hint = hintFor(d.name, error);
    return { destination: d.name, location: d.location, ok: false, durationMs: Date.now() - started, error, ...(hint ? { hint } : {}) };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Check every destination concurrently, results in the given order. */
export function checkDestinations(ds: readonly Destination[], timeoutMs?: number, signal?: AbortSignal): Promise<CheckResult[]> {
  return Promise.all(ds.map((d) => checkDestination(d, timeoutMs, signal)));
}

/** `ok    <kind> <location> (0.4s)` / `FAIL  <kind> <location>: error` and its hint. */
export function formatCheck(r: CheckResult, job?: string): string {
  const where = `${job ? `${job}: ` : ''}${r.destination} ${r.location}`;
  if (r.ok) return `ok    ${where} (${(r.durationMs / 1000).toFixed(1)}s)`;
  return `FAIL  ${where}: ${r.error}${r.hint ? `\n      hint: ${r.hint}` : ''}`;
}
