/**
 * The control plane of a running daemon: metrics fed from runs and listings, the token store,
 * the HTTP server on OFFSITE_HTTP_ADDR. Imported only when OFFSITE_HTTP_ADDR is set.
 */
import type { ControlHandle, DaemonControl } from '../schedule/daemon.ts';
import type { Logger } from '../log.ts';
import { Metrics } from '../metrics/metrics.ts';
import { Inventory } from './inventory.ts';
import { TokenStore } from '../tokens/store.ts';
import { createApp, listen } from './server.ts';
import { createDestinations } from '../destinations/registry.ts';
import { errorMessage } from '../errors.ts';

export async function startControlPlane(control: DaemonControl, log: Logger, version: string): Promise<ControlHandle> {
  const { config } = control;
  const where = config.http.listen!;
  const metrics = new Metrics(version);
  for (const job of config.jobs) {
    metrics.addJob(job.name, control.intervalMs(job.name));
    const last = control.health.jobs[job.name]?.lastAttempt;
    metrics.restore(job.name, last ? { at: new Date(last.at), status: last.status } : null);
  }
  const inventory = new Inventory(config.jobs, config.stateDir, log);
  inventory.onListing((inv, verifiedAt) => {
    if (inv.destination === '(all)') return;
    metrics.observeListing(inv.job, inv.destination, inv.error ? null : inv.backups.map((b) => ({ time: Date.parse(b.time) })));
    if (verifiedAt) metrics.observeVerification(inv.job, inv.destination, verifiedAt);
  });
  const refresh = (job: string) => void inventory.job(job, true).catch((e) => log.warn({ job, error: errorMessage(e) }, 'listing the destinations failed'));
  control.runs.on('run', (e) => {
    if (e.type !== 'finished' || !e.run.stats) return;
    metrics.observeRun(e.run.stats);
    refresh(e.run.job);
  });
  for (const job of config.jobs) refresh(job.name);

  // readiness: every job's destinations can be built from the configuration
  let ready = true;
  for (const job of config.jobs) {
    try {
      const dests = await createDestinations(job, log);
      // after a restart the last success comes from OFFSITE_STATE_DIR, or the stale alert
      // would have no series to fire on until the next success
      metrics.restoreSuccess(
        job.name,
        dests.map((d) => d.name),
        control.health.jobs[job.name]?.lastSuccess,
      );
      await Promise.allSettled(dests.map((d) => d.close()));
    } catch (e) {
      ready = false;
      log.warn({ job: job.name, error: errorMessage(e) }, 'the destinations cannot be built: /readyz answers 503');
    }
  }

  const tokens = new TokenStore(config.stateDir, config.http.apiToken);
  const flush = () =>
    void tokens
      .flushUsage()
      .catch((e) => log.warn({ error: errorMessage(e) }, `cannot remember when tokens were used in OFFSITE_STATE_DIR: ${errorMessage(e)}`));
  const flushTimer = setInterval(flush, 60_000);
  flushTimer.unref();

  const app = createApp({ control, metrics, inventory, tokens, log, version, ready: () => ready });
  const server = await listen(app, where);
  log.info(
    {
      url: server.url,
      api: tokens.any() ? 'enabled' : 'disabled (no token: offsite token create)',
      downloads: config.http.backupKey ? 'enabled' : 'disabled (BACKUP_KEY is not set)',
    },
    `HTTP server listening on ${server.url}`,
  );
  return {
    async close() {
      clearInterval(flushTimer);
      flush();
      await server.close();
    },
  };
}
