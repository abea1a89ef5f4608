/**
 * Backup manifests. Every archive carries one as its first entry
 * (`.offsite-manifest.json`, written from the pre-scan, so before the archive's
 * own size and hash exist), and every destination holds a sidecar
 * `<archive>.manifest.json` beside the archive with the same fields plus the
 * archive's size and SHA-256 and the counts actually archived.
 *
 * Format versions: a reader refuses a newer format with a clear message and
 * keeps reading every older one (test/fixtures holds one archive per version).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import type { EncryptionMethod } from '../crypto/types.ts';
import { SIDECAR_SUFFIX } from '../retention/index.ts';

export { SIDECAR_SUFFIX };

/** The archive format this offsite writes. Bump when a reader of the previous version could not restore the new one. */
export const FORMAT_VERSION = 1;
/** First entry of every archive; restore never writes it to disk. */
export const MANIFEST_ENTRY = '.offsite-manifest.json';
const FORMAT_MARK = 'offsite-backup';

export const OFFSITE_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface ManifestCounts {
  files: number;
  directories: number;
  symlinks: number;
}

/** The manifest inside the archive. */
export interface Manifest {
  format: typeof FORMAT_MARK;
  formatVersion: number;
  offsiteVersion: string;
  job: string;
  /** ISO 8601 time the backup started. */
  created: string;
  sources: string[];
  /**
   * Where the sources are inside the archive: `path` (each under its path without the
   * leading slash, `backup/app/x`, as offen stores them) or `basename` (`app/x`, offsite
   * before the `layout` field existed; a manifest without it reads as `basename`).
   */
  layout: ArchiveLayout;
  /** What the pre-scan found (lstat only, before archiving). */
  counts: ManifestCounts;
  /** Uncompressed bytes of file contents found by the pre-scan. */
  bytes: number;
  compression: 'gz' | 'zst' | 'none';
  /** The method only; never a key. */
  encryption: EncryptionMethod;
}

export type ArchiveLayout = 'path' | 'basename';

/** The sidecar beside the archive: the manifest plus what only exists once the archive is written. */
export interface Sidecar extends Manifest {
  archive: { name: string; size: number; sha256: string };
  /** What was actually archived (files may change between the scan and the archive). */
  archived: ManifestCounts & { bytes: number; skipped: number; unreadable: number };
}

/** A manifest written by a newer offsite in a format this one cannot read. */
export class NewerFormatError extends UserError {
  constructor(message: string, hint: string) {
    super(message, hint);
    this.name = 'NewerFormatError';
  }
}

export function sidecarName(archive: string): string {
  return `${archive}${SIDECAR_SUFFIX}`;
}

export function isSidecarName(name: string): boolean {
  return name.endsWith(SIDECAR_SUFFIX) && name.length > SIDECAR_SUFFIX.length;
}

export interface ManifestInput {
  job: string;
  created: Date;
  sources: string[];
  counts: ManifestCounts;
  bytes: number;
  compression: Manifest['compression'];
  encryption: EncryptionMethod;
}

export function buildManifest(i: ManifestInput): Manifest {
  return {
    format: FORMAT_MARK,
    formatVersion: FORMAT_VERSION,
    offsiteVersion: OFFSITE_VERSION,
    job: i.job,
    created: i.created.toISOString(),
    sources: [...i.sources],
    layout: 'path',
    counts: { files: i.counts.files, directories: i.counts.directories, symlinks: i.counts.symlinks },
    bytes: i.bytes,
    compression: i.compression,
    encryption: i.encryption,
  };
}

export function buildSidecar(m: Manifest, archive: Sidecar['archive'], archived: Sidecar['archived']): Sidecar {
  return { ...m, archive: { ...archive }, archived: { ...archived } };
}

export function encodeManifest(m: Manifest | Sidecar): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function bad(where: string, what: string): UserError {
  return new UserError(`${where} is not a valid offsite manifest: ${what}`, 'the archive or its sidecar was damaged, or was not written by offsite');
}

function countsOf(v: unknown, where: string, field: string): ManifestCounts {
  if (!isObj(v) || !isCount(v.files) || !isCount(v.directories) || !isCount(v.symlinks))
    throw bad(where, `"${field}" must hold files, directories and symlinks`);
  return { files: v.files, directories: v.directories, symlinks: v.symlinks };
}

/** The format version of a parsed manifest, refusing newer ones. */
function checkVersion(v: Record<string, unknown>, where: string): number {
  if (v.format !== FORMAT_MARK) throw bad(where, `"format" is ${JSON.stringify(v.format)}, expected "${FORMAT_MARK}"`);
  const version = v.formatVersion;
  if (!isCount(version) || version < 1) throw bad(where, '"formatVersion" must be a whole number of 1 or more');
  if (version > FORMAT_VERSION) {
    const by = typeof v.offsiteVersion === 'string' ? ` by offsite ${v.offsiteVersion}` : '';
    throw new NewerFormatError(
      `${where} was written${by} in backup format version ${version}; this offsite (${OFFSITE_VERSION}) reads format versions up to ${FORMAT_VERSION}`,
      'restore it with a newer offsite release (older backups stay readable by newer releases)',
    );
  }
  return version;
}

/**
 * Read a manifest (archive entry) of any supported format version into the current shape.
 * Throws a UserError for a newer format version or a malformed manifest.
 */
export function readManifest(value: unknown, where = 'the archive manifest'): Manifest {
  if (!isObj(value)) throw bad(where, 'not a JSON object');
  checkVersion(value, where);
  // format 1 is the current shape; older formats (none yet) would be converted here
  const v = value;
  const str = (k: string) => {
    if (typeof v[k] !== 'string') throw bad(where, `"${k}" must be text`);
    return v[k] as string;
  };
  const compression = v.compression;
  if (compression !== 'gz' && compression !== 'zst' && compression !== 'none') throw bad(where, '"compression" must be gz, zst or none');
  const encryption = v.encryption;
  if (encryption !== 'none' && encryption !== 'gpg' && encryption !== 'age' && encryption !== 'aes')
    throw bad(where, '"encryption" must be none, gpg, age or aes');
  if (!Array.isArray(v.sources) || !v.sources.every((s) => typeof s === 'string')) throw bad(where, '"sources" must be a list of paths');
  if (!isCount(v.bytes)) throw bad(where, '"bytes" must be a whole number');
  return {
    format: FORMAT_MARK,
    formatVersion: v.formatVersion as number,
    offsiteVersion: str('offsiteVersion'),
    job: str('job'),
    created: str('created'),
    sources: v.sources as string[],
    layout: v.layout === 'path' ? 'path' : 'basename',
    counts: countsOf(v.counts, where, 'counts'),
    bytes: v.bytes,
    compression,
    encryption,
  };
}

/** Read a sidecar (`<archive>.manifest.json`). */
export function readSidecar(value: unknown, where = 'the sidecar manifest'): Sidecar {
  const m = readManifest(value, where);
  const v = value as Record<string, unknown>;
  const a = v.archive;
  if (!isObj(a) || typeof a.name !== 'string' || !isCount(a.size) || typeof a.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(a.sha256)) {
    throw bad(where, '"archive" must hold name, size and sha256');
  }
  const ar = v.archived;
  const counts = countsOf(ar, where, 'archived');
  const r = ar as Record<string, unknown>;
  if (!isCount(r.bytes) || !isCount(r.skipped) || !isCount(r.unreadable)) throw bad(where, '"archived" must hold bytes, skipped and unreadable');
  return {
    ...m,
    archive: { name: a.name, size: a.size, sha256: a.sha256 },
    archived: { ...counts, bytes: r.bytes, skipped: r.skipped, unreadable: r.unreadable },
  };
}

/** Parse sidecar bytes. */
export function parseSidecar(data: Buffer | string, where: string): Sidecar {
  let json: unknown;
  try {
    json = JSON.parse(data.toString());
  } catch (e) {
    throw bad(where, `not JSON (${(e as Error).message})`);
  }
  return readSidecar(json, where);
}
