/**
 * What a destination holds: listing backups (with their manifests), picking the newest,
 * finding one by name. Used by list, restore, verify, export, the status page and the API.
 */
import { Readable } from 'node:stream';
import { noDestinationHint } from '../destinations/registry.ts';
import type { Logger } from '../log.ts';
import type { BackupObject, Destination } from '../destinations/types.ts';
import { UserError, errorMessage } from '../errors.ts';
import { isTemporaryName } from '../retention/index.ts';
import { parseTimeFromName } from '../archive/filename.ts';
import { parseSidecar, sidecarName, isSidecarName, type Sidecar } from '../manifest/index.ts';

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
