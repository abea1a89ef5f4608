import { silentLogger, type Logger } from '../log.ts';
import type { RunStats } from '../run/stats.ts';
import type { NotifyConfig } from './config.ts';
import { renderRunMessage } from './messages.ts';
import { sendToTargets, type SendOptions } from './send.ts';
import type { NotificationResult, NotificationTarget, NotifyMessage } from './types.ts';

export { parseNotifyConfig, NOTIFY_VARIABLES, DEFAULT_TEMPLATES_DIR, type NotifyConfig } from './config.ts';
export { redactNotificationUrl, parseNotificationUrl } from './router.ts';
export { renderRunMessage, defaultTitle, defaultBody, formatBytes, formatTime } from './messages.ts';
export { sendToTargets, SEND_DEFAULTS, type SendOptions } from './send.ts';
export type { NotificationResult, NotificationTarget, NotifyMessage, NotifyLevel } from './types.ts';

/** Does a run with this status get a notification at this level? */
export function shouldNotify(level: NotifyConfig['level'], status: RunStats['status']): boolean {
  return level === 'info' || status !== 'success';
}

/**
 * Notify about a finished run: at level `error` only failed, partial or degraded runs,
 * at `info` every run. One result per URL; failures are logged here and returned,
 * never thrown, and never change the run's own result.
 */
export async function sendRunNotifications(notify: NotifyConfig, stats: RunStats, log: Logger, opts: SendOptions = {}): Promise<NotificationResult[]> {
  if (notify.targets.length === 0 || !shouldNotify(notify.level, stats.status)) return [];
  const msg = renderRunMessage(stats, notify.templates, (name, err) => {
    log.error({ template: notify.templates.files[name] }, `notification template ${name} failed, using the default: ${err.message}`);
  });
  return sendToTargets(notify.targets, msg, log, opts);
}

/** The message `offsite notify-test` sends. */
export function testMessage(job: string): NotifyMessage {
  return {
    title: `[offsite] ${job}: test notification`,
    message: `This is a test notification from offsite for the backup job "${job}".\nIf you can read this, notifications for this URL work.`,
    level: 'info',
  };
}

interface ConfigWithJobs {
  jobs: readonly { name: string; notify: NotifyConfig }[];
}

/**
 * `offsite notify-test`: send a test message to every URL of every job (each
 * distinct URL once) and print one line per URL. True when every send worked
 * and there was at least one URL.
 */
export async function notifyTest(config: ConfigWithJobs, out: (line: string) => void, opts: SendOptions & { log?: Logger } = {}): Promise<boolean> {
  const seen = new Map<string, { target: NotificationTarget; jobs: string[] }>();
  for (const job of config.jobs) {
    for (const t of job.notify.targets) {
      const key = `${t.service}\n${JSON.stringify(t.config)}`;
      const e = seen.get(key);
      if (e) e.jobs.push(job.name);
      else seen.set(key, { target: t, jobs: [job.name] });
    }
  }
  if (seen.size === 0) {
    out('No notification URLs are configured (set NOTIFICATION_URLS).');
    return false;
  }
  const log = opts.log ?? silentLogger();
  const entries = [...seen.values()];
  out(`Sending a test notification to ${entries.length} URL${entries.length === 1 ? '' : 's'}...`);
  const results = await Promise.all(entries.map((e) => sendToTargets([e.target], testMessage(e.jobs.join(', ')), log, opts).then((r) => r[0]!)));
  let allOk = true;
  results.forEach((r, i) => {
    const jobs = entries[i]!.jobs;
    const forJobs = config.jobs.length > 1 ? ` [job ${jobs.join(', ')}]` : '';
    if (r.ok) out(`ok    ${r.url}${forJobs} (${r.attempts} ${r.attempts === 1 ? 'try' : 'tries'}, ${r.durationMs} ms)`);
    else {
      allOk = false;
      out(`FAIL  ${r.url}${forJobs}: ${r.error}`);
    }
  });
  return allOk;
}
