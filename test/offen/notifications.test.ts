// Translated from offen/docker-volume-backup test/notifications (run.sh, docker-compose.yml,
// notifications.tmpl) plus offen's default templates (cmd/backup/notifications.tmpl), both kept
// verbatim in test/fixtures/offen/. The Gotify server is the local HTTP recorder answering
// Gotify's POST /message; offsite runs as a process (`offsite backup`) instead of `docker
// compose exec backup backup`; the stopped `offen` container is left out (no Docker).
// Expected texts are what Go's text/template makes of these files ({{- -}} trimming included).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isolatedEnv } from '../helpers/cli.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';
import { parseOffenTemplates, offenFuncs, GoTime } from '../../src/notify/offen-templates.ts';
import { loadTemplates } from '../../src/notify/messages.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { cli as runCli } from './destination-scenario.ts'; // not blocking this process: the recorder answers from it

const fixture = (f: string) => readFileSync(fileURLToPath(new URL(`../fixtures/offen/${f}`, import.meta.url)), 'utf8');
const DEFAULT = fixture('default-notifications.tmpl');
const CUSTOM = fixture('test-notifications.tmpl');

describe("offen's default templates (cmd/backup/notifications.tmpl) render as Go renders them", () => {
  const set = parseOffenTemplates([{ path: 'notifications.tmpl', text: DEFAULT }]);
  const data = (error: Error | null) => ({
    Error: error,
    Stats: {
      StartTime: new GoTime(new Date('2026-01-02T03:04:05Z'), 'UTC'),
      LogOutput: 'time=... level=INFO msg="Created backup"\ntime=... level=INFO msg="Finished"\n',
    },
  });
  const run = (name: string, e: Error | null) => set.templates.get(name)!.execute(data(e), offenFuncs({}));

  test('title_failure / body_failure', () => {
    assert.equal(run('title_failure', new Error('boom')), 'Failure running docker-volume-backup at 2026-01-02T03:04:05Z');
    assert.equal(
      run('body_failure', new Error('boom')),
      'Running docker-volume-backup failed with error: boom\n\nLog output of the failed run was:\n\ntime=... level=INFO msg="Created backup"\ntime=... level=INFO msg="Finished"\n',
    );
  });
  test('title_success / body_success', () => {
    assert.equal(run('title_success', null), 'Success running docker-volume-backup at 2026-01-02T03:04:05Z');
    assert.equal(
      run('body_success', null),
      'Running docker-volume-backup succeeded.\n\nLog output was:\n\ntime=... level=INFO msg="Created backup"\ntime=... level=INFO msg="Finished"\n',
    );
  });
  test('formatTime is RFC 3339 in the zone (TZ)', () => {
    const t = new GoTime(new Date('2026-07-02T03:04:05Z'), 'Europe/Berlin');
    assert.equal(offenFuncs({}).formatTime!(t), '2026-07-02T05:04:05+02:00');
    assert.equal(String(new GoTime(new Date('2026-01-02T03:04:05.250Z'), 'UTC')), '2026-01-02 03:04:05.25 +0000 UTC');
  });
});

describe('offen test/notifications', () => {
  let rec: HttpRecorder;
  before(async () => {
    rec = await startRecorder();
    rec.handle(() => ({ status: 200, body: { id: 1 } }));
  });
  after(async () => {
    await rec.close();
  });
  const TOKEN = 'Aaaaaaaaaaaaaaa';

  function setup(extra: Record<string, string> = {}) {
    const { dir, env } = isolatedEnv();
    const local = join(dir, 'archive');
    mkdirSync(local);
    const app = join(dir, 'backup', 'app_data');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'offen.db'), 'data');
    const tpl = join(dir, 'notifications.d');
    mkdirSync(tpl);
    writeFileSync(join(tpl, 'notifications.tmpl'), CUSTOM);
    return {
      dir,
      env: {
        ...env,
        // docker-compose.yml
        BACKUP_FILENAME: 'test.tar.gz',
        BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
        BACKUP_PRUNING_PREFIX: 'test',
        NOTIFICATION_LEVEL: 'info',
        EXTRA_VALUE: 'extra-value',
        BACKUP_ARCHIVE: local,
        BACKUP_SOURCES: join(dir, 'backup'),
        NOTIFICATION_TEMPLATES_DIR: tpl,
        BACKUP_TMP_DIR: '/tmp',
        ...extra,
      },
    };
  }
  const messages = () => rec.requests.filter((q) => q.path === '/message');

  test('no notifications are sent when not configured', async () => {
    rec.reset();
    rec.handle(() => ({ status: 200, body: { id: 1 } }));
    const { env } = setup();
    const r = await runCli(['backup'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(messages().length, 0, 'Expected no notifications to be sent when not configured');
  });

  test('configured: one notification with the custom title and body; a failed start is notified too', async () => {
    rec.reset();
    rec.handle(() => ({ status: 200, body: { id: 1 } }));
    const { env } = setup({ NOTIFICATION_URLS: `gotify://${rec.host}/${TOKEN}?disableTLS=true` });
    const r = await runCli(['backup'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(messages().length, 1, `Expected one notifications to be sent when configured\n${r.stdout}${JSON.stringify(rec.requests.map((q) => q.path))}`);
    const m = messages()[0]!.json as { title: string; message: string };
    assert.equal(m.title, 'Successful test run with extra-value, yay!', `Unexpected notification title ${m.title}`);
    assert.equal(m.message, 'Backing up /tmp/test.tar.gz succeeded.', `Unexpected notification body ${m.message}`);

    const before = messages().length;
    const failed = await runCli(['backup'], { ...env, AWS_S3_BUCKET_NAME: 'missing-bucket', AWS_ACCESS_KEY_ID_FILE: '/tmp/missing' });
    assert.notEqual(failed.code, 0, 'Expected backup to fail due to missing AWS_ACCESS_KEY_ID_FILE.');
    assert.equal(messages().length, before + 1, 'Expected one additional notification after failure');
  });

  test("offen's default body ends with the run's real log lines (.Stats.LogOutput)", async () => {
    rec.reset();
    rec.handle(() => ({ status: 200, body: { id: 1 } }));
    const { dir, env } = setup({ NOTIFICATION_URLS: `gotify://${rec.host}/${TOKEN}?disableTLS=true`, GPG_PASSPHRASE: 'never-in-the-log-output' });
    writeFileSync(join(dir, 'notifications.d', 'notifications.tmpl'), fixture('default-notifications.tmpl'));
    const r = await runCli(['backup'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const m = messages()[0]!.json as { title: string; message: string };
    const lines = m.message.split('\n').filter((l) => l.startsWith('time='));
    assert.ok(
      lines.some((l) => /^time=\S+ level=INFO msg="backup started" archive=test\.tar\.gz\.gpg /.test(l)),
      m.message,
    );
    assert.ok(
      lines.some((l) => / level=INFO msg="backup finished" status=success /.test(l)),
      m.message,
    );
    assert.ok(!m.message.includes('never-in-the-log-output'), 'no secret in the log output');
    assert.ok(!m.message.includes('Started:  '), "the log, not offsite's own report");
  });
});

describe('loading offen template files', () => {
  const load = (files: Record<string, string>) => {
    const { dir } = isolatedEnv();
    const tpl = join(dir, 'n.d');
    mkdirSync(tpl);
    for (const [f, t] of Object.entries(files)) writeFileSync(join(tpl, f), t);
    const issues: ConfigIssue[] = [];
    const t = loadTemplates(tpl, true, 'NOTIFICATION_TEMPLATES_DIR', issues, { EXTRA_VALUE: 'x' });
    return { t, issues };
  };
  test('a file offsite cannot use is a configuration error naming it, never skipped', () => {
    for (const [text, why] of [
      ['{{ define "title_success" }}{{ .Stats.StartTime | date "2006" }}{{ end }}', /function "date" not defined/],
      ['{{ define "title_success" }}{{ if .Error }}x{{ end }', /unclosed action/],
      ['{{ define "title_success" }}{{ if .Error }}x{{ end }}', /unexpected end of template/],
      ['Hello {{ .Error }}', /defines no template/],
    ] as const) {
      const { issues } = load({ 'custom.tmpl': text });
      assert.equal(issues.length, 1, text);
      assert.match(issues[0]!.message, /custom\.tmpl/);
      assert.match(issues[0]!.message, why);
    }
  });
  test("offen's files load; Handlebars files keep working beside them", () => {
    const { t, issues } = load({ 'notifications.tmpl': DEFAULT, 'extra.tmpl': CUSTOM });
    assert.deepEqual(issues, []);
    assert.deepEqual([...t.go!.set.templates.keys()].sort(), ['body_failure', 'body_success', 'title_failure', 'title_success']);
    const both = load({ 'a.tmpl': CUSTOM, 'title_success.hbs': '{{job}}' });
    assert.match(both.issues[0]!.message, /title_success is given twice/);
  });
});
