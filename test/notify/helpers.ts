import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.ts';
import { parseNotificationUrl } from '../../src/notify/router.ts';
import { sendToTargets, type SendOptions } from '../../src/notify/send.ts';
import type { NotificationResult, NotificationTarget, NotifyMessage } from '../../src/notify/types.ts';
import type { RunStats } from '../../src/run/stats.ts';

/** Short delays so retry tests stay fast. */
export const FAST: SendOptions = { timeoutMs: 2000, attempts: 3, backoffMs: 10, maxRetryDelayMs: 2000, totalTimeoutMs: 10_000 };

export function target(url: string): NotificationTarget {
  const out = parseNotificationUrl(url);
  if (!out.ok) assert.fail(`${url} should parse: ${out.issue}`);
  return out.target;
}

export const MSG: NotifyMessage = { title: 'Backup ok', message: 'line one\nline two', level: 'info' };

export async function send(url: string, opts: SendOptions = {}, msg: NotifyMessage = MSG): Promise<NotificationResult> {
  const [r] = await sendToTargets([target(url)], msg, silentLogger(), { ...FAST, ...opts });
  return r!;
}

export function runStats(over: Partial<RunStats> = {}): RunStats {
  const start = new Date('2026-03-01T02:00:00Z');
  return {
    job: 'nightly',
    status: 'success',
    start,
    end: new Date(start.getTime() + 72_000),
    durationMs: 72_000,
    lockWaitMs: 0,
    archive: {
      name: 'backup-2026-03-01T02-00-00.tar.gz',
      size: 1_288_490_189,
      sha256: 'ab'.repeat(32),
      compression: 'gz',
      encryption: 'none',
      files: 1234,
      directories: 56,
      symlinks: 2,
      bytesRead: 2_000_000_000,
      skipped: 0,
      unreadable: 0,
    },
    destinations: [
      { destination: 'S3', location: 's3://bucket/backups', ok: true, bytes: 1_288_490_189, durationMs: 40_000, attempts: 1, pruned: 3 },
      { destination: 'Local', location: '/archive', ok: true, bytes: 1_288_490_189, durationMs: 2_000, attempts: 1, pruned: 0 },
    ],
    containersStopped: 2,
    containersRestarted: 2,
    warnings: [],
    degradedBy: [],
    error: null,
    ...over,
  };
}
