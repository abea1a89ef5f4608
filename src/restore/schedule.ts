/**
 * Scheduled verification (VERIFY_CRON_EXPRESSION): verify the newest backup
 * on every destination of a job, and notify on failure.
 */
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Destination } from '../destinations/types.ts';
import type { DecryptionKeys } from '../crypto/index.ts';
import { sendToTargets, type NotificationTarget } from '../notify/index.ts';
import { verifyBackup, type VerifyReport } from './index.ts';
import type { Naming } from './list.ts';
import { parseCron, startSchedule } from '../schedule/cron.ts';
import type { JobConfig } from '../config/index.ts';
import { createDestinations, type MakeDestinations } from '../destinations/registry.ts';

export interface VerifyJob {
  name: string;
  /** Only backups of this job (its pruning prefix). */
  prefix: string;
  /** How the job names backups (the newest is by the time in the name). */
  naming?: Naming;
  keys: DecryptionKeys;
  notifyTargets: readonly NotificationTarget[];
  /** OFFSITE_STATE_DIR, to record each verification for `offsite list`. */
  stateDir?: string;
}

/** Verify the newest backup on each destination; notify when any check fails. Never throws. */
export async function verifyNewest(job: VerifyJob, destinations: Destination[], log: Logger, signal?: AbortSignal): Promise<VerifyReport[]> {
  const reports: VerifyReport[] = [];
  for (const d of destinations) {
    if (signal?.aborted) break;
    const r = await verifyBackup({ destination: d, prefix: job.prefix, naming: job.naming, keys: job.keys, log, signal, stateDir: job.stateDir });
    reports.push(r);
    const fields = { job: job.name, destination: d.name, backup: r.name, checks: r.checks, warnings: r.warnings };
    if (r.ok) log.info(fields, 'verification passed');
    else log.error({ ...fields, problems: r.problems }, 'verification failed');
  }
  const failed = reports.filter((r) => !r.ok);
  if (failed.length && job.notifyTargets.length) {
    const title = `[offsite] ${job.name}: verification FAILED`;
    const message =
      failed.map((r) => `${r.destination} (${r.location}): ${r.name}\n  ${r.problems.join('\n  ')}`).join('\n\n') +
      '\n\nThe newest backup on these destinations could not be verified. Run `offsite verify --from DESTINATION` for details.';
    try {
      await sendToTargets(job.notifyTargets, { title, message, level: 'error' }, log);
    } catch (e) {
      log.error({ job: job.name, error: errorMessage(e) }, 'sending the verification notification failed');
    }
  }
  return reports;
}

export interface Scheduled {
  stop(): void;
  next(): Date | null;
}

/**
 * Schedule VERIFY_CRON_EXPRESSION for one job in the daemon. `track` receives
 * each verification's promise (the daemon waits for them on shutdown).
 */
export function scheduleVerification(
  job: JobConfig,
  log: Logger,
  signal: AbortSignal,
  track: (p: Promise<void>) => void,
  makeDestinations: MakeDestinations = createDestinations,
  stateDir?: string,
): Scheduled | null {
  const expr = job.verify.cron;
  if (!expr) return null;
  let busy = false;
  const fire = () => {
    if (busy || signal.aborted) {
      if (busy) log.warn({ job: job.name }, 'the previous verification is still going; skipping this one');
      return;
    }
    busy = true;
    const p = (async () => {
      const dests = await makeDestinations(job, log);
      try {
        await verifyNewest(
          {
            name: job.name,
            prefix: job.retention.prefix,
            naming: { template: job.archive.filenameTemplate, timeZone: job.schedule.timezone },
            keys: job.encryption.keys,
            notifyTargets: job.notify.targets,
            stateDir,
          },
          dests,
          log.child({ job: job.name, task: 'verify' }),
          signal,
        );
      } catch (e) {
        log.error({ job: job.name, error: errorMessage(e) }, 'verification crashed');
      } finally {
        await Promise.allSettled(dests.map((d) => d.close()));
        busy = false;
      }
    })();
    track(p);
  };
  const schedule = parseCron(expr, job.schedule.timezone);
  const entry: Scheduled = startSchedule(schedule, fire);
  log.info({ job: job.name, verify: expr, next: entry.next()?.toISOString() ?? null }, 'verification scheduled');
  return entry;
}
