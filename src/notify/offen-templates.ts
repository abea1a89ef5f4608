/**
 * offen's notification templates: Go template files in `notifications.d/` defining
 * title_success, body_success, title_failure and body_failure, rendered with offen's data
 * (`.Error`, `.Config.<Field>`, `.Stats.*`) and functions (formatTime, formatBytesDec,
 * formatBytesBin, env, toJson, toPrettyJson).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunStats } from '../run/stats.ts';
import type { Env } from '../config/validate.ts';
import { offenConfigValues, GoDuration } from '../compat/offen-config.ts';
import { parseGoTemplates, GoMap, GoTemplateError, type GoFunc, type GoTemplate } from './gotemplate.ts';

/** A Go time.Time in a zone: prints as Go's %v, formatTime gives RFC 3339, JSON gives RFC 3339 with nanoseconds. */
export class GoTime {
  readonly date: Date;
  readonly zone: string;
  constructor(date: Date, zone: string) {
    this.date = date;
    this.zone = zone;
  }

  /** Wall-clock parts and the offset from UTC in minutes, in this zone. */
  private parts(): { y: number; mo: number; d: number; h: number; mi: number; s: number; offset: number } {
    const f = new Intl.DateTimeFormat('en-US', {
      timeZone: this.zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    const p = Object.fromEntries(f.formatToParts(this.date).map((x) => [x.type, x.value]));
    const [y, mo, d, h, mi, s] = [p.year, p.month, p.day, p.hour, p.minute, p.second].map(Number) as [number, number, number, number, number, number];
    const wall = Date.UTC(y, mo - 1, d, h, mi, s);
    const offset = Math.round((wall - Math.floor(this.date.getTime() / 1000) * 1000) / 60_000);
    return { y, mo, d, h, mi, s, offset };
  }

  private static pad(n: number, w = 2): string {
    return String(n).padStart(w, '0');
  }

  private base(): string {
    const p = this.parts();
    return `${p.y}-${GoTime.pad(p.mo)}-${GoTime.pad(p.d)}T${GoTime.pad(p.h)}:${GoTime.pad(p.mi)}:${GoTime.pad(p.s)}`;
  }

  private offsetText(z: boolean, colon: boolean): string {
    const o = this.parts().offset;
    if (o === 0 && z) return 'Z';
    const a = Math.abs(o);
    return `${o < 0 ? '-' : '+'}${GoTime.pad(Math.floor(a / 60))}${colon ? ':' : ''}${GoTime.pad(a % 60)}`;
  }

  private fraction(): string {
    const ms = this.date.getTime() % 1000;
    return ms ? `.${String(ms).padStart(3, '0').replace(/0+$/, '')}` : '';
  }

  /** time.RFC3339: 2006-01-02T15:04:05Z07:00 */
  rfc3339(): string {
    return `${this.base()}${this.offsetText(true, true)}`;
  }

  /** Go's default String(): 2006-01-02 15:04:05.999999999 -0700 MST */
  toString(): string {
    const abbr =
      this.zone === 'UTC' || this.zone === 'Etc/UTC'
        ? 'UTC'
        : (new Intl.DateTimeFormat('en-US', { timeZone: this.zone, timeZoneName: 'short' }).formatToParts(this.date).find((x) => x.type === 'timeZoneName')
            ?.value ?? '');
    return `${this.base().replace('T', ' ')}${this.fraction()} ${this.offsetText(false, false)} ${abbr}`;
  }

  /** encoding/json: RFC 3339 with nanoseconds. */
  toJSON(): string {
    return `${this.base()}${this.fraction()}${this.offsetText(true, true)}`;
  }
  valueOf(): number {
    return this.date.getTime();
  }
}

/** An error value: prints its message; JSON shows {} as Go's json.Marshal of an error does. */
class GoError extends Error {
  toJSON(): Record<string, never> {
    return {};
  }
}

/** offen's formatBytes: powers of 1000 (`kB`, `MB`) or 1024 (`KiB`, `MiB`), one decimal. */
export function offenFormatBytes(b: number, decimal: boolean): string {
  const unit = decimal ? 1000 : 1024;
  if (b < unit) return `${Math.trunc(b)} B`;
  let div = unit;
  let exp = 0;
  for (let n = Math.floor(b / unit); n >= unit; n = Math.floor(n / unit)) {
    div *= unit;
    exp++;
  }
  return `${(b / div).toFixed(1)} ${'kMGTPE'[exp]}${decimal ? 'B' : 'iB'}`;
}

function goJson(v: unknown, indent: boolean): string {
  const replacer = (_k: string, x: unknown) => {
    if (x instanceof Map) return Object.fromEntries([...x.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return x;
  };
  return JSON.stringify(v ?? null, replacer, indent ? 2 : undefined);
}

/** The functions offen registers (templateHelpers in cmd/backup/notifications.go). */
export function offenFuncs(env: Env): Record<string, GoFunc> {
  return {
    formatTime: (t) => {
      if (!(t instanceof GoTime)) throw new Error(`wrong type for value; expected time.Time; got ${typeof t}`);
      return t.rfc3339();
    },
    formatBytesDec: (b) => offenFormatBytes(Number(b), true),
    formatBytesBin: (b) => offenFormatBytes(Number(b), false),
    env: (name) => env[String(name)] ?? '',
    toJson: (v) => goJson(v, false),
    toPrettyJson: (v) => goJson(v, true),
  };
}

export const OFFEN_FUNC_NAMES = ['formatTime', 'formatBytesDec', 'formatBytesBin', 'env', 'toJson', 'toPrettyJson'] as const;

/**
 * offen's NotificationData for one run: `.Error` (nil on success), `.Config` (offen's field
 * names), `.Stats` (StartTime, EndTime, TookTime, LockedTime, LogOutput, Containers, Services,
 * BackupFile, Storages).
 */
export function offenTemplateData(stats: RunStats, env: Env, logOutput: string): Record<string, unknown> {
  const zone = env.TZ || 'UTC';
  const storages = new GoMap();
  for (const d of stats.destinations) {
    // the destination kinds are offen's storage names (the keys of `.Stats.Storages`)
    const name = d.destination;
    const pruneErrors = d.pruneNote && !/skipped|disabled/i.test(d.pruneNote) ? 1 : 0;
    storages.set(name, { Total: d.kept !== undefined ? d.kept + d.pruned : d.ok ? 1 : 0, Pruned: d.pruned, PruneErrors: pruneErrors });
  }
  const archiveName = stats.archive?.name ?? '';
  return {
    Error: stats.error ? new GoError(stats.error.message) : null,
    Config: offenConfigValues({ env }),
    Stats: {
      StartTime: new GoTime(stats.start, zone),
      EndTime: new GoTime(stats.end, zone),
      TookTime: new GoDuration(stats.durationMs),
      LockedTime: new GoDuration(stats.lockWaitMs),
      LogOutput: logOutput,
      Containers: { All: stats.containersStopped, ToStop: stats.containersStopped, Stopped: stats.containersStopped, StopErrors: 0 },
      Services: { All: 0, ToScaleDown: 0, ScaledDown: 0, ScaleDownErrors: 0 },
      BackupFile: {
        Name: archiveName,
        // offen's FullPath is the archive's temporary path (/tmp/<name>); offsite stages in BACKUP_TMP_DIR
        FullPath: archiveName ? join(env.BACKUP_TMP_DIR || tmpdir(), archiveName) : '',
        Size: stats.archive?.size ?? 0,
      },
      Storages: storages,
    },
  };
}

export interface OffenTemplateSet {
  /** Files the templates came from. */
  files: string[];
  templates: Map<string, GoTemplate>;
}

/**
 * Parse offen template files (every define of every file; a later file's define replaces an
 * earlier one, as Go's ParseGlob does). Throws GoTemplateError naming the file and line.
 */
export function parseOffenTemplates(files: Array<{ path: string; text: string }>): OffenTemplateSet {
  const templates = new Map<string, GoTemplate>();
  for (const f of files) {
    const defs = parseGoTemplates(f.text, f.path, OFFEN_FUNC_NAMES);
    if (defs.size === 0)
      throw new GoTemplateError(
        `${f.path} defines no template; expected {{ define "title_failure" }}...{{ end }} blocks (title_success, body_success, title_failure, body_failure)`,
      );
    for (const [k, v] of defs) templates.set(k, v);
  }
  return { files: files.map((f) => f.path), templates };
}
