/**
 * What each destination holds, for /api/v1/backups and the destination metrics: listed at
 * start, after every run and when the API asks (at most every CACHE_MS). Each destination's
 * listing and the reading of its backups' manifests (file counts) share one bound, the job's
 * BACKUP_DESTINATION_TIMEOUT: a destination that stalls on its manifests is shown with the
 * backups listed and no file count for those not read in time (a warning), never later. A
 * destination that cannot be listed says why.
 */
import { retentionFates } from '../retention/command.ts';
import type { JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Destination } from '../destinations/types.ts';
import { createDestinations } from '../destinations/registry.ts';
import { listArchives, backupTime, fetchSidecar } from '../restore/list.ts';
import { namingOf } from '../restore/commands.ts';
import { readVerifications, lastVerification } from '../restore/history.ts';
import { errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';
import { formatDuration } from '../config/duration.ts';

export const CACHE_MS = 30_000;

export interface InventoryBackup {
  name: string;
  size: number;
  /** The backup's time (from its name, else the destination's modification time), ISO. */
  time: string;
  modified: string;
  lastVerification: { at: string; ok: boolean; contentChecked: boolean } | null;
  /** Files in the backup, from its manifest (null: no manifest, or it could not be read). */
  files: number | null;
  /** What retention does with it at the next prune, and why (null: retention off, or the destination is skipped from pruning). */
  retention: { keep: boolean; reasons: string[] } | null;
}

export interface DestinationInventory {
  job: string;
  destination: string;
  location: string;
  /** ISO time of the listing. */
  listedAt: string;
  error: string | null;
  backups: InventoryBackup[];
}

export interface InventoryListener {
  (inv: DestinationInventory, verifiedAt: Date | null): void;
}

export class Inventory {
  private readonly cache = new Map<string, { at: number; items: DestinationInventory[] }>();
  private readonly pending = new Map<string, Promise<DestinationInventory[]>>();
  private readonly jobs: readonly JobConfig[];
  private readonly log: Logger;
  private readonly stateDir: string;
  private readonly listeners: InventoryListener[] = [];

  constructor(jobs: readonly JobConfig[], stateDir: string, log: Logger) {
    this.jobs = jobs;
    this.stateDir = stateDir;
    this.log = log;
  }

  onListing(l: InventoryListener): void {
    this.listeners.push(l);
  }

  /** Every job's destinations; listed again when older than CACHE_MS (or `fresh`). */
  async all(fresh = false): Promise<DestinationInventory[]> {
    const out: DestinationInventory[] = [];
    for (const j of this.jobs) out.push(...(await this.job(j.name, fresh)));
    return out;
  }

  /** Forget a job's listing (a verification changed what it shows). */
  invalidate(name: string): void {
    this.cache.delete(name);
  }

  async job(name: string, fresh = false): Promise<DestinationInventory[]> {
    const c = this.cache.get(name);
    if (!fresh && c && Date.now() - c.at < CACHE_MS) return c.items;
    const running = this.pending.get(name);
    if (running) return running;
    const job = this.jobs.find((j) => j.name === name);
    if (!job) return [];
    const p = this.list(job).finally(() => this.pending.delete(name));
    this.pending.set(name, p);
    return p;
  }

  /** File counts from manifests, by destination, name, size and time (a replaced backup is read again); bounded. */
  private readonly manifestFiles = new Map<string, number | null>();

  private async filesOf(d: Destination, o: { name: string; size: number; modified: Date }): Promise<number | null> {
    const key = `${d.location}\u0000${o.name}\u0000${o.size}\u0000${o.modified.getTime()}`;
    if (this.manifestFiles.has(key)) return this.manifestFiles.get(key)!;
    let files: number | null = null;
    try {
      files = (await fetchSidecar(d, o.name))?.archived.files ?? null;
    } catch (e) {
      this.log.debug({ destination: d.name, backup: o.name, error: redact(errorMessage(e)) }, 'cannot read the manifest');
    }
    if (this.manifestFiles.size >= 10_000) this.manifestFiles.clear();
    this.manifestFiles.set(key, files);
    return files;
  }

  private async list(job: JobConfig): Promise<DestinationInventory[]> {
    const history = await readVerifications(this.stateDir);
    let dests;
    try {
      dests = await createDestinations(job, this.log);
    } catch (e) {
      return [{ job: job.name, destination: '(all)', location: '', listedAt: new Date().toISOString(), error: redact(errorMessage(e)), backups: [] }];
    }
    try {
      const items = await Promise.all(
        dests.map(async (d): Promise<DestinationInventory> => {
          const listedAt = new Date().toISOString();
          // one deadline for the listing and the manifests
          const deadline = Date.now() + job.retry.timeoutMs;
          const left = () => Math.max(0, deadline - Date.now());
          try {
            const objs = await withTimeout(
              listArchives(d, job.retention.prefix, namingOf(job)),
              left(),
              `listing ${d.name} took longer than BACKUP_DESTINATION_TIMEOUT`,
            );
            let verifiedAt: Date | null = null;
            const fates = (job.retention.skipBackends as readonly string[]).includes(d.name) ? null : retentionFates(job.retention, objs);
            const counts = new Map<string, number | null>();
            let late = 0;
            for (const o of objs) {
              if (left() === 0) {
                late++;
                continue;
              }
              try {
                counts.set(o.name, await withTimeout(this.filesOf(d, o), left(), 'late'));
              } catch {
                late++;
              }
            }
            if (late)
              this.log.warn(
                { job: job.name, destination: d.name, backups: late },
                `reading the backups' manifests on ${d.name} took longer than BACKUP_DESTINATION_TIMEOUT (${formatDuration(job.retry.timeoutMs)}); ${late} backup${late === 1 ? ' is' : 's are'} listed without a file count`,
              );
            const backups = objs.map((o) => {
              const v = lastVerification(history, d.location, o.name);
              if (v?.ok && (!verifiedAt || Date.parse(v.at) > verifiedAt.getTime())) verifiedAt = new Date(v.at);
              return {
                name: o.name,
                size: o.size,
                time: new Date(backupTime(o, namingOf(job))).toISOString(),
                modified: o.modified.toISOString(),
                lastVerification: v ? { at: v.at, ok: v.ok, contentChecked: v.contentChecked } : null,
                files: counts.get(o.name) ?? null,
                retention: fates?.get(o.name) ?? null,
              };
            });
            const inv = { job: job.name, destination: d.name, location: d.location, listedAt, error: null, backups };
            for (const l of this.listeners) l(inv, verifiedAt);
            return inv;
          } catch (e) {
            const inv = { job: job.name, destination: d.name, location: d.location, listedAt, error: redact(errorMessage(e)), backups: [] };
            for (const l of this.listeners) l(inv, null);
            return inv;
          }
        }),
      );
      this.cache.set(job.name, { at: Date.now(), items });
      return items;
    } finally {
      await Promise.allSettled(dests.map((d) => d.close()));
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
