/**
 * Push monitors: a run tells an outside watcher it started and how it ended, so a backup that
 * never happens is noticed there.
 * - OFFSITE_HEALTHCHECKS_URL (healthchecks.io's protocol): `{url}/start` when a run starts,
 *   `{url}` on success, `{url}/fail` otherwise, each with `?rid=` (the run's id) and the run's
 *   summary as the body (at most 100 kB).
 * - OFFSITE_UPTIME_KUMA_URL: `?status=up|down&msg=...&ping=<duration ms>` when a run ends.
 * Each ping is bounded (PING_TIMEOUT_MS, PING_ATTEMPTS); a ping that fails is logged as a
 * warning and never changes the run's result.
 */
import type { Logger } from '../log.ts';
import type { RunStats } from '../run/stats.ts';
import type { HttpConfig } from '../http/config.ts';
import { errorMessage } from '../errors.ts';
import { redact } from '../redact.ts';

export const PING_TIMEOUT_MS = 10_000;
export const PING_ATTEMPTS = 2;
export const MAX_BODY = 100_000;

export function runSummaryText(stats: RunStats): string {
  const lines = [`job: ${stats.job}`, `status: ${stats.status}`, `started: ${stats.start.toISOString()}`, `duration: ${Math.round(stats.durationMs / 1000)}s`];
  if (stats.archive) lines.push(`archive: ${stats.archive.name}, ${stats.archive.size} bytes, ${stats.archive.files} files`);
  for (const d of stats.destinations) lines.push(`${d.destination}: ${d.ok ? 'ok' : `failed: ${d.error ?? ''}`}`);
  if (stats.error) lines.push(`error (${stats.error.phase}): ${stats.error.message}`);
  for (const w of stats.warnings) lines.push(`warning: ${w}`);
  let text = redact(lines.join('\n'));
  if (Buffer.byteLength(text) > MAX_BODY)
    text = `${Buffer.from(text)
      .subarray(0, MAX_BODY - 20)
      .toString('utf8')}\n... (cut)`;
  return text;
}

export class PushMonitors {
  private readonly cfg: Pick<HttpConfig, 'healthchecksUrl' | 'uptimeKumaUrl'>;
  private readonly log: Logger;
  private readonly fetchFn: typeof fetch;
  private readonly pending = new Set<Promise<void>>();

  constructor(cfg: Pick<HttpConfig, 'healthchecksUrl' | 'uptimeKumaUrl'>, log: Logger, fetchFn: typeof fetch = fetch) {
    this.cfg = cfg;
    this.log = log;
    this.fetchFn = fetchFn;
  }

  get enabled(): boolean {
    return Boolean(this.cfg.healthchecksUrl || this.cfg.uptimeKumaUrl);
  }

  started(job: string, runId: string): void {
    if (this.cfg.healthchecksUrl) this.track(this.ping('healthchecks', job, `${this.cfg.healthchecksUrl}/start?rid=${runId}`, 'POST', ''));
  }

  finished(stats: RunStats, runId: string): void {
    if (this.cfg.healthchecksUrl) {
      const url = `${this.cfg.healthchecksUrl}${stats.status === 'success' ? '' : '/fail'}?rid=${runId}`;
      this.track(this.ping('healthchecks', stats.job, url, 'POST', runSummaryText(stats)));
    }
    if (this.cfg.uptimeKumaUrl) {
      const u = new URL(this.cfg.uptimeKumaUrl);
      u.searchParams.set('status', stats.status === 'success' ? 'up' : 'down');
      const msg =
        stats.status === 'success' ? `${stats.job}: backup succeeded` : `${stats.job}: backup ${stats.status}${stats.error ? `: ${stats.error.message}` : ''}`;
      u.searchParams.set('msg', redact(msg).slice(0, 250));
      u.searchParams.set('ping', String(Math.round(stats.durationMs)));
      this.track(this.ping('Uptime Kuma', stats.job, u.toString(), 'GET'));
    }
  }

  /** Wait for pings still going (bounded by their own timeouts). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async ping(service: string, job: string, url: string, method: 'GET' | 'POST', body?: string): Promise<void> {
    let last = '';
    for (let attempt = 1; attempt <= PING_ATTEMPTS; attempt++) {
      try {
        const res = await this.fetchFn(url, {
          method,
          signal: AbortSignal.timeout(PING_TIMEOUT_MS),
          ...(body !== undefined ? { body, headers: { 'content-type': 'text/plain; charset=utf-8' } } : {}),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (e) {
        last = errorMessage(e);
      }
    }
    this.log.warn({ job, monitor: service }, redact(`the ${service} ping failed (${last}); the backup itself is not affected`));
  }
}
