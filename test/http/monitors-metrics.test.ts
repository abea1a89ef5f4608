// A daemon with the push monitors and /metrics: healthchecks.io and Uptime Kuma pings against
// the HTTP recorder (a failing ping never fails the backup), and the metrics scraped by a real
// Prometheus (Debian `prometheus`, started here on 127.0.0.1) and queried through its HTTP API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, renameSync, mkdtempSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { isolatedEnv, startCli, collect, waitFor } from '../helpers/cli.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';

const CHECK_ID = '5f1c8a3e-0b7d-4c2a-9e61-2f4b7d9c0a11';
const KUMA_TOKEN = 'kumaPushToken42';
const METRICS_TOKEN = 'metrics-token-for-prometheus-0123';
let rec: HttpRecorder;
let env: Record<string, string>;
let dir: string;
let url = '';
let output: () => string;
let daemon: ChildProcess | undefined;
let prom: ChildProcess | undefined;

before(async () => {
  rec = await startRecorder();
  const iso = isolatedEnv();
  dir = iso.dir;
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'archive'));
  writeFileSync(join(dir, 'src', 'a.txt'), 'monitored\n');
  env = {
    ...iso.env,
    BACKUP_SOURCES: join(dir, 'src'),
    BACKUP_ARCHIVE: join(dir, 'archive'),
    BACKUP_CRON_EXPRESSION: '@every 2s',
    BACKUP_RETENTION_KEEP_LAST: '3',
    OFFSITE_HTTP_ADDR: '127.0.0.1:0',
    OFFSITE_METRICS_TOKEN: METRICS_TOKEN,
    OFFSITE_HEALTHCHECKS_URL: `${rec.url}/ping/${CHECK_ID}`,
    OFFSITE_UPTIME_KUMA_URL: `${rec.url}/api/push/${KUMA_TOKEN}?status=up&msg=OK&ping=`,
  };
  daemon = startCli(['daemon'], env);
  output = collect(daemon);
  await waitFor(() => /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/.test(output()), 60_000, 'the HTTP server', output);
  url = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output())![1]!;
});

after(async () => {
  daemon?.kill('SIGTERM');
  prom?.kill('SIGTERM');
  await rec.close();
});

const pings = (path: RegExp) => rec.requests.filter((r) => path.test(r.path));

test('healthchecks.io: /start then the success ping with the run id and the summary; Kuma: status=up with the duration', async () => {
  await waitFor(
    () => pings(new RegExp(`^/ping/${CHECK_ID}$`)).length > 0,
    60_000,
    'a success ping',
    () => JSON.stringify(rec.requests.map((r) => r.path)),
  );
  const done = pings(new RegExp(`^/ping/${CHECK_ID}$`))[0]!;
  const rid = done.query.get('rid');
  assert.match(rid ?? '', /^[0-9a-f-]{36}$/);
  const start = pings(new RegExp(`^/ping/${CHECK_ID}/start$`)).find((r) => r.query.get('rid') === rid);
  assert.ok(start, 'no /start ping with the same rid');
  assert.equal(done.method, 'POST');
  assert.match(done.body, /status: success/);
  assert.ok(done.body.length <= 100_000);
  await waitFor(() => pings(new RegExp(`^/api/push/${KUMA_TOKEN}$`)).length > 0, 30_000, 'a Kuma ping', output);
  const kuma = pings(new RegExp(`^/api/push/${KUMA_TOKEN}$`))[0]!;
  assert.equal(kuma.query.get('status'), 'up');
  assert.match(kuma.query.get('ping') ?? '', /^\d+$/);
  assert.match(kuma.query.get('msg') ?? '', /succeeded/);
});

test('a failing run pings /fail and Kuma down; a ping that fails leaves the backup a success', async () => {
  // the monitors answer 500 for a while: runs go on and succeed, the daemon warns
  rec.handle((r) => (r.path.startsWith('/ping/') || r.path.startsWith('/api/push/') ? { status: 500 } : undefined));
  const before = (await metrics()).match(/offsite_backup_runs_total\{job="default",result="success"\} (\d+)/)![1]!;
  await waitFor(() => /the healthchecks ping failed \(HTTP 500\)/.test(output()), 60_000, 'the ping warning', output);
  await waitFor(
    () => {
      const m = lastMetrics.match(/offsite_backup_runs_total\{job="default",result="success"\} (\d+)/);
      void metrics();
      return Boolean(m) && Number(m![1]) > Number(before);
    },
    60_000,
    'another successful run',
    () => lastMetrics,
  );
  rec.handle(() => undefined);

  // the source disappears: the next run fails
  const n = rec.requests.length;
  renameSync(join(dir, 'src'), join(dir, 'src-away'));
  await waitFor(
    () => rec.requests.slice(n).some((r) => r.path === `/ping/${CHECK_ID}/fail`),
    60_000,
    'a /fail ping',
    () => JSON.stringify(rec.requests.slice(n).map((r) => r.path)),
  );
  const fail = rec.requests.slice(n).find((r) => r.path === `/ping/${CHECK_ID}/fail`)!;
  assert.match(fail.body, /status: failure/);
  await waitFor(() => rec.requests.slice(n).some((r) => r.path === `/api/push/${KUMA_TOKEN}` && r.query.get('status') === 'down'), 30_000, 'Kuma down', output);
  const health = await fetch(`${url}/health`);
  assert.equal(health.status, 503);
  assert.equal(((await health.json()) as { status: string }).status, 'failing');
  renameSync(join(dir, 'src-away'), join(dir, 'src'));
  await waitFor(
    () => {
      void fetch(`${url}/health`).then((r) => {
        lastHealth = r.status;
      });
      return lastHealth === 200;
    },
    60_000,
    'healthy again',
    output,
  );
  // no secret of the ping URLs in the log
  assert.ok(!output().includes(CHECK_ID) && !output().includes(KUMA_TOKEN), 'a ping URL secret is in the log');
});
let lastHealth = 0;
let lastMetrics = '';

async function metrics(): Promise<string> {
  const r = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  lastMetrics = await r.text();
  return lastMetrics;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

const PROMETHEUS = ['/usr/bin/prometheus', '/bin/prometheus'].find((p) => existsSync(p));

test(
  'a real Prometheus scrapes /metrics with the token; every metric of the issue is there',
  { skip: !PROMETHEUS && !process.env.CI ? 'Debian prometheus is not installed (.ci/system-packages.sh installs it; CI fails instead)' : false },
  async () => {
    assert.ok(PROMETHEUS, 'prometheus is not installed (apt-get install prometheus)');
    const text = await metrics();
    for (const name of [
      'offsite_backup_last_success_timestamp_seconds{job="default",destination="Local"}',
      'offsite_backup_last_attempt_timestamp_seconds{job="default"}',
      'offsite_backup_last_status{job="default"}',
      'offsite_schedule_expected_interval_seconds{job="default"} 2',
      'offsite_backup_runs_total{job="default",result="failure"}',
      'offsite_backup_duration_seconds_bucket{le="60",job="default"}',
      'offsite_backup_duration_seconds_bucket{le="14400",job="default"}',
      'offsite_backup_archive_size_bytes{job="default"}',
      'offsite_backup_files{job="default"}',
      'offsite_destination_backups{job="default",destination="Local"}',
      'offsite_destination_oldest_backup_timestamp_seconds{job="default",destination="Local"}',
      'offsite_destination_up{job="default",destination="Local"} 1',
      'offsite_prune_deleted_total{job="default",destination="Local"}',
      'offsite_prune_errors_total{job="default",destination="Local"} 0',
      'offsite_build_info{version=',
      'process_resident_memory_bytes',
    ])
      assert.ok(text.includes(name), `${name} is missing:\n${text}`);
    assert.doesNotMatch(text, /backup-\d{4}/, 'a backup name in the metrics');

    const port = await freePort();
    const pdir = mkdtempSync(join(tmpdir(), 'offsite-prom-'));
    const target = new URL(url).host;
    writeFileSync(
      join(pdir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        '  - job_name: offsite',
        '    authorization:',
        `      credentials: ${METRICS_TOKEN}`,
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    prom = spawn(
      PROMETHEUS!,
      [`--config.file=${join(pdir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(pdir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const plog = collect(prom);
    const query = async (q: string) => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
        const j = (await r.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
        return j.status === 'success' ? j.data.result : [];
      } catch {
        return [];
      }
    };
    let up: Awaited<ReturnType<typeof query>> = [];
    await waitFor(
      () => {
        void query('up{job="offsite"}').then((r) => {
          up = r;
        });
        return up.length === 1 && up[0]!.value[1] === '1';
      },
      90_000,
      'Prometheus scraping offsite',
      plog,
    );
    let ok: Awaited<ReturnType<typeof query>> = [];
    await waitFor(
      () => {
        void query('offsite_backup_runs_total{result="success"}').then((r) => {
          ok = r;
        });
        return ok.length === 1 && Number(ok[0]!.value[1]) >= 1;
      },
      60_000,
      'the success counter in Prometheus',
      plog,
    );
    assert.equal(ok[0]!.metric.job, 'offsite', 'the target label (Prometheus renames the job label it finds to exported_job)');
    assert.equal(ok[0]!.metric.exported_job, 'default');
    const fresh = await query(
      'time() - max by (exported_job) (offsite_backup_last_success_timestamp_seconds) < on(exported_job) 1.25 * offsite_schedule_expected_interval_seconds + 60',
    );
    assert.equal(fresh.length, 1, 'the freshness alert expression finds the job');
    const info = await query('offsite_build_info');
    assert.match(info[0]!.metric.version ?? '', /^\d+\.\d+\.\d+/);
  },
);
