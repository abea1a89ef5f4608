// OFFSITE_PUSHGATEWAY_URL against a real Pushgateway (Debian prometheus-pushgateway, started
// here on 127.0.0.1): `offsite backup` pushes the run's gauges; a failed run keeps the last
// success time pushed before; an unreachable gateway never fails the backup.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { isolatedEnv, collect, runCliAsync, waitFor } from '../helpers/cli.ts';

const GATEWAY = ['/usr/bin/prometheus-pushgateway', '/bin/prometheus-pushgateway'].find((p) => existsSync(p));
let gw: ChildProcess | undefined;
after(() => {
  gw?.kill('SIGTERM');
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

// every pushed series carries the grouping key: job (offsite's job) and instance (OFFSITE_PUSHGATEWAY_INSTANCE)
const sample = (text: string, name: string) => new RegExp(`^${name}\\{(?=[^}]*instance="app-backup")[^}]*job="nightly"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1];
/** offsite_backup_runs_total of one result. */
const runs = (text: string, result: string) =>
  new RegExp(`^offsite_backup_runs_total\\{(?=[^}]*instance="app-backup")(?=[^}]*result="${result}")[^}]*job="nightly"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1];

test(
  'offsite backup pushes its gauges to a Pushgateway; a failure keeps the last success; a dead gateway does not fail the backup',
  { skip: !GATEWAY && !process.env.CI ? 'Debian prometheus-pushgateway is not installed' : false },
  async () => {
    assert.ok(GATEWAY, 'prometheus-pushgateway is not installed');
    const port = await freePort();
    gw = spawn(GATEWAY!, [`--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const glog = collect(gw);
    let up = false;
    await waitFor(
      () => {
        void fetch(`http://127.0.0.1:${port}/-/ready`).then(
          (r) => {
            up = r.ok;
          },
          () => {},
        );
        return up;
      },
      30_000,
      'the pushgateway',
      glog,
    );

    const { dir, env } = isolatedEnv();
    mkdirSync(join(dir, 'src'));
    mkdirSync(join(dir, 'archive'));
    writeFileSync(join(dir, 'src', 'a'), 'a');
    // one conf.d job named nightly
    writeFileSync(
      join(dir, 'conf.d', 'nightly.env'),
      `BACKUP_SOURCES=${join(dir, 'src')}\nBACKUP_ARCHIVE=${join(dir, 'archive')}\nBACKUP_CRON_EXPRESSION=0 */6 * * *\nTZ=UTC\n`,
    );
    const e = { ...env, OFFSITE_PUSHGATEWAY_URL: `http://127.0.0.1:${port}`, OFFSITE_PUSHGATEWAY_INSTANCE: 'app-backup' };
    const ok = await runCliAsync(['backup'], e);
    assert.equal(ok.code, 0, ok.out);
    const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let text = await metrics();
    assert.equal(sample(text, 'offsite_backup_last_status'), '1', text);
    const success = sample(text, 'offsite_backup_last_success_timestamp_seconds');
    assert.ok(success && Number(success) > 1.7e9, text);
    assert.ok(sample(text, 'offsite_backup_last_duration_seconds'));
    // the runs counter comes from the run history in OFFSITE_STATE_DIR: it counts across processes
    assert.equal(runs(text, 'success'), '1', text);
    assert.equal(runs(text, 'failure'), '0', text);
    // the prune counters too, per destination
    assert.match(text, /^offsite_prune_errors_total\{(?=[^}]*destination="Local")(?=[^}]*instance="app-backup")[^}]*job="nightly"[^}]*\} 0$/m);
    assert.match(text, /^offsite_prune_deleted_total\{(?=[^}]*destination="Local")[^}]*job="nightly"[^}]*\} 0$/m);
    assert.equal(sample(text, 'offsite_backup_duration_seconds_count'), undefined, 'the histogram was pushed');
    // the stale alert needs the interval: it comes from the job's BACKUP_CRON_EXPRESSION
    assert.equal(sample(text, 'offsite_schedule_expected_interval_seconds'), String(6 * 3600), text);

    renameSync(join(dir, 'src'), join(dir, 'gone'));
    const failed = await runCliAsync(['backup'], e);
    assert.equal(failed.code, 1, failed.out);
    text = await metrics();
    assert.equal(sample(text, 'offsite_backup_last_status'), '0');
    assert.equal(sample(text, 'offsite_backup_last_success_timestamp_seconds'), success, 'the failed run erased the last success');
    assert.equal(runs(text, 'success'), '1', text);
    assert.equal(runs(text, 'failure'), '1', text);
    renameSync(join(dir, 'gone'), join(dir, 'src'));

    gw.kill('SIGTERM');
    await new Promise((r) => gw!.once('exit', r));
    const dead = await runCliAsync(['backup'], e);
    assert.equal(dead.code, 0, dead.out);
    assert.match(dead.out, /pushing the metrics to OFFSITE_PUSHGATEWAY_URL failed .*the backup itself is not affected/);
  },
);
