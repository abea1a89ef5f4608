/**
 * One backup of one job, as `offsite backup` and the daemon both run it: the job's hooks
 * (containers to stop, commands to run), the run's phases (runJob), then the report
 * (notifications). Never throws for a failed backup: that is in the returned RunStats.
 */
import type { JobConfig } from '../config/index.ts';
import { createRunHooks } from '../containers/hooks.ts';
import { prestartArchiveWorker } from '../archive/index.ts';
import { reportRun } from './report.ts';
import { runJob, type RunContext } from './run.ts';
import type { RunStats } from './stats.ts';

export interface BackupOptions extends Omit<RunContext, 'hooks'> {
  /** Ends the sending of notifications (the stop handler's late signal: they still go out after SIGTERM, within its bound). */
  reportSignal?: AbortSignal;
  /** Called when the run's phases are over, before the report (the CLI clears its progress line). */
  onRunEnd?: (stats: RunStats) => void;
}

export async function backupJob(job: JobConfig, opts: BackupOptions): Promise<RunStats> {
  const { reportSignal, onRunEnd, ...ctx } = opts;
  // the archive worker starts while the hooks, the lock and the destinations are set up
  const worker = prestartArchiveWorker();
  let stats: RunStats;
  try {
    const hooks = await createRunHooks(job, ctx.log);
    stats = await runJob(job, { ...ctx, hooks });
  } finally {
    worker.end();
  }
  onRunEnd?.(stats);
  await reportRun(job, stats, ctx.log, reportSignal);
  return stats;
}
