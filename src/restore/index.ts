/**
 * restore, verify and ls (the contents of a backup): the read side of offsite, working on
 * any Destination. Listing is in list.ts, export and import in transfer.ts.
 */
import { recordVerification } from './history.ts';
import type { Logger } from '../log.ts';
import type { Destination } from '../destinations/types.ts';
import type { DecryptionKeys, EncryptionMethod } from '../crypto/index.ts';
import { UserError, errorMessage } from '../errors.ts';
import { extractArchive, type EntryInfo, type ExtractProgress, type ExtractResult } from '../archive/extract.ts';
import { readManifest, sidecarName, NewerFormatError, type Manifest, type Sidecar } from '../manifest/index.ts';

import { findBackup, fetchSidecar, type Naming } from './list.ts';
import { hashed, checkIntegrity, checkedSource } from './integrity.ts';
/**
 * The sidecar's count of archived content bytes bounds what restore writes (and verify
 * decodes). It counts the bytes read; a file that could not be read to its end was filled
 * with zeros up to the size in its tar header, so with unreadable files the count is below
 * the content and only the manifest inside the archive bounds it.
 */
function contentBound(sidecar: Sidecar | null): { maxBytes?: number; maxBytesSource?: string } {
  if (!sidecar || sidecar.archived.unreadable > 0) return {};
  return { maxBytes: sidecar.archived.bytes, maxBytesSource: `which its manifest ${sidecarName(sidecar.archive.name)} says were archived` };
}

/** Can these keys decrypt an archive made with `method`? (A gpg archive may need the other kind of gpg key.) */
export function haveKeyFor(method: EncryptionMethod, keys: DecryptionKeys): boolean {
  switch (method) {
    case 'none':
      return true;
    case 'gpg':
      return keys.gpgPassphrase !== undefined || keys.gpgPrivateKey !== undefined;
    case 'age':
      return keys.agePassphrase !== undefined || (keys.ageIdentities?.length ?? 0) > 0;
    case 'aes':
      return keys.aesKeyHex !== undefined;
  }
}

function keyVariables(method: EncryptionMethod): string {
  switch (method) {
    case 'gpg':
      return 'GPG_PASSPHRASE or GPG_PRIVATE_KEY';
    case 'age':
      return 'AGE_PASSPHRASE or AGE_SECRET_KEYS';
    case 'aes':
      return 'BACKUP_ENCRYPTION_KEY';
    default:
      return '';
  }
}

export interface RestoreOptions {
  destination: Destination;
  /** A backup name, or `latest` / undefined for the newest under `prefix`. */
  name?: string;
  prefix?: string;
  /** How the job names backups (for `latest`). */
  naming?: Naming;
  target: string;
  include?: string[];
  force?: boolean;
  keys: DecryptionKeys;
  log: Logger;
  signal?: AbortSignal;
  /** Progress, with the totals the manifest announces (null until known). */
  onProgress?: (p: ExtractProgress, total: { files: number; bytes: number } | null) => void;
}

export interface RestoreReport {
  destination: Destination['name'];
  name: string;
  target: string;
  result: ExtractResult;
  manifest: Manifest | null;
  sidecar: Sidecar | null;
  /** What was checked, one line each. */
  checks: string[];
}

/** Download, check SHA-256 against the sidecar, decrypt, decompress, extract. All or nothing. */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreReport> {
  const obj = await findBackup(o.destination, o.name, o.prefix, o.naming);
  let sidecar: Sidecar | null = null;
  try {
    sidecar = await fetchSidecar(o.destination, obj.name);
  } catch (e) {
    // a newer format is refused; a damaged or unreadable sidecar only loses the hash check
    if (e instanceof NewerFormatError) throw e;
    o.log.warn({ backup: obj.name, error: errorMessage(e) }, 'the manifest beside this backup cannot be read (restoring without its SHA-256 check)');
  }
  const checks: string[] = [];
  if (!sidecar) o.log.warn({ backup: obj.name }, 'no manifest beside this backup: its SHA-256 cannot be checked (restoring anyway)');
  let manifest: Manifest | null = null;
  let total: { files: number; bytes: number } | null = sidecar ? { files: sidecar.archived.files, bytes: sidecar.archived.bytes } : null;
  o.log.info({ destination: o.destination.name, backup: obj.name, size: obj.size, target: o.target }, 'restore started');
  const { input, check } = await checkedSource(o.destination, obj.name, sidecar);
  const result = await extractArchive(input, {
    target: o.target,
    include: o.include,
    force: o.force,
    keys: o.keys,
    log: o.log,
    signal: o.signal,
    ...contentBound(sidecar),
    onManifest: (m) => {
      manifest = readManifest(m, `the manifest inside ${obj.name}`);
      total ??= { files: manifest.counts.files, bytes: manifest.bytes };
    },
    onProgress: o.onProgress ? (p) => o.onProgress!(p, total) : undefined,
    beforeCommit: async () => {
      const c = await check();
      if (c) checks.push(c);
    },
  });
  if (result.encryption !== 'none') checks.push(`decrypted (${result.encryption})`);
  checks.push(`decoded ${result.files} files, ${result.directories} directories, ${result.symlinks} symlinks, ${result.bytes} bytes`);
  o.log.info({ backup: obj.name, target: o.target, files: result.files, bytes: result.bytes, skipped: result.skipped }, 'restore finished');
  return { destination: o.destination.name, name: obj.name, target: o.target, result, manifest, sidecar, checks };
}

export interface VerifyOptions {
  destination: Destination;
  name?: string;
  prefix?: string;
  /** How the job names backups (for `latest`). */
  naming?: Naming;
  keys: DecryptionKeys;
  log: Logger;
  signal?: AbortSignal;
  /** OFFSITE_STATE_DIR: when given, the outcome is recorded for `offsite list`. */
  stateDir?: string;
}

export interface VerifyReport {
  destination: Destination['name'];
  location: string;
  name: string;
  ok: boolean;
  /** False when the contents could not be decoded for want of a key (the hash was still checked). */
  contentChecked: boolean;
  checks: string[];
  problems: string[];
  warnings: string[];
  result: ExtractResult | null;
  sidecar: Sidecar | null;
  manifest: Manifest | null;
  /** The backup exists on the destination (so this report verified it, well or not). */
  found?: boolean;
}

/**
 * Download one backup and check it without writing files: size and SHA-256
 * against the sidecar, the manifest's format version, and a full decrypt +
 * decompress + tar decode, whose counts must match what was archived.
 */
export async function verifyBackup(o: VerifyOptions): Promise<VerifyReport> {
  const report = await verifyOnce(o);
  // a backup that was found was verified (well or not); "not found" is no verification of anything
  if (o.stateDir && report.found) {
    await recordVerification(
      o.stateDir,
      {
        location: report.location,
        name: report.name,
        at: new Date().toISOString(),
        ok: report.ok,
        contentChecked: report.contentChecked,
      },
      o.log,
    );
  }
  return report;
}

async function verifyOnce(o: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = {
    destination: o.destination.name,
    location: o.destination.location,
    name: o.name ?? 'latest',
    ok: false,
    contentChecked: false,
    checks: [],
    problems: [],
    warnings: [],
    result: null,
    sidecar: null,
    manifest: null,
  };
  try {
    const obj = await findBackup(o.destination, o.name, o.prefix, o.naming);
    report.name = obj.name;
    report.found = true;
    const sidecar = await fetchSidecar(o.destination, obj.name);
    report.sidecar = sidecar;
    if (sidecar)
      report.checks.push(
        `manifest: format version ${sidecar.formatVersion}, written by offsite ${sidecar.offsiteVersion} for job ${sidecar.job} at ${sidecar.created}`,
      );
    else report.warnings.push('no manifest beside this backup: its SHA-256 cannot be checked');

    const method = sidecar?.encryption;
    if (method && !haveKeyFor(method, o.keys)) {
      // hash only: the right setup for public-key encryption without the private key at hand
      const { stream, done } = hashed(await o.destination.download(obj.name));
      stream.resume();
      const got = await done();
      report.checks.push(checkIntegrity(got, sidecar, obj.name)!);
      report.warnings.push(
        `contents not decrypted: the backup is encrypted with ${method} and ${keyVariables(method)} is not set; only its SHA-256 was checked`,
      );
      report.ok = true;
      return report;
    }

    const { input, check, drain } = await checkedSource(o.destination, obj.name, sidecar);
    let result: ExtractResult;
    try {
      result = await extractArchive(input, {
        keys: o.keys,
        log: o.log,
        signal: o.signal,
        ...contentBound(sidecar),
        onManifest: (m) => {
          report.manifest = readManifest(m, `the manifest inside ${obj.name}`);
        },
        beforeCommit: async () => {
          const c = await check();
          if (c) report.checks.push(c);
        },
      });
    } catch (e) {
      // tell damage in storage or transfer (hash differs) from a bad key or a bad backup (hash matches)
      if (sidecar && !(e instanceof UserError && /does not match its manifest|bytes, but its manifest says/.test(e.message))) {
        const got = await drain();
        if (got && (got.sha256 !== sidecar.archive.sha256 || got.size !== sidecar.archive.size)) {
          report.problems.push(
            `${obj.name} does not match its manifest (SHA-256 ${got.sha256}, ${got.size} bytes; expected ${sidecar.archive.sha256}, ${sidecar.archive.size} bytes): it was changed or damaged after the backup`,
          );
        } else if (got) {
          report.checks.push(`SHA-256 ${got.sha256} and size ${got.size} match the manifest (the archive is stored as it was written)`);
        }
      }
      throw e;
    }
    report.result = result;
    report.contentChecked = true;
    if (result.encryption !== 'none') report.checks.push(`decrypted (${result.encryption})`);
    report.checks.push(
      `decoded (${result.compression}): ${result.files} files, ${result.directories} directories, ${result.symlinks} symlinks, ${result.bytes} bytes`,
    );
    report.warnings.push(...result.warnings);
    if (!report.manifest) report.warnings.push('the archive holds no offsite manifest (made by another tool or an older offsite)');
    else report.checks.push(`archive manifest: format version ${report.manifest.formatVersion}`);
    if (sidecar) {
      const a = sidecar.archived;
      const got = { files: result.files + result.hardlinks, directories: result.directories, symlinks: result.symlinks, bytes: result.bytes };
      for (const k of ['files', 'directories', 'symlinks', 'bytes'] as const) {
        if (got[k] === a[k]) continue;
        // files cut short while reading were filled with zeros up to their tar size: more content than bytes read
        if (k === 'bytes' && a.unreadable > 0 && got.bytes > a.bytes) {
          report.warnings.push(
            `the archive holds ${got.bytes} bytes of file content, ${got.bytes - a.bytes} more than were read: ${a.unreadable} file(s) could not be read to their end during the backup and were filled with zeros`,
          );
          continue;
        }
        report.problems.push(`the archive holds ${got[k]} ${k === 'bytes' ? 'bytes of file content' : k}, but its manifest says ${a[k]} were archived`);
      }
      if (sidecar.encryption !== result.encryption)
        report.problems.push(`the archive is encrypted with ${result.encryption}, but its manifest says ${sidecar.encryption}`);
      if (sidecar.compression !== result.compression)
        report.problems.push(`the archive is compressed with ${result.compression}, but its manifest says ${sidecar.compression}`);
    }
    report.ok = report.problems.length === 0;
  } catch (e) {
    report.problems.push(errorMessage(e) + (e instanceof UserError && e.hint ? ` (${e.hint})` : ''));
    report.ok = false;
  }
  return report;
}

export interface ContentsOptions {
  destination: Destination;
  name?: string;
  prefix?: string;
  naming?: Naming;
  keys: DecryptionKeys;
  log: Logger;
  signal?: AbortSignal;
  /** Each entry as it is decoded (awaited: a slow reader slows the download). */
  onEntry: (e: EntryInfo) => void | Promise<void>;
}

/**
 * Stream a backup's paths (`offsite ls`): download, decrypt, decompress and run
 * the same checks as verify, handing over each entry as it is decoded. Throws
 * when the archive is refused or does not match its manifest (after the
 * entries read so far were handed over).
 */
export async function listContents(o: ContentsOptions): Promise<{ name: string; result: ExtractResult }> {
  const obj = await findBackup(o.destination, o.name, o.prefix, o.naming);
  let sidecar: Sidecar | null = null;
  try {
    sidecar = await fetchSidecar(o.destination, obj.name);
  } catch (e) {
    if (e instanceof NewerFormatError) throw e;
    o.log.warn({ backup: obj.name, error: errorMessage(e) }, 'the manifest beside this backup cannot be read (listing without its SHA-256 check)');
  }
  const { input, check } = await checkedSource(o.destination, obj.name, sidecar);
  const result = await extractArchive(input, {
    keys: o.keys,
    log: o.log,
    signal: o.signal,
    onEntry: o.onEntry,
    ...contentBound(sidecar),
    onManifest: (m) => {
      readManifest(m, `the manifest inside ${obj.name}`);
    },
    beforeCommit: async () => {
      await check();
    },
  });
  return { name: obj.name, result };
}
