/**
 * deploy/: the Prometheus rules and their unit tests (promtool), the Grafana dashboard's queries,
 * and the Kubernetes manifests (parsed and checked for what the README promises: probes, the
 * shared volume, the ServiceMonitor's honorLabels, the CronJob's concurrency and deadlines, and
 * only variables offsite knows). Their validation against the Kubernetes schemas: schemas.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { knownVariables } from '../../src/config/index.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DEPLOY = join(ROOT, 'deploy');
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
// CI installs Debian's prometheus (.ci/system-packages.sh): there a missing promtool is a failure.
const noPromtool = !PROMTOOL && !process.env.CI && 'promtool is not installed (Debian package prometheus; .ci/system-packages.sh installs it)';

/** The metrics offsite exports (issue 16's list); rules and dashboard may use only these. */
const METRICS = new Set([
  'offsite_backup_last_success_timestamp_seconds',
  'offsite_backup_last_attempt_timestamp_seconds',
  'offsite_backup_last_status',
  'offsite_schedule_expected_interval_seconds',
  'offsite_backup_runs_total',
  'offsite_backup_duration_seconds',
  'offsite_backup_archive_size_bytes',
  'offsite_backup_files',
  'offsite_destination_backups',
  'offsite_destination_oldest_backup_timestamp_seconds',
  'offsite_destination_up',
  'offsite_prune_deleted_total',
  'offsite_prune_errors_total',
  'offsite_verify_last_success_timestamp_seconds',
  'offsite_build_info',
]);

const RULE_TESTS = ['offsite.rules.test.yaml', 'offsite.rules.days.test.yaml'];

function promtool(args: string[], cwd: string) {
  const r = spawnSync(PROMTOOL!, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function metricNames(text: string): string[] {
  return [...new Set([...text.matchAll(/\boffsite_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')))];
}

test('the alert rules pass promtool check rules', { skip: noPromtool }, () => {
  const r = promtool(['check', 'rules', 'offsite.rules.yaml'], join(DEPLOY, 'prometheus'));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: 6 rules found/);
});

test('promtool test rules: stale, failing, absent, prune, destination-down and verification alerts fire and stay quiet when they should', { skip: noPromtool }, () => {
  const r = promtool(['test', 'rules', ...RULE_TESTS], join(DEPLOY, 'prometheus'));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

test('the rule tests can fail: a stale rule with the wrong grace factor fails them', { skip: noPromtool }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-rules-'));
  const rules = readFileSync(join(DEPLOY, 'prometheus/offsite.rules.yaml'), 'utf8');
  const broken = rules.replace('(1.25 * offsite_schedule_expected_interval_seconds)', '(2 * offsite_schedule_expected_interval_seconds)');
  assert.notEqual(broken, rules, 'the stale rule compares against 1.25 expected intervals');
  writeFileSync(join(dir, 'offsite.rules.yaml'), broken);
  for (const f of RULE_TESTS) copyFileSync(join(DEPLOY, 'prometheus', f), join(dir, f));
  const r = promtool(['test', 'rules', ...RULE_TESTS], dir);
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, /OffsiteBackupStale/);
});

test('the example scrape configuration is valid and keeps offsite\'s job label (honor_labels)', { skip: noPromtool }, () => {
  const r = promtool(['check', 'config', 'scrape.example.yaml'], join(DEPLOY, 'prometheus'));
  assert.equal(r.code, 0, r.out);
  const [doc] = parseAllDocuments(readFileSync(join(DEPLOY, 'prometheus/scrape.example.yaml'), 'utf8')).map((d) => d.toJS());
  for (const job of doc.scrape_configs) assert.equal(job.honor_labels, true, `${job.job_name} needs honor_labels: true`);
});

test('every Grafana panel query is valid PromQL and uses only metrics offsite exports', { skip: noPromtool }, () => {
  const dash = JSON.parse(readFileSync(join(DEPLOY, 'grafana/offsite.json'), 'utf8'));
  const exprs: string[] = dash.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr));
  assert.ok(exprs.length >= 10, 'the dashboard has its panels');
  for (const name of metricNames(exprs.join('\n'))) assert.ok(METRICS.has(name), `${name} is not an offsite metric`);
  // promtool validates PromQL when the queries are written as recording rules
  const dir = mkdtempSync(join(tmpdir(), 'offsite-grafana-'));
  const rules = exprs.map((e, i) => `      - record: grafana_panel_${i}\n        expr: ${JSON.stringify(e.replaceAll('$job', '.*'))}`).join('\n');
  writeFileSync(join(dir, 'panels.yaml'), `groups:\n  - name: panels\n    rules:\n${rules}\n`);
  const r = promtool(['check', 'rules', 'panels.yaml'], dir);
  assert.equal(r.code, 0, r.out);
  assert.equal(dash.templating.list.find((v: { name: string }) => v.name === 'job')?.query, 'label_values(offsite_backup_last_status, job)');
});

test('the alert rules use only metrics offsite exports, and cover stale, failing and absent', () => {
  const text = readFileSync(join(DEPLOY, 'prometheus/offsite.rules.yaml'), 'utf8');
  for (const name of metricNames(text)) assert.ok(METRICS.has(name), `${name} is not an offsite metric`);
  const [doc] = parseAllDocuments(text).map((d) => d.toJS());
  const alerts = new Map<string, { expr: string; for?: string }>(doc.groups[0].rules.map((r: { alert: string; expr: string; for?: string }) => [r.alert, r]));
  assert.match(alerts.get('OffsiteBackupStale')!.expr, /time\(\) - offsite_backup_last_success_timestamp_seconds/);
  assert.match(alerts.get('OffsiteBackupStale')!.expr, /1\.25 \* offsite_schedule_expected_interval_seconds/);
  assert.equal(alerts.get('OffsiteBackupStale')!.for, '15m');
  assert.equal(alerts.get('OffsiteBackupFailing')!.expr.trim(), 'offsite_backup_last_status == 0');
  assert.match(alerts.get('OffsiteMetricsAbsent')!.expr, /absent\(/);
  for (const name of ['OffsitePruneErrors', 'OffsiteDestinationDown', 'OffsiteVerificationStale']) assert.ok(alerts.has(name), name);
});

type K8s = { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: any };
function manifests(file: string): K8s[] {
  const docs = parseAllDocuments(readFileSync(join(DEPLOY, 'kubernetes', file), 'utf8'));
  for (const d of docs) assert.deepEqual(d.errors, [], `${file}: ${d.errors.join('; ')}`);
  const out = docs.map((d) => d.toJS() as K8s);
  for (const m of out) {
    assert.ok(m.kind && m.metadata?.name, `${file}: every object has a kind and a name`);
  }
  return out;
}
type Container = { name: string; args?: string[]; env?: { name: string; value?: string }[]; ports?: { name: string; containerPort: number }[]; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[]; livenessProbe?: any; readinessProbe?: any };
const envOf = (c: Container) => new Map((c.env ?? []).map((e) => [e.name, e.value]));

function assertKnownVariables(c: Container, where: string): void {
  const known = knownVariables();
  for (const name of envOf(c).keys()) {
    if (name === 'TZ') continue;
    assert.ok(known.has(name), `${where}: ${name} is not a variable offsite reads`);
  }
}

test('sidecar.yaml: offsite shares the app volume read-only, probes /livez and /readyz on OFFSITE_HTTP_ADDR, and is scraped with honorLabels', () => {
  const objs = manifests('sidecar.yaml');
  const deploy = objs.find((o) => o.kind === 'Deployment')!;
  const pod = deploy.spec.template.spec;
  const containers: Container[] = pod.containers;
  const offsite = containers.find((c) => c.name === 'offsite')!;
  const app = containers.find((c) => c.name !== 'offsite')!;
  assert.deepEqual(offsite.args, ['offsite', 'daemon']);
  assertKnownVariables(offsite, 'sidecar.yaml');
  const env = envOf(offsite);
  const port = Number(/:(\d+)$/.exec(env.get('OFFSITE_HTTP_ADDR') ?? '')?.[1]);
  const http = offsite.ports!.find((p) => p.name === 'http')!;
  assert.equal(http.containerPort, port, 'the container port is the one OFFSITE_HTTP_ADDR listens on');
  assert.equal(offsite.livenessProbe.httpGet.path, '/livez');
  assert.equal(offsite.readinessProbe.httpGet.path, '/readyz');
  assert.equal(offsite.livenessProbe.httpGet.port, 'http');
  // the app's volume is mounted into offsite under /backup, read-only
  const shared = app.volumeMounts!.map((m) => m.name).filter((n) => offsite.volumeMounts!.some((m) => m.name === n));
  assert.equal(shared.length, 1, 'one volume is shared by the app and offsite');
  const mount = offsite.volumeMounts!.find((m) => m.name === shared[0])!;
  assert.match(mount.mountPath, /^\/backup\//);
  assert.equal(mount.readOnly, true);
  // state survives restarts
  assert.ok(offsite.volumeMounts!.some((m) => m.mountPath === env.get('OFFSITE_STATE_DIR')), 'OFFSITE_STATE_DIR is a mounted volume');
  assert.ok(pod.terminationGracePeriodSeconds > 50, 'the grace period is above OFFSITE_STOP_TIMEOUT');
  // Service and ServiceMonitor point at the http port
  const svc = objs.find((o) => o.kind === 'Service')!;
  const svcPort = svc.spec.ports.find((p: { targetPort: string }) => p.targetPort === 'http');
  assert.ok(svcPort, 'the Service targets the http port');
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(deploy.spec.template.metadata.labels[k], v, 'the Service selects the pod');
  const sm = objs.find((o) => o.kind === 'ServiceMonitor')!;
  assert.equal(sm.spec.endpoints[0].port, svcPort.name);
  assert.equal(sm.spec.endpoints[0].path, '/metrics');
  assert.equal(sm.spec.endpoints[0].honorLabels, true, 'offsite\'s job label is kept');
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels![k], v, 'the ServiceMonitor selects the Service');
});

test('cronjob.yaml: offsite backup, never two at once, time zone, deadlines, pushes to a Pushgateway, schedule repeated for the expected interval', () => {
  const [cron] = manifests('cronjob.yaml').filter((o) => o.kind === 'CronJob');
  assert.ok(cron);
  assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
  assert.ok(cron.spec.timeZone, 'timeZone is set');
  assert.ok(cron.spec.startingDeadlineSeconds > 0);
  const job = cron.spec.jobTemplate.spec;
  assert.ok(job.activeDeadlineSeconds > 0, 'a run has a deadline');
  assert.equal(job.template.spec.restartPolicy, 'Never');
  const c: Container = job.template.spec.containers[0];
  assert.deepEqual(c.args, ['offsite', 'backup']);
  assertKnownVariables(c, 'cronjob.yaml');
  const env = envOf(c);
  assert.match(env.get('OFFSITE_PUSHGATEWAY_URL') ?? '', /^https?:\/\//);
  assert.ok(env.get('OFFSITE_PUSHGATEWAY_INSTANCE'), 'a stable instance label (pod names change every run)');
  assert.equal(env.get('BACKUP_CRON_EXPRESSION'), cron.spec.schedule);
  // the data read-only; OFFSITE_STATE_DIR (the run history: the pushed runs counter counts across runs) on its own PVC
  const state = c.volumeMounts!.find((m) => m.mountPath === env.get('OFFSITE_STATE_DIR'));
  assert.ok(state, 'OFFSITE_STATE_DIR is a mounted volume');
  assert.ok(job.template.spec.volumes.find((v: { name: string; persistentVolumeClaim?: unknown }) => v.name === state.name)?.persistentVolumeClaim, 'on a PVC');
  assert.ok(c.volumeMounts!.filter((m) => m !== state).every((m) => m.readOnly === true));
});
