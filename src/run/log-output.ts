/**
 * offen's `.Stats.LogOutput`: the log lines of one run, as its notification templates
 * receive them (offen's default body ends with them). Lines are taken from the run's own
 * logger (bindings `job` = the run's job, see runJob) through the log tap, so they are
 * already redacted and only at the levels LOG_LEVEL lets through; they are written like
 * offen's (Go slog text) lines: `time=... level=INFO msg="..." key=value`. Bounded: the
 * first MAX_LINES lines and MAX_BYTES bytes, then one line saying how many were left out.
 */
import { addLogTap } from '../log.ts';
import type { RunStats } from './stats.ts';

export const MAX_LINES = 1000;
export const MAX_BYTES = 256 * 1024;

const LEVELS: Record<number, string> = { 10: 'DEBUG', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'ERROR' };

const outputs = new WeakMap<RunStats, string>();

/** The log of the run these stats describe, or undefined when none was captured (e.g. a run made in a test without createLogger). */
export function runLogOutput(stats: RunStats): string | undefined {
  return outputs.get(stats);
}

/** Start collecting the lines logged for `job`; `stop(stats)` ends it and keeps the text for `runLogOutput(stats)`. */
export function captureRunLog(job: string): { stop(stats: RunStats): void } {
  const lines: string[] = [];
  let bytes = 0;
  let dropped = 0;
  const untap = addLogTap((level, bindings, args) => {
    if (bindings.job !== job) return;
    const line = formatLine(level, args);
    if (lines.length >= MAX_LINES || bytes + line.length + 1 > MAX_BYTES) {
      dropped++;
      return;
    }
    lines.push(line);
    bytes += line.length + 1;
  });
  return {
    stop(stats) {
      untap();
      if (dropped > 0) lines.push(`time=${new Date().toISOString()} level=WARN msg=${quote(`${dropped} more log line(s) left out`)}`);
      if (lines.length > 0) outputs.set(stats, `${lines.join('\n')}\n`);
    },
  };
}

function formatLine(level: number, args: unknown[]): string {
  const [first, second] = args;
  const fields = first && typeof first === 'object' && !Array.isArray(first) ? (first as Record<string, unknown>) : {};
  const msg = typeof first === 'string' ? first : typeof second === 'string' ? second : '';
  let out = `time=${new Date().toISOString()} level=${LEVELS[level] ?? 'INFO'} msg=${quote(msg)}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out += ` ${k}=${typeof v === 'string' ? quote(v) : typeof v === 'number' || typeof v === 'boolean' ? String(v) : quote(JSON.stringify(v) ?? '')}`;
  }
  return out;
}

/** Quoted as Go's slog text handler does: only when needed (empty, spaces, quotes, '=' or control characters). */
function quote(s: string): string {
  return s === '' || /[\s"=\\\x00-\x1f\x7f]/.test(s) ? JSON.stringify(s) : s;
}
