import type { Logger } from '../log.ts';
import type { RunStats } from './stats.ts';

/** The one place a run's outcome is reported in the log: its failure's text once, with what to check. */
export function logRunSummary(log: Logger, stats: RunStats): void {
  const hints = stats.hints ?? [];
  const summary = {
    status: stats.status,
    archive: stats.archive?.name,
    size: stats.archive?.size,
    sha256: stats.archive?.sha256,
    durationMs: stats.durationMs,
    destinations: stats.destinations.map((d) => ({
      destination: d.destination,
      ok: d.ok,
      pruned: d.pruned,
      ...(d.kept !== undefined ? { kept: d.kept } : {}),
    })),
    ...(hints.length ? { hints } : {}),
  };
  if (stats.status === 'failure')
    log.error(
      { ...summary, phase: stats.error?.phase, ...(stats.warnings.length ? { warnings: stats.warnings } : {}) },
      `backup failed: ${stats.error?.message ?? 'no destination stored the archive'}`,
    );
  else if (stats.status === 'success') log.info({ ...summary, ...(stats.warnings.length ? { warnings: stats.warnings } : {}) }, 'backup finished');
  else log.warn({ ...summary, warnings: stats.warnings }, `backup finished ${stats.status}`);
}
