/**
 * A failed start-up is notified (as offen does): when the configuration or the initialisation
 * fails, every notification URL that can itself be parsed gets one failure message saying what
 * is wrong, so a sidecar stuck in a restart loop does not fail in silence.
 */
import type { ConfigIssue } from '../errors.ts';
import type { Env } from '../config/validate.ts';
import type { Logger } from '../log.ts';
import { redact } from '../redact.ts';
import { loadGlobalEnv, loadJobs } from '../config/env.ts';
import { knownVariables } from '../config/index.ts';
import { splitUrls, legacyEmailUrl } from './config.ts';
import { parseNotificationUrl, registerTargetSecrets } from './router.ts';
import { sendToTargets, type SendOptions } from './send.ts';
import type { NotificationResult, NotificationTarget, NotifyMessage } from './types.ts';

/** Bounds of the start-up notification: one request 10 s, each URL 30 s in all. */
export const STARTUP_SEND = { timeoutMs: 10_000, totalTimeoutMs: 30_000, attempts: 2 } as const;

/** The usable notification URLs of every job the environment describes, each once. */
export function startupTargets(env?: Env): NotificationTarget[] {
  const ignored: ConfigIssue[] = [];
  const known = knownVariables();
  let envs: Env[];
  try {
    const global = loadGlobalEnv({ env, known }, ignored);
    envs = [global, ...loadJobs(global, known, ignored).map((j) => j.env)];
  } catch {
    envs = [env ?? process.env];
  }
  const seen = new Map<string, NotificationTarget>();
  for (const e of envs) {
    const raws = [...splitUrls(e.NOTIFICATION_URLS)];
    const legacy = legacyEmailUrl(e, ignored);
    if (legacy) raws.push(legacy);
    for (const raw of raws) {
      const out = parseNotificationUrl(raw);
      registerTargetSecrets(raw, out.ok ? out.target : null);
      if (!out.ok) continue;
      const key = `${out.target.service}\n${JSON.stringify(out.target.config)}`;
      if (!seen.has(key)) seen.set(key, out.target);
    }
  }
  return [...seen.values()];
}

/** The failure message: what is wrong, one line per problem, secrets masked. */
export function startupFailureMessage(command: string, problems: readonly string[]): NotifyMessage {
  return {
    title: '[offsite] start-up FAILED: no backup will run',
    message:
      `offsite could not start (\`offsite ${command}\`):\n\n${problems.map((p) => `- ${redact(p)}`).join('\n')}\n\n` +
      'Nothing was backed up. Fix the configuration and restart the container.',
    level: 'error',
  };
}

/**
 * Send the start-up failure to every usable URL, within STARTUP_SEND's bounds. Never throws;
 * returns the results (empty when no URL is usable).
 */
export async function notifyStartupFailure(
  command: string,
  problems: readonly string[],
  log: Logger,
  opts: SendOptions & { env?: Env } = {},
): Promise<NotificationResult[]> {
  let targets: NotificationTarget[];
  try {
    targets = startupTargets(opts.env);
  } catch {
    return [];
  }
  if (targets.length === 0) return [];
  return sendToTargets(targets, startupFailureMessage(command, problems), log, { ...STARTUP_SEND, ...opts });
}
