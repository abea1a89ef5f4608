import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ConfigIssue } from '../../src/errors.ts';
import { defaultBody, defaultTitle, formatBytes, loadTemplates, renderRunMessage } from '../../src/notify/messages.ts';
import { runStats } from './helpers.ts';

const dirs: string[] = [];
function tdir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'offsite-tpl-'));
  dirs.push(d);
  for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), v);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const failed = runStats({
  status: 'failure',
  destinations: [
    { destination: 'S3', location: 's3://bucket/backups', ok: true, bytes: 1_288_490_189, durationMs: 40_000, attempts: 1, pruned: 3 },
    {
      destination: 'WebDAV',
      location: 'https://dav.example.com/backups',
      ok: false,
      bytes: 0,
      durationMs: 30_000,
      attempts: 3,
      pruned: 0,
      error: 'HTTP 503 Service Unavailable',
      pruneNote: 'skipped: upload failed',
    },
  ],
  warnings: ['2 files vanished while archiving'],
  error: { phase: 'upload', message: 'upload to WebDAV failed: HTTP 503 Service Unavailable', destination: 'WebDAV' },
});

describe('default messages', () => {
  it('success: job, archive name and size, duration, each destination, pruned counts', () => {
    const s = runStats();
    assert.equal(defaultTitle(s), '[offsite] nightly: backup succeeded');
    const body = defaultBody(s);
    assert.match(body, /Backup job "nightly" on .* succeeded\./);
    assert.match(body, /Archive: {2}backup-2026-03-01T02-00-00\.tar\.gz, 1\.20 GiB \(gz, not encrypted\)/);
    assert.match(body, /took 1m12s/);
    assert.match(body, /Started: {2}2026-03-01 02:00:00 UTC/);
    assert.match(body, /- S3 s3:\/\/bucket\/backups: stored 1\.20 GiB in 40s; pruned 3 old backups/);
    assert.match(body, /- Local \/archive: stored 1\.20 GiB in 2s$/m);
    assert.match(body, /Containers: 2 stopped, 2 restarted/);
    assert.doesNotMatch(body, /Error|Warnings/);
  });

  it('how many backups each destination pruned and kept', () => {
    const s = runStats();
    s.destinations[0]!.kept = 11;
    s.destinations[1]!.kept = 4;
    const body = defaultBody(s);
    assert.match(body, /- S3 s3:\/\/bucket\/backups: stored 1\.20 GiB in 40s; pruned 3 old backups, kept 11$/m);
    assert.match(body, /- Local \/archive: stored 1\.20 GiB in 2s; pruned none, kept 4$/m);
  });

  it('failure: the title and the body name the failing phase and destination, with warnings', () => {
    assert.equal(defaultTitle(failed), '[offsite] nightly: backup FAILED (upload, WebDAV)');
    const body = defaultBody(failed);
    assert.match(body, /Error \(WebDAV, phase upload\): upload to WebDAV failed: HTTP 503/);
    assert.match(body, /- WebDAV https:\/\/dav\.example\.com\/backups: FAILED after 3 tries: HTTP 503 Service Unavailable; pruning: skipped: upload failed/);
    assert.match(body, /Warnings:\n {2}- 2 files vanished while archiving/);
  });

  it('partial and degraded titles', () => {
    assert.equal(defaultTitle({ ...failed, status: 'partial', error: null }), '[offsite] nightly: backup partly failed (WebDAV)');
    assert.equal(defaultTitle(runStats({ status: 'degraded' })), '[offsite] nightly: backup completed with warnings');
  });

  it('a run that failed before archiving says no archive was made', () => {
    const body = defaultBody(
      runStats({ status: 'failure', archive: null, destinations: [], error: { phase: 'lock', message: 'another backup holds the lock' } }),
    );
    assert.match(body, /Error \(phase lock\): another backup holds the lock/);
    assert.match(body, /Archive: {2}none was made/);
  });

  it('formats bytes', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(5 * 1024 ** 4), '5.00 TiB');
  });
});

describe('custom templates (Handlebars)', () => {
  it('uses title_success.hbs and plain body_success with the RunStats fields and helpers', () => {
    const d = tdir({
      'title_success.hbs': '{{job}} ok: {{archive.name}} ({{bytes archive.size}})',
      body_success:
        '{{#each destinations}}{{destination}}={{#if ok}}ok{{else}}failed{{/if}} pruned {{pruned}}\n{{/each}}took {{duration durationMs}} from {{time start}} ({{iso start}}); total pruned {{prunedTotal}}; <b>{{status}}</b> {{json warnings}}',
    });
    const issues: ConfigIssue[] = [];
    const t = loadTemplates(d, true, 'NOTIFICATION_TEMPLATES_DIR', issues);
    assert.deepEqual(issues, []);
    const m = renderRunMessage(runStats(), t);
    assert.equal(m.title, 'nightly ok: backup-2026-03-01T02-00-00.tar.gz (1.20 GiB)');
    assert.equal(
      m.message,
      'S3=ok pruned 3\nLocal=ok pruned 0\ntook 1m12s from 2026-03-01 02:00:00 UTC (2026-03-01T02:00:00.000Z); total pruned 3; <b>success</b> []',
    );
    assert.equal(m.level, 'info');
  });

  it('failure templates apply to failed runs; a missing template falls back to the default', () => {
    const d = tdir({ 'title_failure.hbs': 'FAIL {{job}} in {{error.phase}} ({{error.destination}})' });
    const t = loadTemplates(d, true, 'X', []);
    const m = renderRunMessage(failed, t);
    assert.equal(m.title, 'FAIL nightly in upload (WebDAV)');
    assert.equal(m.message, defaultBody(failed));
    assert.equal(m.level, 'error');
    assert.equal(renderRunMessage(runStats(), t).title, '[offsite] nightly: backup succeeded');
  });

  it('a template that fails at render time falls back to the default and is reported', () => {
    const d = tdir({ 'body_success.hbs': '{{#each}}{{/each}}' });
    const t = loadTemplates(d, true, 'X', []);
    const seen: string[] = [];
    const m = renderRunMessage(runStats(), t, (name, err) => seen.push(`${name}: ${err.message}`));
    assert.equal(m.message, defaultBody(runStats()));
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /^body_success: /);
  });

  it('a template that does not parse, or a Go template, is a configuration issue', () => {
    const d = tdir({ 'title_success.hbs': '{{#if job}}unclosed', body_failure: 'Failed: {{ .Error }}' });
    const issues: ConfigIssue[] = [];
    loadTemplates(d, true, 'NOTIFICATION_TEMPLATES_DIR', issues);
    assert.equal(issues.length, 2);
    assert.match(issues[0]!.message, /title_success\.hbs does not parse/);
    assert.match(issues[1]!.message, /body_failure looks like a Go template/);
  });

  it('the example templates of docs/notifications.md render as documented', () => {
    const doc = readFileSync(new URL('../../docs/notifications.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/`[^`]*\/(title_failure|body_failure)\.hbs`:\n\n```handlebars\n([\s\S]*?)```/g)];
    assert.equal(blocks.length, 2);
    const d = tdir(Object.fromEntries(blocks.map((b) => [`${b[1]}.hbs`, b[2]!.replace(/\n$/, '')])));
    const issues: ConfigIssue[] = [];
    const m = renderRunMessage(failed, loadTemplates(d, true, 'X', issues));
    assert.deepEqual(issues, []);
    assert.equal(m.title, 'Backup nightly failure in upload (WebDAV)');
    assert.equal(
      m.message,
      [
        'Error: upload to WebDAV failed: HTTP 503 Service Unavailable',
        'Archive backup-2026-03-01T02-00-00.tar.gz, 1.20 GiB, made in 1m12s.',
        '- S3: ok, pruned 3',
        '- WebDAV: FAILED: HTTP 503 Service Unavailable',
        'Warning: 2 files vanished while archiving',
      ].join('\n'),
    );
  });

  it('a missing directory is fine by default and an issue when named explicitly', () => {
    const issues: ConfigIssue[] = [];
    assert.equal(loadTemplates('/nonexistent/offsite-tpl', false, 'X', issues).dir, '');
    assert.deepEqual(issues, []);
    loadTemplates('/nonexistent/offsite-tpl', true, 'NOTIFICATION_TEMPLATES_DIR', issues);
    assert.deepEqual(issues, [{ variable: 'NOTIFICATION_TEMPLATES_DIR', message: 'the directory /nonexistent/offsite-tpl does not exist' }]);
  });
});
