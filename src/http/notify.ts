/** Messages about the control plane (tokens, downloads) to every NOTIFICATION_URLS target of every job, whatever NOTIFICATION_LEVEL says. */
import type { Config } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { sendToTargets, type NotificationTarget, type NotifyMessage, type NotificationResult } from '../notify/index.ts';
import { errorMessage } from '../errors.ts';

export function everyTarget(config: Pick<Config, 'jobs'>): NotificationTarget[] {
  const seen = new Map<string, NotificationTarget>();
  for (const job of config.jobs) for (const t of job.notify.targets) seen.set(`${t.service}\n${JSON.stringify(t.config)}`, t);
  return [...seen.values()];
}

/** Never throws; failures are logged by sendToTargets and returned. */
export async function notifyEveryone(config: Pick<Config, 'jobs'>, msg: NotifyMessage, log: Logger): Promise<NotificationResult[]> {
  const targets = everyTarget(config);
  if (targets.length === 0) return [];
  try {
    return await sendToTargets(targets, msg, log);
  } catch (e) {
    log.error({ error: errorMessage(e) }, 'sending a notification failed');
    return [];
  }
}
