import { cleanEnv, makeValidator, EnvMissingError, type Spec } from 'envalid';
import { parseCron } from '../schedule/cron.ts';
import { quote, type ConfigIssue } from '../errors.ts';
import { parseDuration } from './duration.ts';
import { compileExclude, type ExcludePattern } from '../archive/exclude.ts';

export type Env = Record<string, string | undefined>;

/**
 * Validate one section of the environment with envalid, collecting every
 * problem into `issues` (never exiting, never printing). Returns the cleaned
 * values; a key that failed validation is absent.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function validateSection<S extends Record<string, any>>(
  env: Env,
  specs: S,
  issues: ConfigIssue[],
  where = '',
): { [K in keyof S]: S[K] extends { _parse: (input: string) => infer T } ? T : never } {
  const input: Record<string, string> = {};
  for (const k of Object.keys(specs)) {
    const v = env[k];
    // An empty value means "not set", as in offen (Go's envconfig treats "" as unset for defaults).
    if (v !== undefined && v !== '') input[k] = v;
  }
  const failed = new Set<string>();
  const cleaned = cleanEnv(input, specs, {
    reporter: ({ errors }) => {
      for (const [key, err] of Object.entries(errors)) {
        if (!err) continue;
        failed.add(key);
        const message = err instanceof EnvMissingError ? 'is required but not set' : (err as Error).message;
        issues.push({ variable: key, message: where ? `${message} (${where})` : message });
      }
    },
  }) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(specs)) {
    if (failed.has(k)) continue;
    try {
      out[k] = cleaned[k];
    } catch {
      /* absent */
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return out as any;
}

/** Go duration -> milliseconds. */
export const duration = makeValidator<number>((input: string) => {
  const ms = parseDuration(input);
  if (ms === null) throw new Error(`${quote(input)} is not a duration; expected Go's form such as 30s, 5m, 1h30m`);
  return boundedDuration(input, ms);
});

/**
 * The longest duration any setting takes: 2^31-1 ms (about 24.8 days), the longest a Node
 * timer waits. A longer one would not wait longer but fire at once (Node clamps it to 1 ms).
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

function boundedDuration(input: string, ms: number): number {
  if (Math.abs(ms) > MAX_DURATION_MS) throw new Error(`${quote(input)} is too long; expected at most 596h (24 days)`);
  return ms;
}

/** Non-negative Go duration. */
export const positiveDuration = makeValidator<number>((input: string) => {
  const ms = parseDuration(input);
  if (ms === null) throw new Error(`${quote(input)} is not a duration; expected Go's form such as 30s, 5m, 1h30m`);
  if (ms < 0) throw new Error(`${quote(input)} is negative; expected a duration of 0s or more`);
  return boundedDuration(input, ms);
});

/** Whole number (may be negative), strictly parsed. */
export const integer = makeValidator<number>((input: string) => {
  if (!/^[+-]?\d+$/.test(input.trim())) throw new Error(`${quote(input)} is not a whole number`);
  const n = parseInt(input, 10);
  // beyond 2^53 a number is no longer exact (99999999999999999999 would become 1e20)
  if (!Number.isSafeInteger(n)) throw new Error(`${quote(input)} is too large`);
  return n;
});

/** Whole number >= 0. */
export const nonNegativeInt = makeValidator<number>((input: string) => {
  if (!/^\+?\d+$/.test(input.trim())) throw new Error(`${quote(input)} is not a whole number of 0 or more`);
  const n = parseInt(input, 10);
  if (!Number.isSafeInteger(n)) throw new Error(`${quote(input)} is too large`);
  return n;
});

/** Boolean in Go's strconv.ParseBool forms plus yes/no. */
export const boolean = makeValidator<boolean>((input: string) => {
  const v = input.trim().toLowerCase();
  if (['1', 't', 'true', 'yes', 'y', 'on'].includes(v)) return true;
  if (['0', 'f', 'false', 'no', 'n', 'off'].includes(v)) return false;
  throw new Error(`${quote(input)} is not a boolean; expected true or false`);
});

/**
 * A regular expression (JavaScript syntax, compatible with Go's RE2 for common patterns).
 * Go's leading flag group `(?i)`, `(?s)`, `(?m)` (and combinations) becomes JavaScript flags.
 */
/** A Go regexp (RE2 syntax, as offen reads it): see src/archive/exclude.ts. */
export const regexp = makeValidator<ExcludePattern>((input: string) => {
  try {
    return compileExclude(input);
  } catch (e) {
    throw new Error(`${quote(input)} is not a valid Go (RE2) regular expression: ${(e as Error).message}`);
  }
});

/**
 * Cron expression in robfig/cron's dialect (offen's): 5 or 6 fields (seconds first), `?` in the
 * day fields, descriptors, `@every <duration>`, a `CRON_TZ=Zone ` / `TZ=Zone ` prefix. An
 * expression that never matches is valid (offen's "never" for jobs run only by hand).
 */
export const cronExpression = makeValidator<string>((input: string) => {
  parseCron(input, 'UTC');
  return input.trim();
});

/** IANA time zone name. */
export const timeZone = makeValidator<string>((input: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: input });
    return input;
  } catch {
    throw new Error(`${quote(input)} is not a known time zone; expected an IANA name such as UTC or Europe/Berlin`);
  }
});

/** Comma-separated list, trimmed, empties dropped. */
export const list = makeValidator<string[]>((input: string) =>
  input
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Exact choice (case-insensitive input, canonical output). */
export function oneOf<T extends string>(choices: readonly T[]) {
  return makeValidator<T>((input: string) => {
    const found = choices.find((c) => c.toLowerCase() === input.trim().toLowerCase());
    if (!found) throw new Error(`${quote(input)} is not one of ${choices.join(', ')}`);
    return found;
  });
}

export type { Spec };
