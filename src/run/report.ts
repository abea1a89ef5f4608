import type { JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { sendRunNotifications } from '../notify/index.ts';
import { errorMessage } from '../errors.ts';
import type { RunStats } from './stats.ts';

/**
 * The report phase, after a run ended: notifications per NOTIFICATION_LEVEL.
 * Their results are recorded in stats.notifications and logged; a failed
 * notification never changes the backup's own status.
 */
export async function reportRun(job: JobConfig, stats: RunStats, log: Logger, signal?: AbortSignal): Promise<void> {
  try {
    stats.notifications = await sendRunNotifications(job.notify, stats, log.child({ job: job.name }), { signal });
  } catch (e) {
    // sendRunNotifications does not throw; if it ever does, it is still not silent
    log.error({ job: job.name, error: errorMessage(e) }, 'sending notifications failed');
    stats.notifications = [{ url: '(all)', service: 'notify', ok: false, attempts: 0, durationMs: 0, error: errorMessage(e) }];
  }
}
