/**
 * What an interrupted run leaves behind, and when it is safe to remove.
 *
 * Every temporary name offsite writes has one recognisable form:
 *
 *     <backup name>.offsite-<writer>-<YYYYMMDDTHHMMSSmmmZ>-<8 hex>.tmp
 *
 * (with a leading dot on local file systems: the local destination and the archive staged
 * in BACKUP_TMP_DIR). `writer` is 8 hex digits naming the processes that share one lock
 * (host name + lock file), the time stamp is when the temporary name was made (UTC).
 *
 * A leftover is stale, and removed by the next run, when
 * - it was written by a process sharing our lock (same writer) before we took the lock:
 *   runs sharing a lock never overlap, so its upload has ended (crashed or killed); or
 * - whoever wrote it, it was last modified more than LEFTOVER_MAX_AGE_MS ago: another
 *   container (another lock) writing to the same place may still be uploading, and an
 *   upload in progress keeps its temporary file fresh.
 * Names of earlier versions (`<name>.tmp-<12 hex>`, `.<name>.<16 hex>.tmp`,
 * `.offsite-<name>.<12 hex>.tmp`) carry no writer: only the age rule applies to them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';

/** Leftovers of other writers (or of unknown origin) are removed once untouched for this long. */
export const LEFTOVER_MAX_AGE_MS = 24 * 60 * 60_000;

function tag(lockFile: string | null): string {
  return createHash('sha256')
    .update(`${hostname()}\0${lockFile ? resolve(lockFile) : ''}`)
    .digest('hex')
    .slice(0, 8);
}

let writer = tag(null);

/** Name this process's writer after the lock it runs under (called once the lock file is known). */
export function setWriterIdentity(lockFile: string): void {
  writer = tag(lockFile);
}

export function writerTag(): string {
  return writer;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

/** A temporary name for an upload of `name` (no leading dot; local files add one). */
export function offsiteTempName(name: string, now: Date = new Date()): string {
  return `${name}.offsite-${writer}-${stamp(now)}-${randomBytes(4).toString('hex')}.tmp`;
}

const CURRENT = /^(.+)\.offsite-([0-9a-f]{8})-(\d{8}T\d{9}Z)-[0-9a-f]{8}\.tmp$/;
const LEGACY_REMOTE = /^(.+)\.tmp-[0-9a-f]{12}$/;
const LEGACY_LOCAL = /^\.(.+)\.[0-9a-f]{16}\.tmp$/;
const LEGACY_STAGED = /^\.offsite-(.+)\.[0-9a-f]{12}\.tmp$/;

export interface TempNameInfo {
  /** The backup name the temporary file was for. */
  backup: string;
  /** Writer tag, null for names of earlier versions. */
  writer: string | null;
  /** When the temporary name was made, null for names of earlier versions. */
  created: Date | null;
}

/** Parse an offsite temporary name (with or without a leading dot); null when it is not one. */
export function parseTempName(name: string): TempNameInfo | null {
  const m = CURRENT.exec(name.startsWith('.') ? name.slice(1) : name);
  if (m) {
    const s = m[3]!;
    const created = new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}.${s.slice(15, 18)}Z`);
    return { backup: m[1]!, writer: m[2]!, created: Number.isNaN(created.getTime()) ? null : created };
  }
  const legacy = LEGACY_STAGED.exec(name) ?? LEGACY_LOCAL.exec(name) ?? LEGACY_REMOTE.exec(name);
  return legacy ? { backup: legacy[1]!, writer: null, created: null } : null;
}

export function isOffsiteTempName(name: string): boolean {
  return parseTempName(name) !== null;
}

export interface LeftoverPolicy {
  /** Our writer tag: its temporary names made before `lockTakenAt` are stale. */
  writer: string;
  /** When this run took the lock. */
  lockTakenAt: Date;
  /** Anything offsite-temporary last modified before this is stale, whoever wrote it. */
  olderThan: Date;
}

export function leftoverPolicy(lockTakenAt: Date, maxAgeMs = LEFTOVER_MAX_AGE_MS): LeftoverPolicy {
  return { writer, lockTakenAt, olderThan: new Date(lockTakenAt.getTime() - maxAgeMs) };
}

/**
 * Is this temporary name a stale leftover? `modified`: its last modification time as the
 * destination reports it (null when unknown: then only the writer rule can apply).
 */
export function isStaleLeftover(name: string, modified: Date | null, policy: LeftoverPolicy): boolean {
  const info = parseTempName(name);
  if (!info) return false;
  if (info.writer === policy.writer && info.created && info.created.getTime() < policy.lockTakenAt.getTime()) return true;
  return modified !== null && modified.getTime() < policy.olderThan.getTime();
}

/** What a destination's cleanup did. */
export interface LeftoverReport {
  /** Names (or descriptions) removed. */
  removed: string[];
  /** Said when the destination cannot look for leftovers (e.g. the server does not implement it). */
  note?: string;
}
