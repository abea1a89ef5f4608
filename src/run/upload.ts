// Interim upload phase (replaced by the dest-core branch's implementation).
import type { Destination } from '../destinations/types.ts';
import type { ArchiveStream, ArchiveResult } from '../archive/index.ts';
import type { DestinationResult } from './stats.ts';
import type { Logger } from '../log.ts';
import type { RetentionPolicy } from '../retention/index.ts';
import type { DestinationKind } from '../destinations/types.ts';
import { planPrune } from '../retention/index.ts';
import { errorMessage } from '../errors.ts';

export interface ShipOptions {
  destinations: Destination[];
  name: string;
  archive: ArchiveStream;
  tmpDir: string;
  log: Logger;
  signal?: AbortSignal;
}

export async function shipArchive(opts: ShipOptions): Promise<{ results: DestinationResult[]; archive: ArchiveResult }> {
  const [dest] = opts.destinations;
  if (opts.destinations.length !== 1 || !dest) throw new Error('interim upload phase supports exactly one destination');
  const start = Date.now();
  const up = dest.upload(opts.name, opts.archive.stream, { signal: opts.signal });
  const [upRes, arRes] = await Promise.allSettled([up, opts.archive.done]);
  if (arRes.status === 'rejected') throw arRes.reason;
  const archive = arRes.value;
  const result: DestinationResult = {
    destination: dest.name, location: dest.location, ok: upRes.status === 'fulfilled', bytes: archive.size,
    durationMs: Date.now() - start, attempts: 1, pruned: 0,
    ...(upRes.status === 'rejected' ? { error: errorMessage(upRes.reason) } : {}),
  };
  return { results: [result], archive };
}

export async function pruneDestinations(
  destinations: Destination[], results: DestinationResult[], policy: RetentionPolicy, now: Date,
  justWritten: string, skipBackends: readonly DestinationKind[], log: Logger,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const d of destinations) {
    const r = results.find((x) => x.destination === d.name);
    if (!r || !r.ok) continue;
    if (skipBackends.includes(d.name)) { r.pruneNote = 'skipped (BACKUP_SKIP_BACKENDS_FROM_PRUNE)'; continue; }
    try {
      const plan = planPrune(await d.list(policy.prefix), policy, now, justWritten);
      warnings.push(...plan.warnings.map((w) => `${d.name}: ${w}`));
      if (plan.remove.length) await d.remove(plan.remove);
      r.pruned = plan.remove.length;
      log.info({ destination: d.name, pruned: plan.remove.length }, 'pruned old backups');
    } catch (e) {
      r.pruneNote = `pruning failed: ${errorMessage(e)}`;
      warnings.push(`${d.name}: ${r.pruneNote}`);
    }
  }
  return warnings;
}
