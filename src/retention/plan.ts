import type { BackupObject } from '../destinations/types.ts';
import type { RetentionPolicy, PruneDecision } from './index.ts';

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
 * Pure retention: which backups to delete (offen/docker-volume-backup semantics, but safer).
 *
 * - `policy.days < 0`: nothing.
 * - Candidates: names starting with `policy.prefix` that are neither temporary upload names
 *   nor sidecars (`<archive>.manifest.json`); nothing outside the prefix is ever removed.
 * - Deadline = now - days*24h - leeway; a candidate modified before it is removed, except
 *   `justWritten`, the newest candidate (by modified time, ties by name), and a candidate whose
 *   time is unknown (invalid Date).
 * - If that would remove every candidate, nothing is removed and a warning says why.
 * - A removed archive takes its sidecar with it. A sidecar whose archive is absent is removed
 *   when it is itself older than the deadline (unless it belongs to `justWritten`).
 *
 * `remove` lists archives oldest first, each followed by its sidecar, then orphan sidecars.
 */
export function planPrune(listing: BackupObject[], policy: RetentionPolicy, now: Date, justWritten: string | null): PruneDecision {
  const warnings: string[] = [];
  if (!(policy.days >= 0) || !Number.isFinite(policy.days)) return { remove: [], warnings };
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new TypeError('planPrune: now is an invalid Date');
  const deadline = pruneDeadline(policy, now).getTime();
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
  if (archives.length === 0 && orphanSidecars.length === 0) return { remove: [], warnings };

  let newest: BackupObject | null = null;
  for (const a of archives) {
    if (Number.isNaN(timeOf(a))) continue;
    if (!newest || newerThan(a, newest)) newest = a;
  }

  const expired: BackupObject[] = [];
  const expiredKept: string[] = [];
  for (const a of archives) {
    const t = timeOf(a);
    if (Number.isNaN(t)) {
      warnings.push(`kept ${a.name}: its modification time is unknown`);
      continue;
    }
    if (!(t < deadline)) continue;
    if (a.name === justWritten) {
      warnings.push(`kept ${a.name}: it was just written, but the destination reports it older than the retention deadline (clock skew?)`);
      continue;
    }
    expired.push(a);
    if (a === newest) expiredKept.push(a.name);
  }

  if (expired.length > 0 && expired.length === archives.length) {
    warnings.push(
      `refusing to delete all ${archives.length} backup(s) starting with "${prefix}": every one is older than ${policy.days} day(s); ` +
        'check BACKUP_RETENTION_DAYS, BACKUP_PRUNING_PREFIX and that new backups are being written',
    );
    return { remove: [], warnings };
  }
  for (const n of expiredKept) {
    warnings.push(`kept ${n}: it is the newest backup, although older than ${policy.days} day(s)`);
  }

  const toRemove = expired.filter((a) => a !== newest).sort((a, b) => timeOf(a) - timeOf(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const remove: string[] = [];
  for (const a of toRemove) {
    remove.push(a.name);
    const sidecar = a.name + SIDECAR_SUFFIX;
    if (byName.has(sidecar) && sidecar.startsWith(prefix)) remove.push(sidecar);
  }
  const keepSidecar = justWritten ? justWritten + SIDECAR_SUFFIX : null;
  for (const s of orphanSidecars.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const t = timeOf(s);
    if (s.name === keepSidecar || s.name === justWritten || Number.isNaN(t) || !(t < deadline)) continue;
    remove.push(s.name);
  }
  return { remove, warnings };
}
