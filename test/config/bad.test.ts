// A table of bad configurations. Each must be refused in-process with a ConfigError naming the
// variable, and by `offsite config` with exit code 2, `configuration error:` and one line per
// issue `  VARIABLE: message` on stderr, and no stack trace.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';
import { runCliAsync } from '../helpers/cli.ts';

interface BadCase {
  name: string;
  /** `{dir}` in a value is replaced by the case's private directory. */
  env: Record<string, string>;
  /** Variables every issue must name, exactly (sorted). */
  variables: string[];
  /** Files to create in the case's directory (`conf.d/x.env`, `.env`, secrets). */
  files?: Record<string, string>;
  /** A substring the message of the first issue must contain. */
  message?: string;
}

const cases: BadCase[] = [
  { name: 'cron: words', env: { BACKUP_CRON_EXPRESSION: 'every day at noon' }, variables: ['BACKUP_CRON_EXPRESSION'], message: 'not a cron expression' },
  { name: 'cron: minute out of range', env: { BACKUP_CRON_EXPRESSION: '61 * * * *' }, variables: ['BACKUP_CRON_EXPRESSION'] },
  { name: 'cron: four fields', env: { BACKUP_CRON_EXPRESSION: '* * * *' }, variables: ['BACKUP_CRON_EXPRESSION'] },
  { name: 'cron: unknown macro', env: { BACKUP_CRON_EXPRESSION: '@fortnightly' }, variables: ['BACKUP_CRON_EXPRESSION'] },
  { name: 'cron: @every too short', env: { BACKUP_CRON_EXPRESSION: '@every 100ms' }, variables: ['BACKUP_CRON_EXPRESSION'], message: 'at least 1s' },
  { name: 'duration: words', env: { BACKUP_JITTER: '5 minutes' }, variables: ['BACKUP_JITTER'], message: 'not a duration' },
  { name: 'duration: days unit', env: { LOCK_TIMEOUT: '1d' }, variables: ['LOCK_TIMEOUT'] },
  { name: 'duration: negative', env: { LOCK_TIMEOUT: '-5m' }, variables: ['LOCK_TIMEOUT'], message: 'negative' },
  { name: 'duration: no unit', env: { BACKUP_PRUNING_LEEWAY: '10' }, variables: ['BACKUP_PRUNING_LEEWAY'] },
  { name: 'unknown compression', env: { BACKUP_COMPRESSION: 'xz' }, variables: ['BACKUP_COMPRESSION'], message: 'gz, zst, none' },
  { name: 'negative parallelism', env: { GZIP_PARALLELISM: '-1' }, variables: ['GZIP_PARALLELISM'], message: 'negative' },
  { name: 'non-numeric parallelism', env: { GZIP_PARALLELISM: 'two' }, variables: ['GZIP_PARALLELISM'] },
  {
    name: 'parallelism beyond the bound (was: Array buffer allocation failed)',
    env: { GZIP_PARALLELISM: '100000' },
    variables: ['GZIP_PARALLELISM'],
    message: '1 to 64',
  },
  {
    name: 'retention beyond a safe integer (was: pruning silently never happened)',
    env: { BACKUP_RETENTION_DAYS: '99999999999999999999' },
    variables: ['BACKUP_RETENTION_DAYS'],
    message: 'too large',
  },
  { name: 'retention beyond 100 years', env: { BACKUP_RETENTION_DAYS: '40000' }, variables: ['BACKUP_RETENTION_DAYS'], message: '0 to 36500 days' },
  {
    name: 'SSH port beyond a safe integer',
    env: { SSH_HOST_NAME: 'h', SSH_USER: 'u', SSH_PORT: '99999999999999999999' },
    variables: ['SSH_PORT'],
    message: 'too large',
  },
  { name: 'duration longer than a timer can wait (would fire at once)', env: { LOCK_TIMEOUT: '1000h' }, variables: ['LOCK_TIMEOUT'], message: 'at most 596h' },
  { name: "duration beyond Go's range", env: { BACKUP_JITTER: '99999999999999999999h' }, variables: ['BACKUP_JITTER'], message: 'not a duration' },
  { name: 'non-numeric retention', env: { BACKUP_RETENTION_DAYS: 'seven' }, variables: ['BACKUP_RETENTION_DAYS'], message: 'not a whole number' },
  { name: 'fractional retention', env: { BACKUP_RETENTION_DAYS: '7.5' }, variables: ['BACKUP_RETENTION_DAYS'] },
  { name: 'keep count: words', env: { BACKUP_RETENTION_KEEP_DAILY: 'seven' }, variables: ['BACKUP_RETENTION_KEEP_DAILY'], message: 'not a count' },
  { name: 'keep count: below -1', env: { BACKUP_RETENTION_KEEP_LAST: '-2' }, variables: ['BACKUP_RETENTION_KEEP_LAST'], message: '-1 (unlimited)' },
  {
    name: 'keep within: minutes are not a unit',
    env: { BACKUP_RETENTION_KEEP_WITHIN: '30min' },
    variables: ['BACKUP_RETENTION_KEEP_WITHIN'],
    message: 'm is months',
  },
  {
    name: 'keep rules together with BACKUP_RETENTION_DAYS',
    env: { BACKUP_RETENTION_DAYS: '7', BACKUP_RETENTION_KEEP_DAILY: '7', BACKUP_RETENTION_KEEP_MONTHLY: '12' },
    variables: ['BACKUP_RETENTION_DAYS'],
    message: 'BACKUP_RETENTION_KEEP_DAILY, BACKUP_RETENTION_KEEP_MONTHLY',
  },
  {
    name: 'keep rules that keep nothing',
    env: { BACKUP_RETENTION_KEEP_LAST: '0', BACKUP_RETENTION_KEEP_WITHIN: '0d' },
    variables: ['BACKUP_RETENTION_KEEP_LAST'],
    message: 'keep nothing',
  },
  { name: 'bad TZ', env: { TZ: 'Mars/Olympus_Mons' }, variables: ['TZ'], message: 'time zone' },
  { name: 'bad regexp', env: { BACKUP_EXCLUDE_REGEXP: '(unclosed' }, variables: ['BACKUP_EXCLUDE_REGEXP'], message: 'regular expression' },
  { name: 'regexp syntax Go does not have (lookahead)', env: { BACKUP_EXCLUDE_REGEXP: 'a(?=b)' }, variables: ['BACKUP_EXCLUDE_REGEXP'], message: '(?=' },
  { name: 'relative source', env: { BACKUP_SOURCES: '/data,relative/path' }, variables: ['BACKUP_SOURCES'], message: 'relative/path' },
  { name: 'no source at all', env: { BACKUP_SOURCES: ' , ' }, variables: ['BACKUP_SOURCES'], message: 'empty' },
  {
    name: 'bad BACKUP_SKIP_BACKENDS_FROM_PRUNE',
    env: { BACKUP_SKIP_BACKENDS_FROM_PRUNE: 'S3,FTP' },
    variables: ['BACKUP_SKIP_BACKENDS_FROM_PRUNE'],
    message: 'FTP',
  },
  { name: 'bad LOG_LEVEL', env: { LOG_LEVEL: 'loud' }, variables: ['LOG_LEVEL'] },
  { name: 'bad LOG_FORMAT', env: { LOG_FORMAT: 'xml' }, variables: ['LOG_FORMAT'] },
  { name: 'bad boolean', env: { BACKUP_FILENAME_EXPAND: 'maybe' }, variables: ['BACKUP_FILENAME_EXPAND'], message: 'boolean' },
  { name: 'file name with a directory', env: { BACKUP_FILENAME: 'sub/backup-%Y.tar.gz' }, variables: ['BACKUP_FILENAME'], message: 'path separator' },
  {
    name: 'latest symlink with a directory',
    env: { BACKUP_LATEST_SYMLINK: 'sub/latest.tar.gz' },
    variables: ['BACKUP_LATEST_SYMLINK'],
    message: 'path separator',
  },
  { name: 'file name with an unknown template', env: { BACKUP_FILENAME: 'backup-{{ .Date }}.tar.gz' }, variables: ['BACKUP_FILENAME'], message: '{{ .Date }}' },
  { name: 'X_FILE does not exist', env: { BACKUP_RETENTION_DAYS_FILE: '{dir}/missing' }, variables: ['BACKUP_RETENTION_DAYS_FILE'], message: 'does not exist' },
  { name: 'X_FILE is a directory (unreadable)', env: { TZ_FILE: '{dir}' }, variables: ['TZ_FILE'], message: 'is a directory' },
  {
    name: 'X and X_FILE both set',
    env: { BACKUP_SOURCES: '/a', BACKUP_SOURCES_FILE: '{dir}/sources' },
    files: { sources: '/b\n' },
    variables: ['BACKUP_SOURCES_FILE'],
    message: 'both',
  },
  { name: 'X_FILE content invalid', env: { BACKUP_RETENTION_DAYS_FILE: '{dir}/days' }, files: { days: 'a week\n' }, variables: ['BACKUP_RETENTION_DAYS'] },
  { name: 'two problems at once', env: { TZ: 'Nowhere', BACKUP_COMPRESSION: 'rar' }, variables: ['BACKUP_COMPRESSION', 'TZ'] },
  {
    name: 'five problems at once',
    env: { TZ: 'Nowhere', BACKUP_COMPRESSION: 'rar', LOCK_TIMEOUT: 'long', GZIP_PARALLELISM: '-4', LOG_LEVEL: 'chatty' },
    variables: ['BACKUP_COMPRESSION', 'GZIP_PARALLELISM', 'LOCK_TIMEOUT', 'LOG_LEVEL', 'TZ'],
  },
  {
    name: 'bad value in a conf.d file',
    env: {},
    files: { 'conf.d/nightly.env': 'BACKUP_RETENTION_DAYS=lots\n' },
    variables: ['BACKUP_RETENTION_DAYS'],
    message: 'nightly.env',
  },
  { name: 'bad value in the .env file', env: {}, files: { '.env': 'BACKUP_JITTER=soon\n' }, variables: ['BACKUP_JITTER'] },
  { name: 'OFFSITE_CONF_DIR missing', env: { OFFSITE_CONF_DIR: '{dir}/no-such-dir' }, variables: ['OFFSITE_CONF_DIR'] },
  { name: 'OFFSITE_DOTENV missing', env: { OFFSITE_DOTENV: '{dir}/no.env' }, variables: ['OFFSITE_DOTENV'] },
];

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'offsite-badcfg-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
/** A private dir with an empty conf.d and the case's files; returns the dir and the case's env. */
function prepare(c: BadCase): { dir: string; env: Record<string, string> } {
  const dir = join(root, `c${++seq}`);
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  for (const [rel, text] of Object.entries(c.files ?? {})) writeFileSync(join(dir, rel), text);
  const env: Record<string, string> = { OFFSITE_CONF_DIR: join(dir, 'conf.d') };
  for (const [k, v] of Object.entries(c.env)) env[k] = v.replaceAll('{dir}', dir);
  return { dir, env };
}

test('the table has at least 20 bad configurations', () => {
  assert.ok(cases.length >= 20);
});

describe('bad configurations, in-process', () => {
  for (const c of cases) {
    test(c.name, () => {
      const { dir, env } = prepare(c);
      let err: unknown;
      try {
        loadConfig({ env, cwd: dir });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      assert.deepEqual(err.issues.map((i) => i.variable).sort(), c.variables);
      if (c.message) assert.ok(err.issues[0]!.message.includes(c.message), `"${err.issues[0]!.message}" should mention ${c.message}`);
      for (const i of err.issues) assert.ok(err.message.includes(`${i.variable}: `));
    });
  }
});

describe('bad configurations, `offsite config` in a child process', { concurrency: 4 }, () => {
  for (const c of cases) {
    test(c.name, async () => {
      const { dir, env } = prepare(c);
      // A clean environment: nothing from this process leaks into the child.
      const r = await runCliAsync(['config'], { PATH: process.env.PATH ?? '', ...env }, { cwd: dir, timeoutMs: 60_000 });
      assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n');
      assert.equal(lines[0], 'configuration error:');
      for (const v of c.variables)
        assert.ok(
          lines.some((l) => l.startsWith(`  ${v}: `)),
          `no line for ${v} in:\n${r.stderr}`,
        );
      const issueLines = lines.filter((l) => /^ {2}[A-Za-z_/]/.test(l));
      assert.equal(issueLines.length, c.variables.length, r.stderr);
      assert.ok(!/^\s+at /m.test(r.stderr), `stack trace in:\n${r.stderr}`);
      assert.ok(!/Error:/.test(r.stderr), `raw error in:\n${r.stderr}`);
    });
  }
});

describe('a good configuration, `offsite config`', () => {
  test('prints the resolved job with secrets redacted and exits 0', async () => {
    const { dir, env } = prepare({
      name: 'good',
      env: {
        BACKUP_RETENTION_DAYS: '9',
        AWS_SECRET_ACCESS_KEY: 'sup3r-s3cret-value',
        NOTIFICATION_URLS: 'smtp://me:hunter2hunter2@mail.example.com/?from=backup@example.com&to=ops@example.com',
      },
      variables: [],
    });
    const r = await runCliAsync(['config'], { PATH: process.env.PATH ?? '', ...env }, { cwd: dir, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { job: string; retention: { days: number } };
    assert.equal(out.job, 'default');
    assert.equal(out.retention.days, 9);
    assert.ok(!r.stdout.includes('sup3r-s3cret-value'));
    assert.ok(!r.stdout.includes('hunter2hunter2'));
  });
});
