/**
 * The retry and timeout settings every destination shares (each destination's own
 * settings are in its definition, `<name>.def.ts`).
 */
import { quote, type ConfigIssue } from '../errors.ts';
import { validateSection, integer, positiveDuration, type Env } from '../config/validate.ts';
import { DEFAULT_RETRY, type RetrySettings } from './retry.ts';

export type { RetrySettings };

// ---------------------------------------------------------------- retries

export const RETRY_SPEC = {
  BACKUP_RETRY_ATTEMPTS: integer({ default: DEFAULT_RETRY.attempts, desc: 'tries per destination operation, the first included' }),
  BACKUP_RETRY_MAX_DURATION: positiveDuration({ default: DEFAULT_RETRY.maxDurationMs, desc: 'no retry starts after this long' }),
  BACKUP_RETRY_INITIAL_DELAY: positiveDuration({ default: DEFAULT_RETRY.initialDelayMs, desc: 'first backoff, doubled per retry' }),
  BACKUP_DESTINATION_TIMEOUT: positiveDuration({ default: DEFAULT_RETRY.timeoutMs, desc: 'a transfer without progress for this long fails' }),
};

export function parseRetry(env: Env, issues: ConfigIssue[]): RetrySettings | null {
  const before = issues.length;
  const v = validateSection(env, RETRY_SPEC, issues);
  if (v.BACKUP_RETRY_ATTEMPTS !== undefined && (v.BACKUP_RETRY_ATTEMPTS < 1 || v.BACKUP_RETRY_ATTEMPTS > 100)) {
    issues.push({ variable: 'BACKUP_RETRY_ATTEMPTS', message: `${quote(env.BACKUP_RETRY_ATTEMPTS)} is out of range; expected 1 (no retries) to 100` });
  }
  if (v.BACKUP_DESTINATION_TIMEOUT !== undefined && v.BACKUP_DESTINATION_TIMEOUT < 1000) {
    issues.push({ variable: 'BACKUP_DESTINATION_TIMEOUT', message: `${quote(env.BACKUP_DESTINATION_TIMEOUT)} is too short; expected at least 1s` });
  }
  if (issues.length > before) return null;
  return {
    attempts: v.BACKUP_RETRY_ATTEMPTS,
    maxDurationMs: v.BACKUP_RETRY_MAX_DURATION,
    initialDelayMs: v.BACKUP_RETRY_INITIAL_DELAY,
    maxDelayMs: DEFAULT_RETRY.maxDelayMs,
    timeoutMs: v.BACKUP_DESTINATION_TIMEOUT,
  };
}
