/**
 * export and import: a backup copied between a destination and a local file (with its
 * manifest), checked against the manifest on the way.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log.ts';
import type { Destination } from '../destinations/types.ts';
import type { DecryptionKeys } from '../crypto/index.ts';
import { UserError } from '../errors.ts';
import { extractArchive } from '../archive/extract.ts';
import { readManifest, parseSidecar, sidecarName, buildSidecar, encodeManifest, type Manifest, type Sidecar } from '../manifest/index.ts';

import { findBackup, fetchSidecar, type Naming } from './list.ts';
import { hashed, checkIntegrity } from './integrity.ts';
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
