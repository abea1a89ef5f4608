/**
 * Cron expressions in robfig/cron's dialect, as offen/docker-volume-backup parses them
 * (`cron.SecondOptional | Minute | Hour | Dom | Month | Dow | Descriptor`):
 * - 5 fields, or 6 with seconds first; names (JAN, mon); `?` in the day fields;
 *   day-of-month and day-of-week are ORed unless one starts with `*` or `?` (croner's default);
 * - descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly and `@every <Go duration>`;
 * - a `CRON_TZ=Zone ` or `TZ=Zone ` prefix sets the zone (otherwise TZ, the job's zone);
 * - an expression that never matches (offen's documented "never", `0 0 5 31 2 ?`) is valid and
 *   never fires.
 * The matching and the next-firing arithmetic are croner's; this module only translates the
 * prefix, the descriptors croner lacks (@every) and the never case.
 */
import { Cron } from 'croner';
import { parseDuration } from '../config/duration.ts';
import { quote } from '../errors.ts';

export interface CronSchedule {
  /** The expression as written. */
  expression: string;
  /** The zone the expression is evaluated in (its CRON_TZ=/TZ= prefix, else the default). */
  timezone: string;
  /** `never`: a valid expression no date matches. */
  kind: 'cron' | 'every' | 'never';
  /** For `@every`: the interval in milliseconds (whole seconds, as robfig truncates it). */
  everyMs?: number;
  /** The first firing strictly after `from`, or null when it never fires. */
  next(from?: Date): Date | null;
  /** The next `count` firings after `from` (fewer, or none, when it never fires). */
  nextRuns(count: number, from?: Date): Date[];
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 0 1 1 *',
  '@annually': '0 0 0 1 1 *',
  '@monthly': '0 0 0 1 * *',
  '@weekly': '0 0 0 * * 0',
  '@daily': '0 0 0 * * *',
  '@midnight': '0 0 0 * * *',
  '@hourly': '0 0 * * * *',
};

function checkZone(zone: string, input: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new Error(`${quote(input)}: unknown time zone ${quote(zone)} in the prefix; expected an IANA name such as Europe/Berlin`);
  }
}

/**
 * Parse a schedule; throws an Error with a message for the user when the expression is not valid
 * in robfig/cron's dialect. `defaultZone` is the job's TZ.
 */
export function parseCron(input: string, defaultZone: string): CronSchedule {
  let spec = input.trim();
  let timezone = defaultZone;
  const prefix = /^(CRON_TZ|TZ)=(\S*)(?:\s+|$)/.exec(spec);
  if (prefix) {
    if (!prefix[2]) throw new Error(`${quote(input)}: ${prefix[1]}= names no time zone`);
    checkZone(prefix[2], input);
    timezone = prefix[2];
    spec = spec.slice(prefix[0].length).trim();
    if (!spec) throw new Error(`${quote(input)}: nothing follows the ${prefix[1]}= prefix; expected a cron expression`);
  }
  const every = /^@every\s+(\S+)$/i.exec(spec);
  if (every) {
    const ms = parseDuration(every[1]!);
    if (ms === null || ms < 1000) throw new Error(`${quote(input)}: @every needs a duration of at least 1s, such as @every 6h or @every 1h30m`);
    // robfig truncates to whole seconds (it would also turn less than 1s into 1s: refused above)
    const everyMs = Math.floor(ms / 1000) * 1000;
    const next = (from = new Date()) => new Date(Math.floor(from.getTime() / 1000) * 1000 + everyMs);
    return {
      expression: input,
      timezone,
      kind: 'every',
      everyMs,
      next,
      nextRuns: (count, from = new Date()) => {
        const out: Date[] = [];
        let t = from;
        for (let i = 0; i < count; i++) {
          t = next(t);
          out.push(t);
        }
        return out;
      },
    };
  }
  let pattern: string;
  if (spec.startsWith('@')) {
    const d = DESCRIPTORS[spec.toLowerCase()];
    if (!d)
      throw new Error(
        `${quote(input)}: unknown descriptor ${quote(spec)}; expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>`,
      );
    pattern = d;
  } else {
    const fields = spec.split(/\s+/);
    if (fields.length < 5 || fields.length > 6) {
      throw new Error(
        `${quote(input)} is not a cron expression; expected 5 fields (minute hour day month weekday), 6 with seconds first, or a descriptor such as @daily`,
      );
    }
    pattern = spec;
  }
  let cron: Cron;
  try {
    // paused: parsing only; nothing is scheduled here
    cron = new Cron(pattern, { paused: true, timezone });
  } catch (e) {
    throw new Error(
      `${quote(input)} is not a valid cron expression (${(e as Error).message.replace(/^CronPattern: /, '')}); expected e.g. "0 2 * * *" or @daily`,
    );
  }
  const next = (from = new Date()) => cron.nextRun(from);
  const never = next() === null;
  return {
    expression: input,
    timezone,
    kind: never ? 'never' : 'cron',
    next,
    nextRuns: (count, from = new Date()) => (never ? [] : cron.nextRuns(count, from)),
  };
}

/**
 * The next `count` firings of a schedule after `from` (default now), in its zone: an empty list
 * for an expression that never fires. Throws on an invalid expression.
 */
export function nextFirings(expression: string, timezone: string, count: number, from?: Date): Date[] {
  return parseCron(expression, timezone).nextRuns(count, from);
}

export interface RunningSchedule {
  stop(): void;
  /** The next firing, or null when there is none. */
  next(): Date | null;
}

/**
 * Call `fire` at each firing of `schedule` until stopped. A `never` schedule starts nothing.
 * Overlap is the caller's business (`fire` is called even while a previous call still runs).
 */
export function startSchedule(schedule: CronSchedule, fire: () => void): RunningSchedule {
  if (schedule.kind === 'never') return { stop: () => {}, next: () => null };
  if (schedule.kind === 'every') {
    const ms = schedule.everyMs!;
    let nextAt = Date.now() + ms;
    const timer = setInterval(() => {
      nextAt = Date.now() + ms;
      fire();
    }, ms);
    return { stop: () => clearInterval(timer), next: () => new Date(nextAt) };
  }
  const pattern = schedule.expression.trim().replace(/^(CRON_TZ|TZ)=\S+\s+/, '');
  const job = new Cron(DESCRIPTORS[pattern.toLowerCase()] ?? pattern, { timezone: schedule.timezone }, () => fire());
  return { stop: () => job.stop(), next: () => job.nextRun() };
}
