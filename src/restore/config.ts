/** VERIFY_CRON_EXPRESSION: scheduled verification of the newest backup (kept free of heavy imports: config loads it). */
import type { ConfigIssue } from '../errors.ts';
import { cronExpression, validateSection, type Env } from '../config/validate.ts';

export const VERIFY_SPEC = {
  VERIFY_CRON_EXPRESSION: cronExpression({ default: undefined, desc: 'when to verify the newest backup on every destination' }),
};

export interface VerifyConfig {
  /** Cron expression, or null when scheduled verification is off. */
  cron: string | null;
}

export function parseVerifyConfig(env: Env, issues: ConfigIssue[]): VerifyConfig | null {
  const before = issues.length;
  const v = validateSection(env, VERIFY_SPEC, issues) as { VERIFY_CRON_EXPRESSION?: string };
  if (issues.length > before) return null;
  return { cron: v.VERIFY_CRON_EXPRESSION ?? null };
}
