/**
 * The daemon's runs as the API shows them: each run gets an id when it starts, keeps its
 * progress (every second while the archive is written), its log lines and, once it ended,
 * its RunStats. Listeners (Server-Sent Events, metrics, push monitors) hear `run`
 * events. Bounded: the last MAX_RUNS runs, MAX_LOG_LINES lines each.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { addLogTap } from '../log.ts';
import type { RunStats } from '../run/stats.ts';

export const MAX_RUNS = 100;
export const MAX_LOG_LINES = 1000;

export interface RunLogLine {
  time: string;
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

export interface RunProgress {
  files: number;
  bytes: number;
  total: { files: number; bytes: number } | null;
  bytesPerSecond: number | null;
}

export interface RunRecord {
  id: string;
  job: string;
  /** What started it: its schedule, or an API request. */
  trigger: 'schedule' | 'api';
  state: 'running' | 'finished';
  started: Date;
  finished?: Date;
  progress?: RunProgress;
  stats?: RunStats;
  logs: RunLogLine[];
  /** Log lines dropped beyond MAX_LOG_LINES. */
  droppedLines: number;
}

export type RunEvent = { type: 'started'; run: RunRecord } | { type: 'progress'; run: RunRecord } | { type: 'finished'; run: RunRecord };

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** The binding that marks a log line as one run's (the daemon logs each run with `log.child({ run: id })`). */
export const RUN_BINDING = 'run';

export class RunRegistry extends EventEmitter<{ run: [RunEvent] }> {
  private readonly runs = new Map<string, RunRecord>();
  private readonly stopTap: () => void;

  constructor() {
    super();
    this.setMaxListeners(0);
    this.stopTap = addLogTap((level, bindings, args) => {
      const id = bindings[RUN_BINDING];
      if (typeof id !== 'string') return;
      const rec = this.runs.get(id);
      if (!rec || rec.state !== 'running') return;
      if (rec.logs.length >= MAX_LOG_LINES) {
        rec.droppedLines++;
        return;
      }
      const [first, second] = args;
      const obj = first && typeof first === 'object' ? (first as Record<string, unknown>) : undefined;
      const msg = typeof first === 'string' ? first : typeof second === 'string' ? second : '';
      const fields = obj ? Object.fromEntries(Object.entries(obj).filter(([k]) => k !== RUN_BINDING)) : undefined;
      rec.logs.push({
        time: new Date().toISOString(),
        level: LEVELS[level] ?? String(level),
        msg,
        ...(fields && Object.keys(fields).length ? { fields } : {}),
      });
    });
  }

  start(job: string, trigger: RunRecord['trigger'], now = new Date()): RunRecord {
    const rec: RunRecord = { id: randomUUID(), job, trigger, state: 'running', started: now, logs: [], droppedLines: 0 };
    this.runs.set(rec.id, rec);
    while (this.runs.size > MAX_RUNS) {
      const oldest = [...this.runs.values()].find((r) => r.state === 'finished');
      if (!oldest) break;
      this.runs.delete(oldest.id);
    }
    this.emit('run', { type: 'started', run: rec });
    return rec;
  }

  progress(id: string, p: RunProgress): void {
    const rec = this.runs.get(id);
    if (!rec || rec.state !== 'running') return;
    rec.progress = p;
    this.emit('run', { type: 'progress', run: rec });
  }

  finish(id: string, stats: RunStats, now = new Date()): void {
    const rec = this.runs.get(id);
    if (!rec || rec.state !== 'running') return;
    rec.state = 'finished';
    rec.finished = now;
    rec.stats = stats;
    this.emit('run', { type: 'finished', run: rec });
  }

  get(id: string): RunRecord | undefined {
    return this.runs.get(id);
  }

  /** Newest first. */
  list(job?: string): RunRecord[] {
    return [...this.runs.values()].filter((r) => !job || r.job === job).reverse();
  }

  running(job: string): RunRecord | undefined {
    return [...this.runs.values()].find((r) => r.job === job && r.state === 'running');
  }

  /** The last finished run of a job. */
  last(job: string): RunRecord | undefined {
    return this.list(job).find((r) => r.state === 'finished');
  }

  close(): void {
    this.stopTap();
    this.removeAllListeners();
  }
}
