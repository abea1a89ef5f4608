import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { readBoundedFile } from '../config/files.ts';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type Handlebars from 'handlebars';
import { lazy } from '../lazy.ts';

/** Loaded when a notification is rendered or templates are read. */
const handlebars = lazy<typeof Handlebars>('handlebars');
import { formatDuration } from '../config/duration.ts';
import type { ConfigIssue } from '../errors.ts';
import type { RunStats } from '../run/stats.ts';
import type { NotifyMessage } from './types.ts';
import type { Env } from '../config/validate.ts';
import { parseOffenTemplates, offenTemplateData, offenFuncs, type OffenTemplateSet } from './offen-templates.ts';
import { GoTemplateError } from './gotemplate.ts';
import { runLogOutput } from '../run/log-output.ts';

export const TEMPLATE_NAMES = ['title_success', 'body_success', 'title_failure', 'body_failure'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** A compiled custom template: context -> text. */
export type CompiledTemplate = (context: TemplateContext) => string;

export interface Templates {
  /** Where the templates came from ('' when none were found). */
  dir: string;
  /** File each loaded template was read from. */
  files: Partial<Record<TemplateName, string>>;
  compiled: Partial<Record<TemplateName, CompiledTemplate>>;
  /** offen's Go templates (`notifications.d/*.*` other than Handlebars files), with the job's environment they read. */
  go?: { set: OffenTemplateSet; env: Env };
}

/** What custom templates see: every RunStats field plus a few conveniences. Documented in docs/notifications.md. */
export interface TemplateContext extends RunStats {
  /** true when status is `success`. */
  ok: boolean;
  /** true when status is not `success` (degraded, partial or failure). */
  failed: boolean;
  /** Sum of `pruned` over the destinations. */
  prunedTotal: number;
  /** Destinations whose upload failed. */
  failedDestinations: RunStats['destinations'];
  /** The machine's host name (the container id in Docker). */
  hostname: string;
}

// ---------- formatting helpers (shared by the defaults and the templates) ----------

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

/** Date -> "2026-01-01 02:00:00 UTC". */
export function formatTime(d: Date | string | number | null | undefined): string {
  if (d === null || d === undefined) return '?';
  const date = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(date.getTime())) return String(d);
  return `${date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')} UTC`;
}

/** Milliseconds -> "1m12s" (whole seconds), or "350ms" under a second. */
function durationText(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return formatDuration(Math.round(ms / 1000) * 1000);
}

// ---------- context ----------

export function templateContext(stats: RunStats): TemplateContext {
  return {
    ...stats,
    ok: stats.status === 'success',
    failed: stats.status !== 'success',
    prunedTotal: stats.destinations.reduce((a, d) => a + (d.pruned || 0), 0),
    failedDestinations: stats.destinations.filter((d) => !d.ok),
    hostname: hostname(),
  };
}

// ---------- defaults ----------

const STATUS_WORDS: Record<RunStats['status'], string> = {
  success: 'succeeded',
  degraded: 'completed with warnings',
  partial: 'partly failed',
  failure: 'FAILED',
};

export function defaultTitle(stats: RunStats): string {
  const base = `[offsite] ${stats.job}: backup ${STATUS_WORDS[stats.status]}`;
  if (stats.status === 'failure' && stats.error) {
    return `${base} (${stats.error.phase}${stats.error.destination ? `, ${stats.error.destination}` : ''})`;
  }
  if (stats.status === 'partial') {
    const failed = stats.destinations.filter((d) => !d.ok).map((d) => d.destination);
    if (failed.length) return `${base} (${failed.join(', ')})`;
  }
  return base;
}

export function defaultBody(stats: RunStats): string {
  const lines: string[] = [];
  lines.push(`Backup job "${stats.job}" on ${hostname()} ${STATUS_WORDS[stats.status]}.`);
  if (stats.error) {
    const where = stats.error.destination ? `${stats.error.destination}, phase ${stats.error.phase}` : `phase ${stats.error.phase}`;
    lines.push(`Error (${where}): ${stats.error.message}`);
  }
  for (const h of stats.hints ?? []) lines.push(`Check: ${h}`);
  lines.push('');
  lines.push(`Started:  ${formatTime(stats.start)}`);
  const waited = stats.lockWaitMs >= 1000 ? `; waited ${durationText(stats.lockWaitMs)} for the lock` : '';
  lines.push(`Finished: ${formatTime(stats.end)} (took ${durationText(stats.durationMs)}${waited})`);
  const a = stats.archive;
  if (a) {
    const enc = a.encryption === 'none' ? 'not encrypted' : `encrypted with ${a.encryption}`;
    lines.push(`Archive:  ${a.name}, ${formatBytes(a.size)} (${a.compression === 'none' ? 'uncompressed' : a.compression}, ${enc})`);
    lines.push(
      `          ${a.files} files, ${a.directories} directories, ${formatBytes(a.bytesRead)} read${a.skipped ? `, ${a.skipped} skipped` : ''}${a.unreadable ? `, ${a.unreadable} UNREADABLE` : ''}`,
    );
    if (a.sha256) lines.push(`          sha256 ${a.sha256}`);
  } else {
    lines.push('Archive:  none was made');
  }
  if (stats.destinations.length > 0) {
    lines.push('Destinations:');
    for (const d of stats.destinations) {
      let line = `  - ${d.destination} ${d.location}: `;
      if (d.ok) line += `stored ${formatBytes(d.bytes)} in ${durationText(d.durationMs)}${d.attempts > 1 ? ` (${d.attempts} tries)` : ''}`;
      else line += `FAILED${d.attempts > 1 ? ` after ${d.attempts} tries` : ''}: ${d.error ?? 'unknown error'}`;
      if (d.pruned > 0) line += `; pruned ${d.pruned} old backup${d.pruned === 1 ? '' : 's'}`;
      if (d.kept !== undefined) line += `${d.pruned > 0 ? ',' : '; pruned none,'} kept ${d.kept}`;
      if (d.pruneNote) line += `; pruning: ${d.pruneNote}`;
      lines.push(line);
    }
  }
  if (stats.containersStopped > 0 || stats.containersRestarted > 0) {
    lines.push(`Containers: ${stats.containersStopped} stopped, ${stats.containersRestarted} restarted`);
  }
  if (stats.warnings.length > 0) {
    lines.push('Warnings:');
    for (const w of stats.warnings) lines.push(`  - ${w}`);
  }
  return lines.join('\n');
}

// ---------- custom templates ----------

function newHandlebars(): typeof Handlebars {
  const hb = handlebars().create();
  hb.registerHelper('bytes', (n: unknown) => formatBytes(n as number));
  hb.registerHelper('duration', (ms: unknown) => durationText(Number(ms)));
  hb.registerHelper('time', (d: unknown) => formatTime(d as Date));
  hb.registerHelper('iso', (d: unknown) => {
    const date = d instanceof Date ? d : new Date(d as string);
    return Number.isNaN(date.getTime()) ? String(d) : date.toISOString();
  });
  hb.registerHelper('json', (v: unknown, opts: unknown) => {
    const pretty = typeof opts === 'object' && opts && (opts as { hash?: { pretty?: boolean } }).hash?.pretty;
    return JSON.stringify(v, null, pretty ? 2 : undefined);
  });
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
  hb.registerHelper('gt', (a: unknown, b: unknown) => Number(a) > Number(b));
  return hb;
}

const GO_TEMPLATE = /\{\{-?\s*(\.|printf\b|range\b|end\b)/;

/**
 * Load title_success, body_success, title_failure, body_failure from a directory
 * (`<name>.hbs`, `<name>.handlebars` or plain `<name>`). A template that does not
 * parse is a configuration issue. A missing directory is fine unless `explicit`.
 */
export function loadTemplates(dir: string, explicit: boolean, variable: string, issues: ConfigIssue[], env: Env = {}): Templates {
  const out: Templates = { dir: '', files: {}, compiled: {} };
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    /* missing */
  }
  if (!isDir) {
    if (explicit) issues.push({ variable, message: `the directory ${dir} does not exist` });
    return out;
  }
  out.dir = dir;
  const hb = newHandlebars();
  for (const name of TEMPLATE_NAMES) {
    const file = [`${name}.hbs`, `${name}.handlebars`, name].map((f) => join(dir, f)).find((p) => existsSync(p));
    if (!file) continue;
    // bounded: a FIFO or a device in the templates directory must not hang or exhaust start-up
    const read = readBoundedFile(file);
    if (!read.ok) {
      issues.push({ variable, message: `the template ${file} ${read.problem}` });
      continue;
    }
    const src = read.text;
    if (GO_TEMPLATE.test(src)) {
      issues.push({
        variable,
        message: `${file} looks like a Go template (docker-volume-backup); rewrite it in Handlebars, e.g. {{job}} and {{bytes archive.size}} (see docs/notifications.md)`,
      });
      continue;
    }
    try {
      hb.parse(src);
    } catch (e) {
      issues.push({ variable, message: `the template ${file} does not parse: ${(e as Error).message.split('\n').join(' ')}` });
      continue;
    }
    const tpl = hb.compile(src, { noEscape: true, strict: false });
    out.files[name] = file;
    out.compiled[name] = (ctx) => tpl(ctx, { allowProtoPropertiesByDefault: false });
  }
  // offen's Go templates: every other file with a dot in its name (offen's ParseGlob("*.*"))
  const handlebarsFiles = new Set(Object.values(out.files));
  const goFiles: Array<{ path: string; text: string }> = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    issues.push({ variable, message: `cannot read the directory ${dir}: ${(e as Error).message}` });
  }
  for (const f of names) {
    const path = join(dir, f);
    if (!f.includes('.') || f.startsWith('.') || /\.(hbs|handlebars)$/.test(f) || handlebarsFiles.has(path)) continue;
    try {
      if (!statSync(path).isFile()) continue;
      if (statSync(path).size > 1 << 20) {
        issues.push({ variable, message: `the template ${path} is larger than 1 MiB` });
        continue;
      }
      goFiles.push({ path, text: readFileSync(path, 'utf8') });
    } catch (e) {
      issues.push({ variable, message: `cannot read the template ${path}: ${(e as Error).message}` });
    }
  }
  if (goFiles.length) {
    try {
      const set = parseOffenTemplates(goFiles);
      out.go = { set, env };
      for (const name of TEMPLATE_NAMES) {
        if (!set.templates.has(name)) continue;
        if (out.compiled[name])
          issues.push({ variable, message: `${name} is given twice: as ${out.files[name]} (Handlebars) and in a Go template file; keep one` });
      }
    } catch (e) {
      if (!(e instanceof GoTemplateError)) throw e;
      issues.push({ variable, message: `the Go template ${e.message}` });
    }
  }
  return out;
}

/** Title and body for a run: custom templates where given, defaults elsewhere. Template errors fall back to the default and are reported. */
export function renderRunMessage(
  stats: RunStats,
  templates: Templates | null,
  onTemplateError: (name: TemplateName, err: Error) => void = () => {},
): NotifyMessage {
  const ok = stats.status === 'success';
  const titleName: TemplateName = ok ? 'title_success' : 'title_failure';
  const bodyName: TemplateName = ok ? 'body_success' : 'body_failure';
  const ctx = templateContext(stats);
  let goData: unknown;
  const render = (name: TemplateName, fallback: () => string): string => {
    const go = templates?.go?.set.templates.get(name);
    if (go && templates?.go) {
      try {
        // offen's .Stats.LogOutput: the run's log lines (offsite's own report of the run when none were captured)
        goData ??= offenTemplateData(stats, templates.go.env, runLogOutput(stats) ?? defaultBody(stats));
        return go.execute(goData, offenFuncs(templates.go.env));
      } catch (e) {
        onTemplateError(name, e as Error);
        return fallback();
      }
    }
    const tpl = templates?.compiled[name];
    if (!tpl) return fallback();
    try {
      return tpl(ctx);
    } catch (e) {
      onTemplateError(name, e as Error);
      return fallback();
    }
  };
  const title = render(titleName, () => defaultTitle(stats))
    .replace(/\s*\n\s*/g, ' ')
    .trim();
  const message = render(bodyName, () => defaultBody(stats)).replace(/\s+$/, '');
  return { title: title || defaultTitle(stats), message: message || defaultBody(stats), level: ok ? 'info' : 'error' };
}
