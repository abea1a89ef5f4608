import { emptyStats } from '../../src/run/run.ts';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseJob, type JobConfig } from '../../src/config/index.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import type { HookContext } from '../../src/run/hooks.ts';
import type { RunStats } from '../../src/run/stats.ts';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger that keeps every line (as parsed JSON) in `lines`. */
export function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** A job from an environment, the way loadConfig builds it. */
export function jobFrom(env: Record<string, string>): JobConfig {
  const issues: ConfigIssue[] = [];
  // BACKUP_ARCHIVE unset: the default /archive does not exist on test machines, so there is no local destination
  const job = parseJob('test', 'environment', { ...env }, issues);
  if (!job) throw new Error(`invalid test config: ${JSON.stringify(issues)}`);
  return job;
}

export function newStats(): RunStats {
  const start = new Date();
  return emptyStats('test', start);
}

export function ctxFor(stats: RunStats, archivePath = '/tmp/backup-test.tar.gz', signal: AbortSignal = new AbortController().signal): HookContext {
  return { stats, archivePath, signal };
}
