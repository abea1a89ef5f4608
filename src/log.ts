import pino, { type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { lazy } from './lazy.ts';

/** Loaded only for LOG_FORMAT=pretty (or a terminal). */
const pinoPretty = lazy<typeof PinoPretty>('pino-pretty');
import { redact } from './redact.ts';
import { writeAbove } from './term.ts';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** 'json' (default off a TTY) or 'pretty' (default on a TTY). */
  format?: string;
  /** Destination stream fd (1 = stdout, 2 = stderr). */
  fd?: number;
}

/**
 * The process logger: pino JSON lines on stdout; readable lines on a TTY or
 * with LOG_FORMAT=pretty. Every message and string field is redacted.
 */
export function createLogger(opts: LogOptions = {}): Logger {
  const fd = opts.fd ?? 1;
  const isTty = fd === 2 ? process.stderr.isTTY : process.stdout.isTTY;
  const format = opts.format ?? (isTty ? 'pretty' : 'json');
  const level = opts.level ?? 'info';
  const hooks = {
    logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void, levelValue: number) {
      const redacted = args.map(redactValue);
      if (taps.size > 0) {
        const bindings = this.bindings();
        for (const tap of taps) {
          try {
            tap(levelValue, bindings, redacted);
          } catch {
            /* a tap never breaks logging */
          }
        }
      }
      method.apply(this, redacted);
    },
  };
  if (format === 'pretty') {
    // formatted in this thread, synchronously: lines stay in order with what the CLI prints
    // and are written above the progress line (src/term.ts), never into it
    const pretty = pinoPretty().prettyFactory({ colorize: isTty, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss', ignore: 'pid,hostname' });
    return pino({ level, hooks, base: undefined }, { write: (line: string) => writeAbove(fd, pretty(line)) });
  }
  return pino({ level, hooks, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd, sync: true }));
}

/** Sees every line a logger made by createLogger writes (already redacted): level, the logger's bindings, the arguments. */
export type LogTap = (level: number, bindings: Record<string, unknown>, args: unknown[]) => void;
const taps = new Set<LogTap>();

/** Watch log lines (the API keeps each run's lines); returns the function that stops watching. */
export function addLogTap(tap: LogTap): () => void {
  taps.add(tap);
  return () => {
    taps.delete(tap);
  };
}

function redactValue(v: unknown): unknown {
  if (typeof v === 'string') return redact(v);
  if (v instanceof Error) return { err: redact(v.message) };
  if (v && typeof v === 'object') {
    // Errors nested in the object would stringify as {} (their fields are not enumerable): keep what says what failed.
    const errors = (_k: string, x: unknown) =>
      x instanceof Error
        ? { type: x.name, message: x.message, ...((x as NodeJS.ErrnoException).code !== undefined ? { code: (x as NodeJS.ErrnoException).code } : {}) }
        : x;
    try {
      return JSON.parse(redact(JSON.stringify(v, errors)));
    } catch {
      return v;
    }
  }
  return v;
}

/** A logger that discards everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
