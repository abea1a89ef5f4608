/**
 * The start of every run removes what interrupted runs left behind (a SIGKILL, a power
 * loss, a hard exit): stale temporary files on every destination, unfinished multipart
 * uploads, and archives staged in BACKUP_TMP_DIR. What is stale is decided by
 * src/destinations/leftovers.ts (the lock proves that no run sharing it is still going;
 * leftovers of other writers only once they are old). A failure is a warning, never a run
 * failure.
 */
import { readdir, lstat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { Destination } from '../destinations/types.ts';
import { isOffsiteTempName, isStaleLeftover, type LeftoverPolicy, type LeftoverReport } from '../destinations/leftovers.ts';
import { errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';

/** Notes ("cannot look for leftovers here") are logged once per destination per process. */
const noted = new Set<string>();

/** Stale staged archives in BACKUP_TMP_DIR. */
export async function cleanupTmpDir(tmpDir: string, policy: LeftoverPolicy): Promise<LeftoverReport> {
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { removed: [] };
    throw err;
  }
  const removed: string[] = [];
  for (const n of names) {
    if (!n.startsWith('.') || !isOffsiteTempName(n)) continue;
    try {
      const s = await lstat(join(tmpDir, n));
      if (!s.isFile() || !isStaleLeftover(n, s.mtime, policy)) continue;
      await unlink(join(tmpDir, n));
      removed.push(n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return { removed };
}

/**
 * Clean BACKUP_TMP_DIR and every destination that can be cleaned, concurrently. Resolves
 * with warnings (one per place that could not be cleaned); never rejects.
 */
export async function cleanupLeftovers(
  destinations: readonly Destination[],
  tmpDir: string,
  policy: LeftoverPolicy,
  log: Logger,
  signal?: AbortSignal,
): Promise<string[]> {
  const warnings: string[] = [];
  const places: { what: string; location: string; run: () => Promise<LeftoverReport> }[] = [
    { what: 'BACKUP_TMP_DIR', location: tmpDir, run: () => cleanupTmpDir(tmpDir, policy) },
    ...destinations
      .filter((d) => d.cleanupLeftovers)
      .map((d) => ({ what: d.name as string, location: d.location, run: () => d.cleanupLeftovers!(policy, signal) })),
  ];
  await Promise.all(
    places.map(async (p) => {
      try {
        const r = await p.run();
        if (r.removed.length > 0) {
          log.info(
            { destination: p.what, location: p.location, removed: r.removed },
            `removed ${r.removed.length} leftover(s) of interrupted runs from ${p.what} ${p.location}`,
          );
        }
        if (r.note && !noted.has(`${p.what} ${p.location}`)) {
          noted.add(`${p.what} ${p.location}`);
          log.info({ destination: p.what, location: p.location }, `leftovers of interrupted runs on ${p.what}: ${r.note}`);
        }
      } catch (err) {
        if (signal?.aborted) return;
        const message = `${p.what}: could not remove leftovers of interrupted runs from ${p.location}: ${redact(errorMessage(err))}`;
        warnings.push(message);
        // reported once, with the run's warnings (summary, terminal, notification)
        log.debug({ destination: p.what }, message);
      }
    }),
  );
  return warnings;
}
