/**
 * Retention by count and calendar: restic's `forget --keep-*` rules
 * (restic internal/data/snapshot_policy.go, doc/060_forget.rst), re-implemented.
 *
 * Pure: times in, decisions out. Calendar buckets are taken in the given IANA time zone.
 */
import { zonedParts } from '../archive/filename.ts';

/** A calendar duration as restic writes it: `1y2m3d4h` (years, months, days, hours). */
export interface CalendarDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

export const COUNT_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type CountRule = (typeof COUNT_RULES)[number];

/** Counts: 0 = rule off, -1 = unlimited. `within`: null = off. */
export interface KeepPolicy {
  last: number;
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
  within: CalendarDuration | null;
}

export const EMPTY_KEEP_POLICY: KeepPolicy = Object.freeze({ last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, within: null });

/** Why a backup is kept. */
export type KeepReason =
  | {
      rule: CountRule;
      /** This is the rule's n-th kept backup (1 = newest). */
      n: number;
      /** The rule's count; -1 = unlimited. */
      of: number;
      /** Kept as the oldest backup because the rule had count left at the end (restic >= 0.16). */
      oldest: boolean;
    }
  | { rule: 'within'; within: CalendarDuration };

export interface Decision<T> {
  item: T;
  keep: boolean;
  /** Empty when removed. In rule order: within, last, hourly, daily, weekly, monthly, yearly. */
  reasons: KeepReason[];
}

/** True when the policy keeps nothing at all (every count 0 and no `within`). */
export function isEmptyPolicy(p: KeepPolicy): boolean {
  return COUNT_RULES.every((r) => p[r] === 0) && (p.within === null || isZeroDuration(p.within));
}

export function isZeroDuration(d: CalendarDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** restic's spelling: `1y2m3d4h`, zero parts left out. */
export function formatCalendarDuration(d: CalendarDuration): string {
  let s = '';
  if (d.years) s += `${d.years}y`;
  if (d.months) s += `${d.months}m`;
  if (d.days) s += `${d.days}d`;
  if (d.hours) s += `${d.hours}h`;
  return s || '0h';
}

/**
 * Parse restic's duration: numbers each followed by a unit, y (years), m (months), d (days),
 * h (hours), e.g. `1y2m3d4h`, `14d`, `36h`. Each unit at most once, whole non-negative numbers.
 * Returns null when invalid.
 */
export function parseCalendarDuration(input: string): CalendarDuration | null {
  const s = input.trim();
  if (s === '') return null;
  const d: CalendarDuration = { years: 0, months: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  const re = /(\d{1,6})([ymdh])/y;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return null;
    const unit = m[2]!;
    if (seen.has(unit)) return null;
    seen.add(unit);
    const n = Number(m[1]);
    if (unit === 'y') d.years = n;
    else if (unit === 'm') d.months = n;
    else if (unit === 'd') d.days = n;
    else d.hours = n;
    pos = re.lastIndex;
  }
  return d;
}

/** `daily 3/7`, `oldest monthly 3/3`, `last 12/unlimited`, `within 1y2m`. */
export function formatReason(r: KeepReason): string {
  if (r.rule === 'within') return `within ${formatCalendarDuration(r.within)}`;
  return `${r.oldest ? 'oldest ' : ''}${r.rule} ${r.n}/${r.of < 0 ? 'unlimited' : r.of}`;
}

/** A readable account of a policy: `last 10, daily 7, weekly 4, monthly unlimited, within 1y`. */
export function describePolicy(p: KeepPolicy): string {
  const parts: string[] = [];
  for (const r of COUNT_RULES) if (p[r] !== 0) parts.push(`${r} ${p[r] < 0 ? 'unlimited' : p[r]}`);
  if (p.within && !isZeroDuration(p.within)) parts.push(`within ${formatCalendarDuration(p.within)}`);
  return parts.join(', ') || 'nothing';
}

/** Calendar fields of an instant in a zone, as bucket keys (one integer per rule). */
interface Buckets {
  hour: number;
  day: number;
  week: number;
  month: number;
  year: number;
}

function bucketsOf(ms: number, timeZone: string): Buckets {
  const p = zonedParts(new Date(ms), timeZone);
  const day = p.year * 10000 + p.month * 100 + p.day;
  return { hour: day * 100 + p.hour, day, week: isoWeekKey(p.year, p.month, p.day), month: p.year * 100 + p.month, year: p.year };
}

/** ISO 8601 year * 100 + week (weeks Monday to Sunday; week 1 holds the year's first Thursday). */
export function isoWeekKey(year: number, month: number, day: number): number {
  const d = new Date(Date.UTC(year, month - 1, day));
  const dow = d.getUTCDay() || 7; // Monday 1 .. Sunday 7
  d.setUTCDate(d.getUTCDate() + 4 - dow); // the Thursday of this week decides its year
  const isoYear = d.getUTCFullYear();
  const week = Math.floor((d.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 / 7) + 1;
  return isoYear * 100 + week;
}

/**
 * `latest` minus a calendar duration, as Go's t.AddDate(-y, -m, -d).Add(-h hours) in the zone:
 * the calendar part on the wall clock (overflow normalised: Mar 31 - 1m = Mar 3), the hours
 * as elapsed time.
 */
export function subtractCalendar(latestMs: number, d: CalendarDuration, timeZone: string): number {
  const p = zonedParts(new Date(latestMs), timeZone);
  const wall = Date.UTC(p.year - d.years, p.month - 1 - d.months, p.day - d.days, p.hour, p.minute, p.second, p.ms);
  // the zone's offset at the new wall time (first guess: the offset it has now)
  const guess = wall - p.offsetMin * 60_000;
  const off = zonedParts(new Date(guess), timeZone).offsetMin * 60_000;
  return wall - off - d.hours * 3_600_000;
}

export interface ApplyOptions {
  /** IANA zone of the calendar buckets (TZ). */
  timeZone: string;
  /** Backups dated after now do not count as the newest for `within` (and are kept by it), as in restic. */
  now: number;
}

/**
 * restic's ApplyPolicy. `items` with their times (ms since the epoch) are taken newest first
 * (a stable sort: equal times keep the order given). Each count rule remembers the bucket of the
 * last backup it kept; a backup is kept by the rule when its bucket differs and the count is not
 * used up (-1: never). When a rule still has count left at the last (oldest) backup, that one is
 * kept too, even in an already kept bucket ("oldest"). `within` keeps every backup newer than
 * (newest backup not in the future) - duration. Result: one decision per item, newest first.
 */
export function applyKeepPolicy<T>(items: readonly T[], timeOf: (item: T) => number, policy: KeepPolicy, opts: ApplyOptions): Array<Decision<T>> {
  const sorted = items.map((item, i) => ({ item, t: timeOf(item), i }));
  sorted.sort((a, b) => b.t - a.t || a.i - b.i);
  const n = sorted.length;
  if (n === 0) return [];

  let latest = -Infinity;
  for (const s of sorted) if (s.t > latest && s.t < opts.now) latest = s.t;
  const within = policy.within && !isZeroDuration(policy.within) ? policy.within : null;
  const cutoff = within ? (latest === -Infinity ? -Infinity : subtractCalendar(latest, within, opts.timeZone)) : Infinity;

  const rules = COUNT_RULES.filter((r) => policy[r] > 0 || policy[r] === -1).map((rule) => ({
    rule,
    of: policy[rule],
    left: policy[rule],
    used: 0,
    last: NaN as number,
  }));
  const out: Array<Decision<T>> = [];
  for (let nr = 0; nr < n; nr++) {
    const cur = sorted[nr]!;
    const reasons: KeepReason[] = [];
    if (within && cur.t > cutoff) reasons.push({ rule: 'within', within });
    const b = rules.length > 0 ? bucketsOf(cur.t, opts.timeZone) : null;
    for (const r of rules) {
      if (!(r.left > 0 || r.left === -1)) continue;
      const key =
        r.rule === 'last'
          ? nr
          : b![r.rule === 'hourly' ? 'hour' : r.rule === 'daily' ? 'day' : r.rule === 'weekly' ? 'week' : r.rule === 'monthly' ? 'month' : 'year'];
      const isOldest = nr === n - 1;
      if (key !== r.last || isOldest) {
        const oldest = key === r.last && isOldest;
        r.last = key;
        if (r.left > 0) r.left--;
        r.used++;
        reasons.push({ rule: r.rule, n: r.used, of: r.of, oldest });
      }
    }
    out.push({ item: cur.item, keep: reasons.length > 0, reasons });
  }
  return out;
}
