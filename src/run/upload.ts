/**
 * The upload and prune phases of a run.
 *
 * shipArchive: the archive is produced once.
 * - Staged (the default whenever a remote destination is involved): the archive is written
 *   once to a temporary file in tmpDir (BACKUP_TMP_DIR; temporary disk never exceeds one
 *   archive). Every destination's first attempt starts at once and reads the file as it
 *   grows (StagedFile.follow), so uploading overlaps archiving; each destination has its
 *   own retries, which re-read the file from the start (with the size, once the archive is
 *   complete), so one network blip never loses the backup. The file is removed at the end.
 *   If the archive fails, every upload is aborted (and leaves nothing); if every destination
 *   fails for good first, the archive is abandoned.
 * - Direct: the archive streams straight into the only destination, nothing is written to
 *   BACKUP_TMP_DIR. Used for a single local destination (its own temporary file is the
 *   staging; its failures are not transient) and, for a single remote destination, only
 *   when the user chose it (BACKUP_STAGING=false): the stream cannot be replayed, so the
 *   upload as a whole is tried once (the SDKs still retry single requests: multipart
 *   parts and blocks).
 *
 * A failing destination never cancels the others. Every upload attempt is watched:
 * when the destination stops taking data for `retry.timeoutMs` while data is waiting,
 * the attempt is aborted with a (transient) timeout.
 *
 * Sources are produced by a `SourcePlan` (direct stream, staged file); a streaming
 * fan-out (one archive stream teed to several destinations, no temp file) would be a
 * third plan with the same shape.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { noDestinationHint } from '../destinations/registry.ts';
import { Transform, pipeline, type Readable } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import type { Logger } from '../log.ts';
import type { ArchiveResult, ArchiveStream } from '../archive/index.ts';
import type { Destination, DestinationKind } from '../destinations/types.ts';
import type { DestinationResult } from './stats.ts';
import { UserError, errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';
import { DEFAULT_RETRY, DestinationTimeoutError, withRetry, type RetrySettings } from '../destinations/retry.ts';
import { planPrune, retentionEnabled, type RetentionPolicy } from '../retention/index.ts';
import { StagedFile } from './staged-file.ts';
import { offsiteTempName } from '../destinations/leftovers.ts';
import { trackTempFile, untrackTempFile } from './stop.ts';
import { DestinationError, NeedsSizeError } from '../destinations/errors.ts';

export interface ShipOptions {
  destinations: Destination[];
  /** Final backup file name. */
  name: string;
  archive: ArchiveStream;
  /** Where the archive is staged (BACKUP_TMP_DIR). */
  tmpDir: string;
  /**
   * BACKUP_STAGING: false streams the archive straight into a single destination (no
   * temporary disk, no whole-upload retries). Default true: staged whenever a remote
   * destination is involved. Several destinations are always staged.
   */
  staging?: boolean;
  /** Retry and timeout settings (job.retry); defaults when omitted. */
  retry?: RetrySettings;
  /**
   * Replace a backup of the same name on every destination, atomically (BACKUP_FILENAME
   * without time tokens); without it an existing name is refused. See UploadOptions.replace.
   */
  replace?: boolean;
  log: Logger;
  signal?: AbortSignal;
}

export interface ShipResult {
  /** One per destination, in the order given. `pruned` is 0 (see pruneDestinations). */
  results: DestinationResult[];
  /**
   * The archive's stats, or null when it was abandoned unfinished because every
   * destination failed while it was still being produced (single destination only).
   */
  archive: ArchiveResult | null;
}

/** A failure of the archive itself (not of a destination): the run fails in its archive phase. */
export class ArchiveFailedError extends Error {
  constructor(cause: unknown) {
    super(`archive failed: ${redact(errorMessage(cause))}`, { cause });
    this.name = 'ArchiveFailedError';
  }
}

/** Where each upload attempt gets its bytes from. */
interface SourcePlan {
  /** False when the source cannot be read again (a consumed live stream, a failed archive): no whole-upload retries. */
  canRepeat(): boolean;
  /**
   * A fresh source for one attempt, or null when the source cannot be produced again.
   * `withSize`: wait until the size is known (the archive is complete), if it can be.
   */
  open(withSize?: boolean): Promise<{ stream: Readable; size?: number; file?: string; written?: (bytes: number) => void } | null>;
  /** Called when reading the source itself failed (not when the destination gave up on it). */
  sourceFailed?(err: unknown): void;
  /** Set when the source can be read only once by design: the upload is tried once, and logs say why. */
  once?: string;
}

/**
 * Upload the archive to every destination. Resolves with one result per destination
 * (ok or not). Rejects only when the archive itself fails (ArchiveFailedError), when
 * staging in tmpDir fails, or when there is no destination.
 */
export async function shipArchive(opts: ShipOptions): Promise<ShipResult> {
  const { destinations, archive } = opts;
  if (destinations.length === 0) {
    archive.stream.destroy();
    archive.done.catch(() => {});
    throw new UserError('no destination is configured', noDestinationHint());
  }
  if (destinations.length === 1 && (opts.staging === false || destinations[0]!.name === 'Local')) return shipDirect(opts, destinations[0]!);
  return shipStaged(opts);
}

async function shipDirect(opts: ShipOptions, destination: Destination): Promise<ShipResult> {
  const { archive } = opts;
  let sourceError: unknown = null;
  let used = false;
  const plan: SourcePlan = {
    canRepeat: () => false,
    once: opts.staging === false ? 'streamed without staging (BACKUP_STAGING=false)' : 'streamed straight into the only destination',
    async open() {
      if (used) return null;
      used = true;
      // the archive's own stream: a destination that reports its writes lets the archive reuse their buffers
      return { stream: archive.stream, ...(archive.written ? { written: (n: number) => archive.written!(n) } : {}) };
    },
    sourceFailed(err) {
      sourceError ??= err;
    },
  };
  const archiveDone = archive.done.then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  const result = await uploadOne(destination, plan, opts);
  const a = await archiveDone;
  if (!a.ok) {
    // The archive broke (the upload failed because of it), or the upload failed first and the
    // archive was abandoned. Only the former is the archive's failure.
    if (sourceError || result.ok) throw new ArchiveFailedError(a.e);
    return { results: [result], archive: null };
  }
  return { results: [result], archive: a.r };
}

async function shipStaged(opts: ShipOptions): Promise<ShipResult> {
  const { archive, log, name } = opts;
  const path = join(opts.tmpDir, `.${offsiteTempName(name)}`);
  let file: StagedFile;
  try {
    file = await StagedFile.create(path);
    trackTempFile(path);
  } catch (e) {
    archive.stream.destroy();
    archive.done.catch(() => {});
    throw stagingError(opts.tmpDir, e);
  }
  // Aborts every upload when the archive (or the temporary file) fails.
  const archiveFailed = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, archiveFailed.signal]) : archiveFailed.signal;
  let abandoned = false;
  try {
    // Write the archive to the file; the uploads follow it as it grows.
    const writing = (async (): Promise<{ ok: true; r: ArchiveResult } | { ok: false; e: unknown }> => {
      // the file's writes report what they no longer hold: the archive reuses those output buffers
      const written = archive.written;
      const piped = pipe(archive.stream, file.writable(written ? (n) => written.call(archive, n) : undefined), { signal: opts.signal }).then(
        () => null,
        (e: unknown) => e ?? new Error('staging failed'),
      );
      const done = archive.done.then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      const [pipeError, a] = await Promise.all([piped, done]);
      let failure: unknown = null;
      if (!file.writeError && a.ok && !pipeError) {
        try {
          await file.complete();
        } catch (e) {
          file.writeError = e;
        }
      }
      if (file.writeError) failure = opts.signal?.aborted ? opts.signal.reason : stagingError(opts.tmpDir, file.writeError);
      else if (!a.ok) failure = abandoned ? a.e : new ArchiveFailedError(a.e);
      else if (pipeError) failure = opts.signal?.aborted ? opts.signal.reason : new ArchiveFailedError(pipeError);
      if (failure || !a.ok) {
        file.fail(failure);
        archiveFailed.abort(failure);
        return { ok: false, e: failure };
      }
      log.debug({ path, size: file.written }, 'archive staged for several destinations');
      return { ok: true, r: a.r };
    })();
    const plan: SourcePlan = {
      canRepeat: () => !file.isFailed,
      async open(withSize) {
        if (withSize) await file.settled;
        if (file.isFailed) throw file.error;
        // The size is known only once the archive is complete.
        // the file's path too: a destination may read ranges it has taken from the stream (S3 parts)
        // a destination that reports what it no longer holds (UploadOptions.written) lets the follower reuse those buffers
        const follower = file.follow();
        return {
          stream: follower,
          file: file.path,
          written: (bytes: number) => follower.written(bytes),
          ...(file.isComplete ? { size: file.written } : {}),
        };
      },
    };
    const uploads = Promise.all(opts.destinations.map((d) => uploadOne(d, plan, { ...opts, signal })));
    // Every destination failed for good while the archive was still being written: stop writing it.
    uploads.then(
      (rs) => {
        if (!file.isComplete && !file.isFailed && rs.every((r) => !r.ok)) {
          abandoned = true;
          archive.stream.destroy();
        }
      },
      () => {},
    );
    const [results, outcome] = await Promise.all([uploads, writing]);
    if (!outcome.ok) {
      if (abandoned) return { results, archive: null };
      throw outcome.e;
    }
    return { results, archive: outcome.r };
  } finally {
    await unlink(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') log.warn({ path }, `could not remove staged archive: ${errorMessage(e)}`);
    });
    untrackTempFile(path);
  }
}

function stagingError(tmpDir: string, cause: unknown): UserError {
  return new UserError(
    `could not stage the archive in ${tmpDir}: ${errorMessage(cause)}`,
    'The archive is written once to BACKUP_TMP_DIR so that failed uploads can be retried; give it room for one archive (or set BACKUP_STAGING=false to stream a single destination without retries).',
    { cause },
  );
}

/** Upload to one destination with retries; never throws. */
async function uploadOne(d: Destination, plan: SourcePlan, opts: ShipOptions): Promise<DestinationResult> {
  const retry = opts.retry ?? DEFAULT_RETRY;
  const started = Date.now();
  const log = opts.log.child({ destination: d.name });
  let bytes = 0;
  let attempts = 0;
  let withSize = false;
  // with `replace`: was there a backup of this name before (for the log; unknown when listing fails)
  const existed = opts.replace
    ? await d.list(opts.name).then(
        (os) => os.some((o) => o.name === opts.name),
        () => null,
      )
    : false;
  try {
    const out = await withRetry(
      async () => {
        attempts++;
        const src = await plan.open(withSize);
        if (!src) throw new Error('the archive stream was already consumed');
        const watch = watchProgress(src.stream, retry.timeoutMs, opts.signal, (e) => plan.sourceFailed?.(e));
        try {
          await d.upload(opts.name, watch.stream, {
            size: src.size,
            signal: watch.signal,
            ...(opts.replace ? { replace: true } : {}),
            ...(src.file !== undefined ? { file: src.file } : {}),
            ...(src.written ? { written: src.written } : {}),
          });
        } catch (err) {
          if (watch.stalled) {
            throw new DestinationTimeoutError(`no progress for ${Math.round(retry.timeoutMs / 1000)}s (BACKUP_DESTINATION_TIMEOUT)`);
          }
          // Started before the archive's size was known and the destination needs it (e.g. a multipart upload's
          // 10,000 parts): try again, once the archive is complete, with the size.
          if (src.size === undefined && !withSize && plan.canRepeat() && err instanceof NeedsSizeError) {
            withSize = true;
            throw new DestinationError(`${errorMessage(err)}; trying again with the archive's size once it is complete`, { cause: err, transient: true });
          }
          throw err;
        } finally {
          watch.stop();
          src.stream.destroy();
        }
        if (!watch.ended) throw new Error(`${d.name} finished before reading the whole archive`);
        return watch.bytes();
      },
      {
        settings: retry,
        log,
        what: `upload of ${opts.name} to ${d.name} ${d.location}`,
        signal: opts.signal,
        canRetry: () => plan.canRepeat(),
        ...(plan.once ? { once: plan.once } : {}),
      },
    );
    bytes = out.value;
    const durationMs = Date.now() - started;
    log.info({ location: d.location, bytes, durationMs, attempts: out.attempts }, `uploaded ${opts.name} to ${d.name} ${d.location}`);
    if (existed === true)
      log.info(
        { location: d.location, backup: opts.name },
        `replaced the previous backup ${opts.name} on ${d.name} ${d.location} (BACKUP_FILENAME has no time tokens)`,
      );
    return result(d, true, bytes, durationMs, out.attempts);
  } catch (err) {
    const message = redact(errorMessage(err));
    // reported once, in the run's summary (and the terminal's), with a hint
    log.debug({ location: d.location, attempts }, message);
    return result(d, false, bytes, Date.now() - started, Math.max(1, attempts), message);
  }
}

function result(d: Destination, ok: boolean, bytes: number, durationMs: number, attempts: number, error?: string): DestinationResult {
  const r: DestinationResult = { destination: d.name, location: d.location, ok, bytes, durationMs, attempts, pruned: 0 };
  if (error !== undefined) r.error = error;
  return r;
}

interface Watch {
  stream: Readable;
  signal: AbortSignal;
  /** True when the destination stopped taking data for longer than the timeout. */
  readonly stalled: boolean;
  readonly ended: boolean;
  bytes(): number;
  stop(): void;
}

/**
 * Pass `source` through and abort (via the returned signal) when the consumer has not
 * taken data for `timeoutMs` while data was waiting for it. Time spent waiting for the
 * source (a slow archiver) never counts as a stall. Chunks are passed on as they are
 * (no copies).
 */
export function watchProgress(source: Readable, timeoutMs: number, outer?: AbortSignal, onSourceError?: (err: unknown) => void): Watch {
  const ac = new AbortController();
  const signal = outer ? AbortSignal.any([outer, ac.signal]) : ac.signal;
  let lastPull = Date.now();
  let lastLength = 0;
  let ended = false;
  let abandoned = false;
  let stalled = false;
  let count = 0;
  const stream = new Transform({
    highWaterMark: 256 << 10,
    transform(chunk: Buffer, _enc, cb) {
      count += chunk.length;
      cb(null, chunk);
    },
    destroy(err, cb) {
      // Destroyed while the source is fine: the consumer gave up (its failure, not the source's).
      if (!source.errored) abandoned = true;
      cb(err);
    },
  });
  const read = stream._read.bind(stream);
  stream._read = (n: number) => {
    lastPull = Date.now();
    read(n);
  };
  stream.once('end', () => {
    ended = true;
  });
  source.once('error', (err) => {
    if (!abandoned) onSourceError?.(err);
  });
  pipeline(source, stream, () => {});
  const tick = Math.max(50, Math.min(5000, Math.floor(timeoutMs / 4)));
  const timer = setInterval(() => {
    if (ended || stream.destroyed) return;
    const waiting = stream.readableLength;
    if (waiting < lastLength) lastPull = Date.now(); // the consumer took some
    lastLength = waiting;
    if (waiting > 0 && Date.now() - lastPull > timeoutMs) {
      stalled = true;
      ac.abort(new DestinationTimeoutError(`no progress for ${Math.round(timeoutMs / 1000)}s`));
      clearInterval(timer);
    }
  }, tick);
  timer.unref();
  return {
    stream,
    signal,
    get stalled() {
      return stalled;
    },
    get ended() {
      return ended;
    },
    bytes: () => count,
    stop: () => clearInterval(timer),
  };
}

// ------------------------------------------------------------------ prune

/**
 * Retention per destination: only where the upload succeeded, never on destinations
 * listed in BACKUP_SKIP_BACKENDS_FROM_PRUNE. Fills `pruned` / `pruneNote` of `results`
 * in place and returns lines for RunStats.warnings (refusals to delete every backup,
 * failed prunes). A prune failure on one destination never affects the others.
 */
export async function pruneDestinations(
  destinations: Destination[],
  results: DestinationResult[],
  policy: RetentionPolicy,
  now: Date,
  justWritten: string | null,
  skipBackends: readonly DestinationKind[],
  log: Logger,
  retry: RetrySettings = DEFAULT_RETRY,
): Promise<string[]> {
  const warnings: string[] = [];
  const out = results;
  if (!retentionEnabled(policy)) return warnings;
  await Promise.all(
    destinations.map(async (d, i) => {
      const r = out[i] ?? out.find((x) => x.destination === d.name);
      if (!r) return;
      if (skipBackends.includes(d.name)) {
        r.pruneNote = 'skipped (BACKUP_SKIP_BACKENDS_FROM_PRUNE)';
        return;
      }
      if (!r.ok) {
        r.pruneNote = 'skipped because the upload failed';
        return;
      }
      const dlog = log.child({ destination: d.name });
      try {
        const listing = (await withRetry(() => d.list(policy.prefix), { settings: retry, log: dlog, what: `listing ${d.name} ${d.location}` })).value;
        const decision = planPrune(listing, policy, now, justWritten);
        for (const w of decision.warnings) {
          warnings.push(`${d.name}: ${w}`);
          dlog.warn(w);
        }
        if (decision.remove.length > 0) {
          await withRetry(() => d.remove(decision.remove), {
            settings: retry,
            log: dlog,
            what: `removing ${decision.remove.length} old backup(s) from ${d.name} ${d.location}`,
          });
          dlog.info(
            { removed: decision.remove.length, kept: decision.kept },
            `pruned ${decision.remove.length} file(s) from ${d.name} ${d.location}, kept ${decision.kept} backup(s)`,
          );
        }
        r.pruned = decision.backups.length - decision.kept;
        r.kept = decision.kept;
      } catch (err) {
        const message = redact(errorMessage(err));
        r.pruneNote = `prune failed: ${message}`;
        warnings.push(`${d.name}: prune failed: ${message}`);
        dlog.error(`prune failed: ${message}`);
      }
    }),
  );
  return warnings;
}
