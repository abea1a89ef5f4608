import { str } from 'envalid';
import { tmpdir } from 'node:os';
import type { ConfigIssue } from '../errors.ts';
import { DESTINATION_KINDS, type DestinationKind } from '../destinations/types.ts';
import { validateSection, duration, positiveDuration, integer, boolean, regexp, cronExpression, timeZone, list, oneOf, type Env } from './validate.ts';
import { expandVars } from './expand.ts';
import { staticPrefix } from '../archive/filename.ts';

export type Compression = 'gz' | 'zst' | 'none';

export interface ScheduleConfig {
  /** Cron expression (5/6 fields, @macro or `@every <duration>`). */
  cron: string;
  jitterMs: number;
  /** IANA zone for the schedule and file names. */
  timezone: string;
}

export interface ArchiveConfig {
  /** Absolute paths; each becomes a top-level entry named after its base name. */
  sources: string[];
  exclude: RegExp | null;
  /** BACKUP_FILENAME after $VAR expansion, still holding strftime tokens and {{ .Extension }}. */
  filenameTemplate: string;
  compression: Compression;
  /** Compression threads; already resolved (0 = all cores -> cores count). */
  gzipParallelism: number;
}

export interface RetentionConfig {
  /** Negative disables pruning. */
  days: number;
  leewayMs: number;
  /** Only names with this prefix are candidates (never empty: derived from the file name template when unset). */
  prefix: string;
  skipBackends: DestinationKind[];
}

export interface LocalConfig {
  dir: string;
  /** Name of the symlink to the newest archive, or null. */
  latestSymlink: string | null;
}

export interface SpineConfig {
  schedule: ScheduleConfig;
  lockTimeoutMs: number;
  archive: ArchiveConfig;
  retention: RetentionConfig;
  /** null when BACKUP_ARCHIVE does not exist as a directory. */
  local: LocalConfig | null;
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
  BACKUP_LATEST_SYMLINK: str({ default: '' }),
  BACKUP_ARCHIVE: str({ default: '/archive' }),
  BACKUP_COMPRESSION: oneOf(['gz', 'zst', 'none'] as const)({ default: 'gz' }),
  GZIP_PARALLELISM: integer({ default: 1 }),
  BACKUP_RETENTION_DAYS: integer({ default: -1 }),
  BACKUP_PRUNING_LEEWAY: duration({ default: 60_000 }),
  BACKUP_PRUNING_PREFIX: str({ default: '' }),
  BACKUP_SKIP_BACKENDS_FROM_PRUNE: list({ default: [] }),
  BACKUP_TMP_DIR: str({ default: '' }),
  BACKUP_STAGING: boolean({ default: true, desc: 'stage the archive in BACKUP_TMP_DIR so failed uploads can be retried' }),
};

export function parseSpine(env: Env, issues: ConfigIssue[], cores: number, dirExists: (p: string) => boolean): SpineConfig | null {
  const before = issues.length;
  const v = validateSection(env, SPINE_SPEC, issues);

  if (v.GZIP_PARALLELISM !== undefined && v.GZIP_PARALLELISM < 0) {
    issues.push({ variable: 'GZIP_PARALLELISM', message: `"${env.GZIP_PARALLELISM}" is negative; expected 0 (all cores) or a positive number of threads` });
  }
  if (v.BACKUP_FILENAME !== undefined) {
    const f = v.BACKUP_FILENAME;
    if (f.includes('/') || f.includes('\\')) issues.push({ variable: 'BACKUP_FILENAME', message: `"${f}" contains a path separator; expected a file name only` });
    const unknown = /\{\{(?!\s*\.Extension\s*\}\})[^}]*\}\}/.exec(f);
    if (unknown) issues.push({ variable: 'BACKUP_FILENAME', message: `unknown template ${unknown[0]}; only {{ .Extension }} is supported` });
  }
  const link = v.BACKUP_LATEST_SYMLINK;
  if (link && (link.includes('/') || link.includes('\\') || link === '.' || link === '..')) {
    issues.push({ variable: 'BACKUP_LATEST_SYMLINK', message: `"${link}" contains a path separator; expected a file name only (the link is made in BACKUP_ARCHIVE)` });
  }
  const sources = v.BACKUP_SOURCES ?? [];
  if (v.BACKUP_SOURCES !== undefined && sources.length === 0) issues.push({ variable: 'BACKUP_SOURCES', message: 'is empty; expected at least one path' });
  for (const s of sources) {
    if (!s.startsWith('/')) issues.push({ variable: 'BACKUP_SOURCES', message: `"${s}" is not an absolute path` });
  }
  const skip: DestinationKind[] = [];
  for (const s of v.BACKUP_SKIP_BACKENDS_FROM_PRUNE ?? []) {
    const k = DESTINATION_KINDS.find((d) => d.toLowerCase() === s.toLowerCase());
    if (!k) issues.push({ variable: 'BACKUP_SKIP_BACKENDS_FROM_PRUNE', message: `"${s}" is not one of ${DESTINATION_KINDS.join(', ')}` });
    else skip.push(k);
  }
  if (issues.length > before) return null;

  const expand = v.BACKUP_FILENAME_EXPAND ? (s: string) => expandVars(s, env) : (s: string) => s;
  const filenameTemplate = expand(v.BACKUP_FILENAME);
  const latest = v.BACKUP_LATEST_SYMLINK ? expand(v.BACKUP_LATEST_SYMLINK) : '';
  const prefix = v.BACKUP_PRUNING_PREFIX ? expand(v.BACKUP_PRUNING_PREFIX) : staticPrefix(filenameTemplate);
  const compression = v.BACKUP_COMPRESSION;
  const threads = v.GZIP_PARALLELISM === 0 ? cores : v.GZIP_PARALLELISM;

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
    retention: { days: v.BACKUP_RETENTION_DAYS, leewayMs: v.BACKUP_PRUNING_LEEWAY, prefix, skipBackends: skip },
    local: dirExists(v.BACKUP_ARCHIVE) ? { dir: v.BACKUP_ARCHIVE, latestSymlink: latest || null } : null,
    tmpDir: v.BACKUP_TMP_DIR || tmpdir(),
    staging: v.BACKUP_STAGING,
  };
}
