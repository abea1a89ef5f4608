import { str, makeValidator } from 'envalid';
import { tmpdir } from 'node:os';
import { quote, type ConfigIssue } from '../errors.ts';
import type { DestinationKind } from '../destinations/types.ts';
import { destinationKinds } from '../destinations/registry.ts';
import { fileNameProblem } from '../destinations/names.ts';
import { validateSection, duration, positiveDuration, integer, boolean, regexp, cronExpression, timeZone, list, oneOf, type Env } from './validate.ts';
import { expandVars } from './expand.ts';
import { staticPrefix } from '../archive/filename.ts';
import { sourceOverlap } from '../archive/layout.ts';
import type { ExcludePattern } from '../archive/exclude.ts';
import { parseCalendarDuration, isEmptyPolicy, COUNT_RULES, type KeepPolicy } from '../retention/policy.ts';

/** A BACKUP_RETENTION_KEEP_* count: a whole number of 0 or more, or -1 / `unlimited`. */
const keepCount = makeValidator<number>((input: string) => {
  const v = input.trim().toLowerCase();
  if (v === 'unlimited' || v === '-1') return -1;
  if (!/^\+?\d{1,9}$/.test(v)) throw new Error(`${quote(input)} is not a count; expected a whole number of 0 or more, or -1 (unlimited)`);
  return parseInt(v, 10);
});

/** BACKUP_RETENTION_KEEP_WITHIN: restic's duration, e.g. 1y2m3d4h. */
const calendarDuration = makeValidator<NonNullable<KeepPolicy['within']>>((input: string) => {
  const d = parseCalendarDuration(input);
  if (!d)
    throw new Error(
      `${quote(input)} is not a duration; expected years, months, days and hours as restic writes them, e.g. 30d, 1y6m, 2m15d, 36h (m is months)`,
    );
  return d;
});

const KEEP_VARIABLES = {
  last: 'BACKUP_RETENTION_KEEP_LAST',
  hourly: 'BACKUP_RETENTION_KEEP_HOURLY',
  daily: 'BACKUP_RETENTION_KEEP_DAILY',
  weekly: 'BACKUP_RETENTION_KEEP_WEEKLY',
  monthly: 'BACKUP_RETENTION_KEEP_MONTHLY',
  yearly: 'BACKUP_RETENTION_KEEP_YEARLY',
} as const;

export type Compression = 'gz' | 'zst' | 'none';

/** GZIP_PARALLELISM's upper bound: each thread holds one block in memory; 64 is far beyond any gain. */
export const MAX_GZIP_PARALLELISM = 64;
/** BACKUP_RETENTION_DAYS's upper bound (100 years): larger values made the deadline an invalid date, so pruning silently never happened. */
export const MAX_RETENTION_DAYS = 36_500;

export interface ScheduleConfig {
  /** Cron expression (5/6 fields, @macro or `@every <duration>`). */
  cron: string;
  jitterMs: number;
  /** IANA zone for the schedule and file names. */
  timezone: string;
}

export interface ArchiveConfig {
  /** Absolute paths; each is stored under its path without the leading slash (`/backup/app` -> `backup/app/...`). */
  sources: string[];
  exclude: ExcludePattern | null;
  /** BACKUP_FILENAME after $VAR expansion, still holding strftime tokens and {{ .Extension }}. */
  filenameTemplate: string;
  compression: Compression;
  /** Compression threads; already resolved (0 = all cores -> cores count). */
  gzipParallelism: number;
}

export interface RetentionConfig {
  /** Negative disables age-based pruning. Ignored when `keep` is set. */
  days: number;
  /** BACKUP_RETENTION_KEEP_*: count and calendar rules (restic's), or null when none is set. */
  keep: KeepPolicy | null;
  /** How a backup's time is read back from its name (BACKUP_FILENAME in TZ) for `keep`. */
  names: { template: string; timeZone: string };
  leewayMs: number;
  /** Only names with this prefix are candidates (never empty: derived from the file name template when unset). */
  prefix: string;
  skipBackends: DestinationKind[];
}

export interface SpineConfig {
  schedule: ScheduleConfig;
  lockTimeoutMs: number;
  archive: ArchiveConfig;
  retention: RetentionConfig;
  /** Where an archive is staged (BACKUP_TMP_DIR). */
  tmpDir: string;
  /** BACKUP_STAGING: stage the archive in tmpDir so failed uploads can be retried (false: stream a single destination, no retries). */
  staging: boolean;
}

export const SPINE_SPEC = {
  BACKUP_CRON_EXPRESSION: cronExpression({ default: '@daily', desc: 'when to run' }),
  BACKUP_JITTER: positiveDuration({ default: 0, desc: 'random delay before each run' }),
  TZ: timeZone({ default: 'UTC', desc: 'time zone of the schedule and file names' }),
  LOCK_TIMEOUT: positiveDuration({ default: 60 * 60_000, desc: 'how long a run waits for another' }),
  BACKUP_SOURCES: list({ default: ['/backup'], desc: 'what to back up (comma list)' }),
  BACKUP_EXCLUDE_REGEXP: regexp({ default: undefined }),
  BACKUP_FILENAME: str({ default: 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}' }),
  BACKUP_FILENAME_EXPAND: boolean({ default: false }),
  BACKUP_COMPRESSION: oneOf(['gz', 'zst', 'none'] as const)({ default: 'gz' }),
  GZIP_PARALLELISM: integer({ default: 1 }),
  BACKUP_RETENTION_DAYS: integer({ default: -1 }),
  BACKUP_RETENTION_KEEP_LAST: keepCount({ default: 0, desc: 'keep the n newest backups' }),
  BACKUP_RETENTION_KEEP_HOURLY: keepCount({ default: 0, desc: 'keep the newest backup of each of the last n hours that have one' }),
  BACKUP_RETENTION_KEEP_DAILY: keepCount({ default: 0, desc: 'keep the newest backup of each of the last n days that have one' }),
  BACKUP_RETENTION_KEEP_WEEKLY: keepCount({ default: 0, desc: 'keep the newest backup of each of the last n ISO weeks that have one' }),
  BACKUP_RETENTION_KEEP_MONTHLY: keepCount({ default: 0, desc: 'keep the newest backup of each of the last n months that have one' }),
  BACKUP_RETENTION_KEEP_YEARLY: keepCount({ default: 0, desc: 'keep the newest backup of each of the last n years that have one' }),
  BACKUP_RETENTION_KEEP_WITHIN: calendarDuration({ default: undefined, desc: 'keep every backup within this duration of the newest (1y2m3d4h)' }),
  BACKUP_PRUNING_LEEWAY: duration({ default: 60_000 }),
  BACKUP_PRUNING_PREFIX: str({ default: '' }),
  BACKUP_SKIP_BACKENDS_FROM_PRUNE: list({ default: [] }),
  BACKUP_TMP_DIR: str({ default: '' }),
  BACKUP_STAGING: boolean({ default: true, desc: 'stage the archive in BACKUP_TMP_DIR so failed uploads can be retried' }),
};

export function parseSpine(env: Env, issues: ConfigIssue[], cores: number): SpineConfig | null {
  const before = issues.length;
  const v = validateSection(env, SPINE_SPEC, issues);

  if (v.GZIP_PARALLELISM !== undefined && v.GZIP_PARALLELISM < 0) {
    issues.push({
      variable: 'GZIP_PARALLELISM',
      message: `${quote(env.GZIP_PARALLELISM)} is negative; expected 0 (all cores) or a positive number of threads`,
    });
  } else if (v.GZIP_PARALLELISM !== undefined && v.GZIP_PARALLELISM > MAX_GZIP_PARALLELISM) {
    issues.push({
      variable: 'GZIP_PARALLELISM',
      message: `${quote(env.GZIP_PARALLELISM)} is too many threads; expected 0 (all cores) or 1 to ${MAX_GZIP_PARALLELISM} (each thread holds a block in memory)`,
    });
  }
  if (v.BACKUP_RETENTION_DAYS !== undefined && v.BACKUP_RETENTION_DAYS > MAX_RETENTION_DAYS) {
    issues.push({
      variable: 'BACKUP_RETENTION_DAYS',
      message: `${quote(env.BACKUP_RETENTION_DAYS)} is out of range; expected a negative number (no pruning) or 0 to ${MAX_RETENTION_DAYS} days (100 years)`,
    });
  }
  if (v.BACKUP_FILENAME !== undefined) {
    const f = v.BACKUP_FILENAME;
    const problem = fileNameProblem(f);
    if (problem) issues.push({ variable: 'BACKUP_FILENAME', message: `${quote(f)} ${problem}; expected a file name only` });
    const unknown = /\{\{(?!\s*\.Extension\s*\}\})[^}]*\}\}/.exec(f);
    if (unknown) issues.push({ variable: 'BACKUP_FILENAME', message: `unknown template ${unknown[0]}; only {{ .Extension }} is supported` });
  }
  const sources = v.BACKUP_SOURCES ?? [];
  if (v.BACKUP_SOURCES !== undefined && sources.length === 0) issues.push({ variable: 'BACKUP_SOURCES', message: 'is empty; expected at least one path' });
  for (const s of sources) {
    if (!s.startsWith('/')) issues.push({ variable: 'BACKUP_SOURCES', message: `${quote(s)} is not an absolute path` });
  }
  const overlap = sources.every((s) => s.startsWith('/')) ? sourceOverlap(sources) : null;
  if (overlap) issues.push({ variable: 'BACKUP_SOURCES', message: overlap });
  const skip: DestinationKind[] = [];
  const kinds = destinationKinds();
  for (const s of v.BACKUP_SKIP_BACKENDS_FROM_PRUNE ?? []) {
    const k = kinds.find((d) => d.toLowerCase() === s.toLowerCase());
    if (!k) issues.push({ variable: 'BACKUP_SKIP_BACKENDS_FROM_PRUNE', message: `${quote(s)} is not one of ${kinds.join(', ')}` });
    else skip.push(k);
  }
  const keep = parseKeep(env, v, issues);
  if (issues.length > before) return null;

  const expand = filenameExpander(env);
  const filenameTemplate = expand(v.BACKUP_FILENAME);
  // the names after $VAR expansion must still be plain file names: checked now, not after the archive was built
  if (v.BACKUP_FILENAME_EXPAND) {
    const fileProblem = fileNameProblem(filenameTemplate);
    if (fileProblem)
      issues.push({
        variable: 'BACKUP_FILENAME',
        message: `is ${quote(filenameTemplate)} after $VAR expansion, which ${fileProblem}; expected a file name only`,
      });
    if (issues.length > before) return null;
  }
  const prefix = v.BACKUP_PRUNING_PREFIX ? expand(v.BACKUP_PRUNING_PREFIX) : staticPrefix(filenameTemplate);
  const compression = v.BACKUP_COMPRESSION;
  const allCores = Math.min(cores, MAX_GZIP_PARALLELISM);
  // offen compresses zst on every core whatever GZIP_PARALLELISM says (klauspost's default encoder);
  // offsite does the same unless GZIP_PARALLELISM is set, which then caps zst's threads too
  const zstDefault = compression === 'zst' && (env.GZIP_PARALLELISM ?? '').trim() === '';
  const threads = v.GZIP_PARALLELISM === 0 || zstDefault ? allCores : v.GZIP_PARALLELISM;

  return {
    schedule: { cron: v.BACKUP_CRON_EXPRESSION, jitterMs: v.BACKUP_JITTER, timezone: v.TZ },
    lockTimeoutMs: v.LOCK_TIMEOUT,
    archive: {
      sources: sources.map((s) => (s.length > 1 ? s.replace(/\/+$/, '') : s)),
      exclude: v.BACKUP_EXCLUDE_REGEXP ?? null,
      filenameTemplate,
      compression,
      gzipParallelism: threads,
    },
    retention: {
      days: v.BACKUP_RETENTION_DAYS,
      keep,
      names: { template: filenameTemplate, timeZone: v.TZ },
      leewayMs: v.BACKUP_PRUNING_LEEWAY,
      prefix,
      skipBackends: skip,
    },
    tmpDir: v.BACKUP_TMP_DIR || tmpdir(),
    staging: v.BACKUP_STAGING,
  };
}

/** `$VAR` expansion of file names when BACKUP_FILENAME_EXPAND is true, else the identity (an invalid value is reported by parseSpine). */
export function filenameExpander(env: Env): (s: string) => string {
  const v = validateSection(env, { BACKUP_FILENAME_EXPAND: SPINE_SPEC.BACKUP_FILENAME_EXPAND }, []);
  return v.BACKUP_FILENAME_EXPAND ? (s: string) => expandVars(s, env) : (s: string) => s;
}

const isSet = (env: Env, k: string) => env[k] !== undefined && env[k] !== '';

/**
 * The BACKUP_RETENTION_KEEP_* rules, or null when none is set. Setting any replaces
 * BACKUP_RETENTION_DAYS: both set is an error naming both; rules that keep nothing are an error.
 */
function parseKeep(env: Env, v: ReturnType<typeof validateSection<typeof SPINE_SPEC>>, issues: ConfigIssue[]): KeepPolicy | null {
  const names = [...Object.values(KEEP_VARIABLES), 'BACKUP_RETENTION_KEEP_WITHIN'];
  const set = names.filter((n) => isSet(env, n));
  if (set.length === 0) return null;
  if (isSet(env, 'BACKUP_RETENTION_DAYS')) {
    issues.push({
      variable: 'BACKUP_RETENTION_DAYS',
      message: `is set together with ${set.join(', ')}; the keep rules replace BACKUP_RETENTION_DAYS: unset one or the other`,
    });
    return null;
  }
  const keep: KeepPolicy = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, within: null };
  for (const r of COUNT_RULES) {
    const n = v[KEEP_VARIABLES[r]];
    if (n === undefined) return null; // invalid: already reported
    keep[r] = n;
  }
  if (isSet(env, 'BACKUP_RETENTION_KEEP_WITHIN')) {
    if (v.BACKUP_RETENTION_KEEP_WITHIN === undefined) return null;
    keep.within = v.BACKUP_RETENTION_KEEP_WITHIN;
  }
  if (isEmptyPolicy(keep)) {
    issues.push({
      variable: set[0]!,
      message: `${set.join(', ')} keep nothing (every count is 0${keep.within ? ' and the duration is 0' : ''}): pruning would delete every backup; use counts of 1 or more, or -1 for unlimited`,
    });
    return null;
  }
  return keep;
}
