/**
 * list, restore, verify, export and import: the read side of offsite,
 * working on any Destination.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { recordVerification } from './history.ts';
import { noDestinationHint } from '../destinations/registry.ts';
import type { Logger } from '../log.ts';
import type { BackupObject, Destination } from '../destinations/types.ts';
import type { DecryptionKeys, EncryptionMethod } from '../crypto/index.ts';
import { UserError, errorMessage } from '../errors.ts';
import { isTemporaryName } from '../retention/index.ts';
import { parseTimeFromName } from '../archive/filename.ts';
import { extractArchive, type EntryInfo, type ExtractProgress, type ExtractResult } from '../archive/extract.ts';
import {
  readManifest,
  parseSidecar,
  sidecarName,
  isSidecarName,
  buildSidecar,
  encodeManifest,
  NewerFormatError,
  type Manifest,
  type Sidecar,
} from '../manifest/index.ts';

export interface ListedBackup {
  destination: Destination['name'];
  location: string;
  name: string;
  size: number;
  modified: Date;
  /** The sidecar manifest, when the destination holds a readable one. */
  manifest: Sidecar | null;
  /** Why the sidecar could not be read (missing sidecars are not an error). */
  manifestError?: string;
}

/** Pick destinations by kind name (case-insensitive), or all of them. */
export function pickDestinations(all: Destination[], name: string | undefined, flag = '--destination'): Destination[] {
  if (all.length === 0) {
    throw new UserError('no destination is configured', noDestinationHint());
  }
  if (!name) return all;
  const found = all.filter((d) => d.name.toLowerCase() === name.toLowerCase());
  if (found.length === 0) {
    throw new UserError(`${flag} ${name}: no such destination is configured`, `configured: ${all.map((d) => d.name).join(', ')}`);
  }
  return found;
}

/** How a job names its backups: BACKUP_FILENAME (after $VAR expansion) and TZ, to read a backup's time from its name. */
export interface Naming {
  template: string;
  timeZone: string;
}

/** A backup's time: the time its name stands for (through the job's file name template), else its modification time. */
export function backupTime(o: Pick<BackupObject, 'name' | 'modified'>, naming?: Naming): number {
  const t = naming ? parseTimeFromName(naming.template, o.name, naming.timeZone) : null;
  return (t ?? o.modified).getTime();
}

/** Newest first: by the time in the name, then the modification time, then the name. */
export function newestFirst(naming?: Naming): (a: BackupObject, b: BackupObject) => number {
  const key = new Map<BackupObject, number>();
  const time = (o: BackupObject) => {
    let t = key.get(o);
    if (t === undefined) {
      t = backupTime(o, naming);
      key.set(o, t);
    }
    return t;
  };
  return (a, b) => {
    const d = time(b) - time(a) || b.modified.getTime() - a.modified.getTime();
    return d !== 0 ? d : b.name < a.name ? -1 : b.name > a.name ? 1 : 0;
  };
}

/** Backups (not sidecars, not in-flight uploads) under `prefix`, newest first. */
export async function listArchives(dest: Destination, prefix = '', naming?: Naming): Promise<BackupObject[]> {
  const all = await dest.list(prefix);
  return all.filter((o) => !isSidecarName(o.name) && !isTemporaryName(o.name)).sort(newestFirst(naming));
}

async function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) {
      stream.destroy();
      throw new UserError(`${what} is larger than ${limit} bytes`, 'it is not an offsite manifest');
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

/** The sidecar of `name` on `dest`, or null when there is none. A newer format version throws. */
export async function fetchSidecar(dest: Destination, name: string, listing?: BackupObject[]): Promise<Sidecar | null> {
  const sc = sidecarName(name);
  const objs = listing ?? (await dest.list(sc));
  if (!objs.some((o) => o.name === sc)) return null;
  const data = await readAll(await dest.download(sc), 1024 * 1024, sc);
  return parseSidecar(data, `${dest.name}: ${sc}`);
}

/** Every backup on the given destinations, newest first per destination, with their sidecars. */
export async function listBackups(dests: Destination[], prefix = '', log?: Logger, naming?: Naming): Promise<ListedBackup[]> {
  const out: ListedBackup[] = [];
  for (const d of dests) {
    const all = await d.list(prefix);
    const archives = all.filter((o) => !isSidecarName(o.name) && !isTemporaryName(o.name)).sort(newestFirst(naming));
    const rows: ListedBackup[] = archives.map((o) => ({
      destination: d.name,
      location: d.location,
      name: o.name,
      size: o.size,
      modified: o.modified,
      manifest: null,
    }));
    // sidecars are small; read a few at a time
    let i = 0;
    const worker = async () => {
      while (i < rows.length) {
        const row = rows[i++]!;
        try {
          row.manifest = await fetchSidecar(d, row.name, all);
        } catch (e) {
          row.manifestError = errorMessage(e);
          log?.warn({ destination: d.name, backup: row.name }, `cannot read the manifest: ${row.manifestError}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    out.push(...rows);
  }
  return out;
}

/**
 * Resolve `latest` (or undefined) to the newest backup, or check that `name` exists.
 * Newest is by the time in the name (read through `naming`), then the modification
 * time: not the last uploaded (an import or a copy made later is not newer).
 */
export async function findBackup(dest: Destination, name: string | undefined, prefix = '', naming?: Naming): Promise<BackupObject> {
  if (!name || name === 'latest') {
    const [newest] = await listArchives(dest, prefix, naming);
    if (!newest)
      throw new UserError(
        `${dest.name} (${dest.location}) holds no backup${prefix ? ` starting with "${prefix}"` : ''}`,
        'run `offsite list` to see what is stored',
      );
    return newest;
  }
  const found = (await dest.list(name)).find((o) => o.name === name);
  if (!found) throw new UserError(`${dest.name} (${dest.location}) holds no backup named ${name}`, 'run `offsite list` to see what is stored');
  return found;
}

/** A pass-through that hashes and counts what flows through it. */
class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

interface Hashed {
  /** The bytes, for the consumer. */
  stream: Readable;
  /** Size and SHA-256 once the consumer read everything. */
  done: () => Promise<{ sha256: string; size: number }>;
  /** After the consumer failed: read the rest of the download only to hash it. */
  drain: () => Promise<{ sha256: string; size: number } | null>;
}

function hashed(source: Readable): Hashed {
  const h = new Hasher({ highWaterMark: 1 << 20 });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  source.on('error', (e) => h.destroy(e));
  h.on('error', (e) => out.destroy(e));
  source.pipe(h).pipe(out);
  let digest: string | null = null;
  const done = async () => {
    if (!h.writableFinished) await finished(h, { readable: false });
    digest ??= h.hash.digest('hex');
    return { sha256: digest, size: h.size };
  };
  return {
    stream: out,
    done,
    drain: async () => {
      if (h.errored) return null;
      if (!h.writableFinished) {
        if (h.destroyed) return null;
        h.unpipe(out);
        h.resume();
      }
      try {
        return await done();
      } catch {
        return null;
      }
    },
  };
}

const DAMAGED_HINT = 'the archive was changed or damaged in storage or transfer; try another destination or an older backup';

function checkIntegrity(got: { sha256: string; size: number }, sidecar: Sidecar | null, name: string): string | null {
  if (!sidecar) return null;
  if (got.size !== sidecar.archive.size) {
    throw new UserError(`${name} is ${got.size} bytes, but its manifest says ${sidecar.archive.size}`, DAMAGED_HINT);
  }
  if (got.sha256 !== sidecar.archive.sha256) {
    throw new UserError(`${name} does not match its manifest: SHA-256 ${got.sha256}, expected ${sidecar.archive.sha256}`, DAMAGED_HINT);
  }
  return `SHA-256 ${got.sha256} and size ${got.size} match the manifest`;
}

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
  const { stream, done } = hashed(await o.destination.download(obj.name));
  const result = await extractArchive(stream, {
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
      const c = checkIntegrity(await done(), sidecar, obj.name);
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

    const { stream, done, drain } = hashed(await o.destination.download(obj.name));
    let result: ExtractResult;
    try {
      result = await extractArchive(stream, {
        keys: o.keys,
        log: o.log,
        signal: o.signal,
        ...contentBound(sidecar),
        onManifest: (m) => {
          report.manifest = readManifest(m, `the manifest inside ${obj.name}`);
        },
        beforeCommit: async () => {
          const c = checkIntegrity(await done(), sidecar, obj.name);
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
  const { stream, done } = hashed(await o.destination.download(obj.name));
  const result = await extractArchive(stream, {
    keys: o.keys,
    log: o.log,
    signal: o.signal,
    onEntry: o.onEntry,
    ...contentBound(sidecar),
    onManifest: (m) => {
      readManifest(m, `the manifest inside ${obj.name}`);
    },
    beforeCommit: async () => {
      checkIntegrity(await done(), sidecar, obj.name);
    },
  });
  return { name: obj.name, result };
}

export interface ExportOptions {
  destination: Destination;
  name?: string;
  prefix?: string;
  /** How the job names backups (for `latest`). */
  naming?: Naming;
  file: string;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * Where an export goes: FILE, or DIR/<backup name> when `file` is an existing
 * directory or ends with a slash (which must then be an existing directory).
 */
async function exportPath(file: string, name: string): Promise<string> {
  const abs = resolve(file);
  const st = await stat(abs).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? null : Promise.reject(e)));
  if (/[/\\]$/.test(file) || st?.isDirectory()) {
    if (!st) throw new UserError(`the directory ${abs} does not exist`, 'create it first, or give the path of a file to write');
    if (!st.isDirectory()) throw new UserError(`${abs} is not a directory`, 'give a directory to export into, or the path of a file without a trailing slash');
    return join(abs, name);
  }
  const dir = dirname(abs);
  const dst = await stat(dir).catch(() => null);
  if (!dst?.isDirectory()) throw new UserError(`the directory ${dir} does not exist`, 'create it first, or export into an existing directory');
  return abs;
}

/**
 * Copy one backup, as stored, to a local file (plus its sidecar as
 * `<file>.manifest.json`), checking its SHA-256. Both are written under
 * temporary names and renamed only when complete: a failed export leaves
 * nothing behind.
 */
export async function exportBackup(o: ExportOptions): Promise<{ name: string; file: string; size: number; sha256: string; sidecar: boolean }> {
  const obj = await findBackup(o.destination, o.name, o.prefix, o.naming);
  const file = await exportPath(o.file, obj.name);
  const sidecar = await fetchSidecar(o.destination, obj.name);
  const part = `${file}.part`;
  const scFile = `${file}.manifest.json`;
  const scPart = `${scFile}.part`;
  const created: string[] = []; // only what this export made is removed on failure
  try {
    const { stream, done } = hashed(await o.destination.download(obj.name));
    const out = createWriteStream(part, { flags: 'wx' });
    await new Promise<void>((res, rej) => {
      out
        .once('open', () => {
          created.push(part);
          res();
        })
        .once('error', rej);
    });
    await (o.signal ? pipeline(stream, out, { signal: o.signal }) : pipeline(stream, out));
    const got = await done();
    checkIntegrity(got, sidecar, obj.name);
    if (sidecar) {
      await writeFile(scPart, encodeManifest(sidecar), { flag: 'wx' });
      created.push(scPart);
      await rename(scPart, scFile);
      created.splice(created.indexOf(scPart), 1, scFile);
    }
    await rename(part, file);
    o.log.info({ backup: obj.name, file, size: got.size }, 'backup exported');
    return { name: obj.name, file, size: got.size, sha256: got.sha256, sidecar: sidecar !== null };
  } catch (e) {
    await Promise.all(created.map((f) => rm(f, { force: true }).catch(() => {})));
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') throw new UserError(`${err.path ?? part} already exists`, 'remove it, or export to another file');
    if (err.code === 'EISDIR') throw new UserError(`${file} is a directory`, 'export into it with a trailing slash, or give another file name');
    throw e;
  }
}

export interface ImportOptions {
  destinations: Destination[];
  file: string;
  keys: DecryptionKeys;
  /** Replace a backup of the same name. */
  force?: boolean;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * Upload a local archive (e.g. from `offsite export`) to destinations under its
 * file name, with a sidecar: `<file>.manifest.json` when present (its SHA-256
 * must match), otherwise one built by decoding the whole archive first.
 */
export async function importBackup(o: ImportOptions): Promise<{ name: string; sidecar: Sidecar; destinations: string[] }> {
  const name = basename(o.file);
  const st = await stat(o.file).catch(() => null);
  if (!st?.isFile()) throw new UserError(`${o.file} is not a file`, 'give the path of an archive, e.g. one written by `offsite export`');
  let sidecar: Sidecar | null = null;
  const scFile = `${o.file}.manifest.json`;
  const scData = await readFile(scFile).catch(() => null);
  const { stream, done } = hashed(createReadStream(o.file));
  if (scData) {
    const read = parseSidecar(scData, scFile);
    stream.resume();
    checkIntegrity(await done(), read, o.file);
    sidecar = buildSidecar(read, { ...read.archive, name }, read.archived);
  } else {
    let manifest: Manifest | null = null;
    const r = await extractArchive(stream, {
      keys: o.keys,
      log: o.log,
      signal: o.signal,
      onManifest: (m) => {
        manifest = readManifest(m, `the manifest inside ${name}`);
      },
    });
    const got = await done();
    const base: Manifest = manifest ?? {
      format: 'offsite-backup',
      formatVersion: 1,
      offsiteVersion: 'unknown',
      job: 'imported',
      created: st.mtime.toISOString(),
      sources: [],
      layout: 'path',
      counts: { files: r.files + r.hardlinks, directories: r.directories, symlinks: r.symlinks },
      bytes: r.bytes,
      compression: r.compression,
      encryption: r.encryption,
    };
    sidecar = buildSidecar(
      base,
      { name, size: got.size, sha256: got.sha256 },
      {
        files: r.files + r.hardlinks,
        directories: r.directories,
        symlinks: r.symlinks,
        bytes: r.bytes,
        skipped: r.skipped,
        unreadable: 0,
      },
    );
  }
  const body = encodeManifest(sidecar);
  for (const d of o.destinations) {
    const existing = (await d.list(name)).filter((x) => x.name === name || x.name === sidecarName(name));
    if (existing.some((x) => x.name === name)) {
      if (!o.force) throw new UserError(`${d.name} already holds a backup named ${name}`, 'pass --force to replace it, or rename the file');
    }
    if (existing.length) await d.remove(existing.map((x) => x.name));
  }
  const done2: string[] = [];
  for (const d of o.destinations) {
    await d.upload(name, createReadStream(o.file), { size: st.size, signal: o.signal });
    await d.upload(sidecarName(name), Readable.from([body]), { size: body.length, signal: o.signal });
    done2.push(d.name);
    o.log.info({ destination: d.name, backup: name }, 'backup imported');
  }
  return { name, sidecar, destinations: done2 };
}
