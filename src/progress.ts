/**
 * Progress of a backup or restore: files and bytes done of the total the walk
 * (or the manifest) counted, percentage, rate and ETA. Formatting is pure;
 * `followProgress` samples a source on a timer (the terminal's status line
 * every 0.5 s, the daemon's log every 30 s).
 */
import { formatBytes } from './notify/messages.ts';
import type { ArchiveStream } from './archive/index.ts';

export interface ProgressSample {
  files: number;
  bytes: number;
  total?: { files: number; bytes: number } | null;
}

/** `1h02m`, `3m05s`, `42s`. */
export function formatEta(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}

/** Bytes per second over a sliding window of samples (steadier than since-start when the speed changes). */
export class RateMeter {
  private readonly samples: Array<{ t: number; bytes: number }> = [];
  private readonly windowMs: number;
  constructor(windowMs = 10_000) {
    this.windowMs = windowMs;
  }
  add(t: number, bytes: number): void {
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowMs) this.samples.shift();
  }
  /** null until two samples at least 1 s apart. */
  rate(): number | null {
    if (this.samples.length < 2) return null;
    const a = this.samples[0]!;
    const b = this.samples[this.samples.length - 1]!;
    const dt = b.t - a.t;
    if (dt < 1000) return null;
    return Math.max(0, (b.bytes - a.bytes) / (dt / 1000));
  }
}

/** Milliseconds left at this rate, or null when unknown. */
export function etaMs(p: ProgressSample, bytesPerSecond: number | null): number | null {
  if (!p.total || bytesPerSecond === null || bytesPerSecond <= 0) return null;
  return (Math.max(0, p.total.bytes - p.bytes) / bytesPerSecond) * 1000;
}

const n = (v: number) => v.toLocaleString('en-US');

/**
 * `db: 1,200/5,000 files, 1.2 GiB/4.0 GiB (30%), 45 MiB/s, ETA 1m10s`.
 * Without totals: `db: 1,200 files, 1.2 GiB, 45 MiB/s`.
 */
export function formatProgress(label: string, p: ProgressSample, bytesPerSecond: number | null): string {
  const parts: string[] = [];
  const t = p.total;
  if (t) {
    const pct = t.bytes > 0 ? Math.min(100, Math.floor((p.bytes / t.bytes) * 100)) : t.files > 0 ? Math.min(100, Math.floor((p.files / t.files) * 100)) : 100;
    parts.push(`${n(p.files)}/${n(t.files)} files`, `${formatBytes(p.bytes)}/${formatBytes(t.bytes)} (${pct}%)`);
  } else {
    parts.push(`${n(p.files)} files`, formatBytes(p.bytes));
  }
  if (bytesPerSecond !== null) parts.push(`${formatBytes(bytesPerSecond)}/s`);
  const eta = etaMs(p, bytesPerSecond);
  if (eta !== null) parts.push(`ETA ${formatEta(eta)}`);
  return `${label}: ${parts.join(', ')}`;
}

/**
 * Sample `read` every `intervalMs` and hand the formatted line to `emit`; the
 * returned function stops it. The first line comes after one interval.
 */
export function followProgress(
  label: string,
  read: () => ProgressSample | null | undefined,
  intervalMs: number,
  emit: (line: string, p: ProgressSample, bytesPerSecond: number | null) => void,
  now: () => number = Date.now,
): () => void {
  const meter = new RateMeter(Math.max(10_000, intervalMs * 2));
  const start = now();
  meter.add(start, 0);
  const timer = setInterval(() => {
    const p = read();
    if (!p) return;
    meter.add(now(), p.bytes);
    const rate = meter.rate();
    emit(formatProgress(label, p, rate), p, rate);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Follow an archive being written until it is complete (or failed). */
export function followArchive(
  label: string,
  a: ArchiveStream,
  intervalMs: number,
  emit: (line: string, p: ProgressSample, bytesPerSecond: number | null) => void,
): () => void {
  const stop = followProgress(
    label,
    () => {
      const p = a.progress?.();
      return p ? { files: p.files, bytes: p.bytesRead, total: p.total } : null;
    },
    intervalMs,
    emit,
  );
  void a.done.then(stop, stop);
  return stop;
}

/** How often the daemon (no terminal) logs the progress of a long backup. */
export const LOG_PROGRESS_MS = 30_000;
