import type { BackupObject } from '../destinations/types.ts';
import type { RetentionPolicy, PruneDecision, PlannedBackup } from './index.ts';
import { parseTimeFromName } from '../archive/filename.ts';
import { applyKeepPolicy, describePolicy, formatReason, isEmptyPolicy, type KeepPolicy } from './policy.ts';

/** Suffix of the sidecar manifest written next to an archive: `<archive>.manifest.json`. */
export const SIDECAR_SUFFIX = '.manifest.json';

/**
 * Names that are in-flight uploads or leftovers of one, never backups:
 * `x.tmp`, `x.tmp-1a2b`, `x.tmp.1a2b`, `x.part`, `x.partial`, `x.upload` (with an optional
 * `-token` / `.token` after the marker). Destinations stage uploads under such names.
 */
const TEMP_NAME_RE = /\.(?:tmp|temp|part|partial|upload)(?:[-.][A-Za-z0-9_]+)?$/i;

export function isTemporaryName(name: string): boolean {
  return TEMP_NAME_RE.test(name);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The instant before which a backup is old enough to prune: now - days*24h - leeway. */
export function pruneDeadline(policy: RetentionPolicy, now: Date): Date {
  return new Date(now.getTime() - policy.days * DAY_MS - Math.max(0, policy.leewayMs));
}

/** Newer first: later modified time, ties broken by the larger name. */
function newerThan(a: BackupObject, b: BackupObject): boolean {
  const ta = a.modified.getTime();
  const tb = b.modified.getTime();
  if (ta !== tb) return ta > tb;
  return a.name > b.name;
}

function timeOf(o: BackupObject): number {
  const t = o.modified instanceof Date ? o.modified.getTime() : NaN;
  return t;
}

/**
 * The time a backup was made: read from its name through the template in the zone, else its
 * modification time, else unknown.
 */
export function backupTime(o: BackupObject, names: RetentionPolicy['names']): { time: Date | null; from: PlannedBackup['timeFrom'] } {
  if (names) {
    const t = parseTimeFromName(names.template, o.name, names.timeZone);
    if (t) return { time: t, from: 'name' };
  }
  const m = timeOf(o);
  return Number.isNaN(m) ? { time: null, from: 'unknown' } : { time: new Date(m), from: 'modified' };
}

const byNameAsc = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Pure retention: which backups to delete.
 *
 * Candidates: names starting with `policy.prefix` that are neither temporary upload names
 * nor sidecars (`<archive>.manifest.json`); nothing outside the prefix is ever removed.
 * Never removed: `justWritten`, the newest candidate, a candidate whose time is unknown.
 * If the plan would remove every candidate, nothing is removed and a warning says why.
 * A removed archive takes its sidecar with it; a kept archive keeps it.
 *
 * Age (offen/docker-volume-backup semantics, but safer), when `policy.keep` is not set:
 * - `policy.days < 0`: nothing.
 * - Deadline = now - days*24h - leeway; a candidate modified before it is removed.
 * - A sidecar whose archive is absent is removed when it is itself older than the deadline
 *   (unless it belongs to `justWritten`).
 *
 * Rules (`policy.keep`, restic's `forget --keep-*`, see policy.ts): each candidate's time is read
 * from its name (`policy.names`), else its modification time; the rules decide on that series.
 * A sidecar whose archive is absent is removed when it is older than the oldest kept backup.
 *
 * `remove` lists archives oldest first, each followed by its sidecar, then orphan sidecars.
 * `backups` lists every candidate newest first with its fate and reasons.
 */
export function planPrune(listing: BackupObject[], policy: RetentionPolicy, now: Date, justWritten: string | null): PruneDecision {
  const warnings: string[] = [];
  const keepRules = policy.keep ?? null;
  if (!keepRules && (!(policy.days >= 0) || !Number.isFinite(policy.days))) return { remove: [], warnings, backups: [], kept: 0 };
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new TypeError('planPrune: now is an invalid Date');
  const prefix = policy.prefix;

  // One entry per name (a listing should not repeat names; if it does, keep the newest time).
  const byName = new Map<string, BackupObject>();
  for (const o of listing) {
    if (!o || typeof o.name !== 'string' || o.name === '') continue;
    const prev = byName.get(o.name);
    if (!prev || timeOf(o) > timeOf(prev)) byName.set(o.name, o);
  }

  const archives: BackupObject[] = [];
  const orphanSidecars: BackupObject[] = [];
  for (const o of byName.values()) {
    if (!o.name.startsWith(prefix)) continue;
    if (o.name.endsWith(SIDECAR_SUFFIX) && o.name.length > SIDECAR_SUFFIX.length) {
      const archive = o.name.slice(0, -SIDECAR_SUFFIX.length);
      if (!byName.has(archive)) orphanSidecars.push(o);
      continue; // a sidecar of a listed name follows that name's fate
    }
    if (isTemporaryName(o.name)) continue;
    archives.push(o);
  }
  if (archives.length === 0 && orphanSidecars.length === 0) return { remove: [], warnings, backups: [], kept: 0 };
  const sidecarOf = (name: string) => (byName.has(name + SIDECAR_SUFFIX) ? name + SIDECAR_SUFFIX : undefined);

  if (keepRules) return guardJustWritten(planKeep(archives, orphanSidecars, keepRules, policy, nowMs, justWritten, sidecarOf, warnings), justWritten);

  const deadline = pruneDeadline(policy, now).getTime();
  let newest: BackupObject | null = null;
  for (const a of archives) {
    if (Number.isNaN(timeOf(a))) continue;
    if (!newest || newerThan(a, newest)) newest = a;
  }

  const why = new Map<BackupObject, string>();
  const expired: BackupObject[] = [];
  const expiredKept: string[] = [];
  for (const a of archives) {
    const t = timeOf(a);
    if (Number.isNaN(t)) {
      warnings.push(`kept ${a.name}: its modification time is unknown`);
      why.set(a, 'modification time unknown');
      continue;
    }
    if (!(t < deadline)) {
      why.set(a, `newer than ${policy.days} day(s)`);
      continue;
    }
    if (a.name === justWritten) {
      warnings.push(`kept ${a.name}: it was just written, but the destination reports it older than the retention deadline (clock skew?)`);
      why.set(a, 'just written');
      continue;
    }
    expired.push(a);
    if (a === newest) {
      expiredKept.push(a.name);
      why.set(a, 'newest backup');
    }
  }

  const entries = (removed: Set<BackupObject>): PlannedBackup[] =>
    [...archives]
      .sort((a, b) => (newerThan(a, b) ? -1 : newerThan(b, a) ? 1 : 0))
      .map((a) => {
        const t = timeOf(a);
        const gone = removed.has(a);
        return {
          name: a.name,
          time: Number.isNaN(t) ? null : new Date(t),
          timeFrom: Number.isNaN(t) ? 'unknown' : 'modified',
          keep: !gone,
          reasons: [gone ? `older than ${policy.days} day(s)` : (why.get(a) ?? 'kept')],
          ...(sidecarOf(a.name) ? { sidecar: sidecarOf(a.name) } : {}),
        };
      });

  if (expired.length > 0 && expired.length === archives.length) {
    warnings.push(
      `refusing to delete all ${archives.length} backup(s) starting with "${prefix}": every one is older than ${policy.days} day(s); ` +
        'check BACKUP_RETENTION_DAYS, BACKUP_PRUNING_PREFIX and that new backups are being written',
    );
    for (const a of archives) why.set(a, 'refused: pruning would delete every backup');
    return { remove: [], warnings, backups: entries(new Set()), kept: archives.length };
  }
  for (const n of expiredKept) {
    warnings.push(`kept ${n}: it is the newest backup, although older than ${policy.days} day(s)`);
  }

  const toRemove = expired.filter((a) => a !== newest).sort((a, b) => timeOf(a) - timeOf(b) || byNameAsc(a, b));
  const remove: string[] = [];
  for (const a of toRemove) {
    remove.push(a.name);
    const sidecar = a.name + SIDECAR_SUFFIX;
    if (byName.has(sidecar) && sidecar.startsWith(prefix)) remove.push(sidecar);
  }
  const keepSidecar = justWritten ? justWritten + SIDECAR_SUFFIX : null;
  for (const s of orphanSidecars.sort(byNameAsc)) {
    const t = timeOf(s);
    if (s.name === keepSidecar || s.name === justWritten || Number.isNaN(t) || !(t < deadline)) continue;
    remove.push(s.name);
  }
  return guardJustWritten({ remove, warnings, backups: entries(new Set(toRemove)), kept: archives.length - toRemove.length }, justWritten);
}

/** Last line of defence: whatever the plan, the name just written and its sidecar stay. */
function guardJustWritten(d: PruneDecision, justWritten: string | null): PruneDecision {
  if (!justWritten) return d;
  const protectedNames = new Set([justWritten, justWritten + SIDECAR_SUFFIX]);
  return { ...d, remove: d.remove.filter((n) => !protectedNames.has(n)) };
}

function planKeep(
  archives: BackupObject[],
  orphanSidecars: BackupObject[],
  rules: KeepPolicy,
  policy: RetentionPolicy,
  nowMs: number,
  justWritten: string | null,
  sidecarOf: (name: string) => string | undefined,
  warnings: string[],
): PruneDecision {
  const names = policy.names ?? null;
  const prefix = policy.prefix;
  type Row = PlannedBackup & { t: number };
  const known: Row[] = [];
  const unknown: Row[] = [];
  for (const a of archives) {
    const { time, from } = backupTime(a, names);
    const sidecar = sidecarOf(a.name);
    const row: Row = { name: a.name, time, timeFrom: from, keep: true, reasons: [], t: time ? time.getTime() : NaN, ...(sidecar ? { sidecar } : {}) };
    if (time) known.push(row);
    else {
      row.reasons.push('time unknown');
      warnings.push(`kept ${a.name}: its time is unknown (the name does not match BACKUP_FILENAME and the modification time is missing)`);
      unknown.push(row);
    }
  }
  if (isEmptyPolicy(rules)) {
    // a configuration that keeps nothing is refused when it is read; never act on one
    warnings.push('the retention rules keep nothing; nothing was removed');
    for (const r of known) r.reasons.push('refused: the rules keep nothing');
    return finish([...known, ...unknown], [], warnings);
  }
  // equal times: the larger name counts as newer (names usually hold the time to the second)
  known.sort((a, b) => b.t - a.t || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  const decisions = applyKeepPolicy(known, (r) => r.t, rules, { timeZone: names?.timeZone ?? 'UTC', now: nowMs });
  const ordered: Row[] = [];
  for (const d of decisions) {
    d.item.keep = d.keep;
    d.item.reasons = d.reasons.map(formatReason);
    ordered.push(d.item);
  }
  const newest = ordered[0];
  if (newest && !newest.keep) {
    newest.keep = true;
    newest.reasons.push('newest backup');
  }
  for (const r of ordered) {
    if (r.name === justWritten && !r.keep) {
      r.keep = true;
      r.reasons.push('just written');
      warnings.push(`kept ${r.name}: it was just written, but the rules would remove it (is its time right?)`);
    }
  }
  const doomed = ordered.filter((r) => !r.keep);
  if (doomed.length > 0 && doomed.length === archives.length) {
    warnings.push(`refusing to delete all ${archives.length} backup(s) starting with "${prefix}" (rules: ${describePolicy(rules)})`);
    for (const r of doomed) {
      r.keep = true;
      r.reasons = ['refused: pruning would delete every backup'];
    }
  }
  for (const r of ordered) if (!r.keep) r.reasons = ['no rule keeps it'];
  // an orphan sidecar goes once it is older than every backup that stays
  const keptTimes = ordered.filter((r) => r.keep).map((r) => r.t);
  const oldestKept = keptTimes.length ? Math.min(...keptTimes) : -Infinity;
  const keepSidecar = justWritten ? justWritten + SIDECAR_SUFFIX : null;
  const orphansGone = orphanSidecars.filter((s) => {
    if (s.name === keepSidecar) return false;
    const { time } = backupTime({ ...s, name: s.name.slice(0, -SIDECAR_SUFFIX.length) }, names);
    return time !== null && time.getTime() < oldestKept;
  });
  return finish([...ordered, ...unknown], orphansGone, warnings);
}

function finish(rows: Array<PlannedBackup & { t: number }>, orphansGone: BackupObject[], warnings: string[]): PruneDecision {
  const remove: string[] = [];
  const gone = rows.filter((r) => !r.keep).sort((a, b) => a.t - b.t || byNameAsc(a, b));
  for (const r of gone) {
    remove.push(r.name);
    if (r.sidecar) remove.push(r.sidecar);
  }
  for (const s of [...orphansGone].sort(byNameAsc)) remove.push(s.name);
  const backups: PlannedBackup[] = rows.map(({ t: _t, ...r }) => r);
  return { remove, warnings, backups, kept: rows.length - gone.length };
}
