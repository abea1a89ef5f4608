import { test, describe, before, after } from 'node:test';
import { localConfigOf } from '../../src/destinations/local.def.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';

let root: string;
let n = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'offsite-config-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh directory with an empty conf.d; files maps relative paths to contents. */
function sandbox(files: Record<string, string> = {}): string {
  const dir = join(root, `s${++n}`);
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

function load(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ env: { OFFSITE_CONF_DIR: join(dir, 'conf.d'), ...env }, cwd: dir });
}

function issuesOf(fn: () => unknown): Array<{ variable: string; message: string }> {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('defaults (compatible-env.md)', () => {
  test('an empty environment gives the documented defaults', () => {
    const dir = sandbox();
    const c = load(dir);
    assert.equal(c.jobs.length, 1);
    const j = c.jobs[0]!;
    assert.equal(j.name, 'default');
    assert.equal(j.source, 'environment');
    assert.deepEqual(j.schedule, { cron: '@daily', jitterMs: 0, timezone: 'UTC' });
    assert.equal(j.lockTimeoutMs, 60 * 60_000);
    assert.deepEqual(j.archive, {
      sources: ['/backup'],
      exclude: null,
      filenameTemplate: 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}',
      compression: 'gz',
      gzipParallelism: 1,
    });
    assert.deepEqual(j.retention, {
      days: -1,
      keep: null,
      names: { template: 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}', timeZone: 'UTC' },
      leewayMs: 60_000,
      prefix: 'backup-',
      skipBackends: [],
    });
    // BACKUP_ARCHIVE defaults to /archive, enabled only when that directory exists.
    assert.deepEqual(localConfigOf(j), existsSync('/archive') ? { dir: '/archive', latestSymlink: null } : null);
    assert.equal(j.tmpDir, tmpdir());
    assert.equal(c.lockFile, join(tmpdir(), 'offsite.lock'));
    assert.equal(c.logLevel, 'info');
    assert.equal(c.logFormat, undefined);
  });

  test('the configuration is frozen', () => {
    const c = load(sandbox());
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.jobs));
    assert.ok(Object.isFrozen(c.jobs[0]!.archive.sources));
    assert.ok(Object.isFrozen(c.jobs[0]!.env));
  });

  test('an empty value means "not set"', () => {
    const c = load(sandbox(), { BACKUP_CRON_EXPRESSION: '', BACKUP_RETENTION_DAYS: '', TZ: '', BACKUP_SOURCES: '' });
    const j = c.jobs[0]!;
    assert.equal(j.schedule.cron, '@daily');
    assert.equal(j.retention.days, -1);
    assert.equal(j.schedule.timezone, 'UTC');
    assert.deepEqual(j.archive.sources, ['/backup']);
  });
});

describe('values', () => {
  test('every spine variable is read', () => {
    const dir = sandbox();
    const archive = join(dir, 'archive');
    mkdirSync(archive);
    const c = load(dir, {
      BACKUP_CRON_EXPRESSION: '0 2 * * *',
      BACKUP_JITTER: '5m',
      TZ: 'Europe/Berlin',
      LOCK_TIMEOUT: '1h30m',
      BACKUP_SOURCES: '/data/a, /data/b/ ,/c',
      BACKUP_EXCLUDE_REGEXP: '\\.log$',
      BACKUP_FILENAME: 'site-%F.{{ .Extension }}',
      BACKUP_LATEST_SYMLINK: 'latest',
      BACKUP_ARCHIVE: archive,
      BACKUP_COMPRESSION: 'ZST',
      GZIP_PARALLELISM: '4',
      BACKUP_RETENTION_DAYS: '7',
      BACKUP_PRUNING_LEEWAY: '10m',
      BACKUP_PRUNING_PREFIX: 'site-',
      BACKUP_SKIP_BACKENDS_FROM_PRUNE: 's3, webdav,SSH',
      BACKUP_TMP_DIR: dir,
      LOG_LEVEL: 'DEBUG',
      LOG_FORMAT: 'pretty',
      OFFSITE_LOCK_FILE: join(dir, 'x.lock'),
    });
    const j = c.jobs[0]!;
    assert.deepEqual(j.schedule, { cron: '0 2 * * *', jitterMs: 300_000, timezone: 'Europe/Berlin' });
    assert.equal(j.lockTimeoutMs, 5_400_000);
    assert.deepEqual(j.archive.sources, ['/data/a', '/data/b', '/c']);
    assert.ok(j.archive.exclude!.test('/x/y.log'));
    assert.ok(!j.archive.exclude!.test('/x/y.logs'));
    assert.equal(j.archive.filenameTemplate, 'site-%F.{{ .Extension }}');
    assert.equal(j.archive.compression, 'zst');
    assert.equal(j.archive.gzipParallelism, 4);
    assert.deepEqual(j.retention, {
      days: 7,
      keep: null,
      names: { template: 'site-%F.{{ .Extension }}', timeZone: 'Europe/Berlin' },
      leewayMs: 600_000,
      prefix: 'site-',
      skipBackends: ['S3', 'WebDAV', 'SSH'],
    });
    assert.deepEqual(localConfigOf(j), { dir: archive, latestSymlink: 'latest' });
    assert.equal(j.tmpDir, dir);
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.logFormat, 'pretty');
    assert.equal(c.lockFile, join(dir, 'x.lock'));
  });

  test('GZIP_PARALLELISM=0 means every core', () => {
    assert.equal(load(sandbox(), { GZIP_PARALLELISM: '0' }).jobs[0]!.archive.gzipParallelism, availableParallelism());
  });

  test('zst uses every core unless GZIP_PARALLELISM is set (offen: zst ignores it); gz stays on one thread by default', () => {
    const threads = (env: Record<string, string>) => load(sandbox(), env).jobs[0]!.archive.gzipParallelism;
    assert.equal(threads({ BACKUP_COMPRESSION: 'zst' }), availableParallelism());
    assert.equal(threads({ BACKUP_COMPRESSION: 'zst', GZIP_PARALLELISM: '' }), availableParallelism());
    assert.equal(threads({ BACKUP_COMPRESSION: 'zst', GZIP_PARALLELISM: '1' }), 1);
    assert.equal(threads({ BACKUP_COMPRESSION: 'gz' }), 1);
    assert.equal(threads({ BACKUP_COMPRESSION: 'none' }), 1);
  });

  test('the pruning prefix is derived from the file name template when unset', () => {
    assert.equal(load(sandbox(), { BACKUP_FILENAME: 'nightly-db-%Y%m%d.{{ .Extension }}' }).jobs[0]!.retention.prefix, 'nightly-db-');
  });

  test('cron forms: 5 and 6 fields, names, macros, @every', () => {
    for (const cron of ['0 2 * * *', '*/10 * * * * *', '0 0 * * MON-FRI', '@hourly', '@weekly', '@every 6h', '@every 90s', '0 0 1 JAN *']) {
      assert.equal(load(sandbox(), { BACKUP_CRON_EXPRESSION: cron }).jobs[0]!.schedule.cron, cron);
    }
  });

  test("Go's leading (?i) / (?s) flags in BACKUP_EXCLUDE_REGEXP", () => {
    const re = load(sandbox(), { BACKUP_EXCLUDE_REGEXP: '(?i)\\.LOG$' }).jobs[0]!.archive.exclude!;
    assert.ok(re.test('/a/b.log'));
    assert.ok(re.test('/a/b.Log'));
    assert.equal(re.source, '(?i)\\.LOG$');
  });

  test('BACKUP_EXCLUDE_REGEXP is Go RE2 syntax: POSIX classes, \\Q..\\E, \\z, (?P<name>), inline flags anywhere, (?U)', () => {
    const cases: Array<[string, string[], string[]]> = [
      ['[[:digit:]]{4}\\.tmp$', ['/backup/a/2024.tmp'], ['/backup/a/x.tmp', '/backup/a/2024.tmpx']],
      ['\\Q/cache.d/\\E', ['/backup/cache.d/x'], ['/backup/cachexd/x']],
      ['\\.log\\z', ['/a/b.log'], ['/a/b.log/c']],
      ['/(?P<dir>node_modules)(/|$)', ['/backup/app/node_modules', '/backup/app/node_modules/x'], ['/backup/app/node_modules2']],
      ['/tmp/(?i)CaChE', ['/backup/tmp/cache'], ['/backup/TMP/cache']],
      ['(?U)a+b', ['/aab'], ['/b']],
    ];
    for (const [pattern, yes, no] of cases) {
      const re = load(sandbox(), { BACKUP_EXCLUDE_REGEXP: pattern }).jobs[0]!.archive.exclude!;
      for (const p of yes) assert.ok(re.test(p), `${pattern} should match ${p}`);
      for (const p of no) assert.ok(!re.test(p), `${pattern} should not match ${p}`);
    }
  });

  test("BACKUP_EXCLUDE_REGEXP: what Go refuses is a configuration error with RE2's message", () => {
    for (const [pattern, re] of [
      ['a(?=b)', /invalid or unsupported Perl syntax: `\(\?=`/],
      ['(a)\\1', /invalid escape sequence: `\\1`/],
      ['a\\Z', /invalid escape sequence/],
      ['x{1001}', /invalid repeat count/],
    ] as const) {
      const issues = issuesOf(() => load(sandbox(), { BACKUP_EXCLUDE_REGEXP: pattern }));
      assert.equal(issues[0]?.variable, 'BACKUP_EXCLUDE_REGEXP', pattern);
      assert.match(issues[0]!.message, /is not a valid Go \(RE2\) regular expression/, pattern);
      assert.match(issues[0]!.message, re, pattern);
    }
  });

  test('BACKUP_SOURCES: a comma list; the root, a path twice or one inside another are refused', () => {
    assert.deepEqual(load(sandbox(), { BACKUP_SOURCES: ' /a ,, /b//' }).jobs[0]!.archive.sources, ['/a', '/b']);
    assert.deepEqual(load(sandbox(), { BACKUP_SOURCES: '/backup/app,/backup/application' }).jobs[0]!.archive.sources, ['/backup/app', '/backup/application']);
    for (const [value, re] of [
      ['/', /is the root directory/],
      ['/a,/a/', /\/a is given twice/],
      ['/a/b,/a', /\/a\/b is inside the source \/a/],
    ] as const) {
      const issues = issuesOf(() => load(sandbox(), { BACKUP_SOURCES: value }));
      assert.equal(issues[0]?.variable, 'BACKUP_SOURCES', value);
      assert.match(issues[0]!.message, re, value);
    }
  });
});

describe('BACKUP_RETENTION_KEEP_*', () => {
  test('counts, -1 / unlimited and a restic duration; BACKUP_RETENTION_DAYS stays unset', () => {
    const j = load(sandbox(), {
      BACKUP_RETENTION_KEEP_DAILY: '7',
      BACKUP_RETENTION_KEEP_WEEKLY: '4',
      BACKUP_RETENTION_KEEP_MONTHLY: 'unlimited',
      BACKUP_RETENTION_KEEP_YEARLY: '-1',
      BACKUP_RETENTION_KEEP_WITHIN: '1y2m3d4h',
      TZ: 'Europe/Berlin',
    }).jobs[0]!;
    assert.deepEqual(j.retention.keep, {
      last: 0,
      hourly: 0,
      daily: 7,
      weekly: 4,
      monthly: -1,
      yearly: -1,
      within: { years: 1, months: 2, days: 3, hours: 4 },
    });
    assert.equal(j.retention.days, -1);
    assert.deepEqual(j.retention.names, { template: 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}', timeZone: 'Europe/Berlin' });
  });
  test('one rule alone is enough (KEEP_LAST as Squidex does)', () => {
    assert.deepEqual(load(sandbox(), { BACKUP_RETENTION_KEEP_LAST: '10' }).jobs[0]!.retention.keep, {
      last: 10,
      hourly: 0,
      daily: 0,
      weekly: 0,
      monthly: 0,
      yearly: 0,
      within: null,
    });
  });
  test('a conf.d job may use rules while another keeps days', () => {
    const dir = sandbox();
    mkdirSync(join(dir, 'conf.d'), { recursive: true });
    // the global BACKUP_RETENTION_DAYS is unset in a.env by an empty value
    writeFileSync(join(dir, 'conf.d', 'a.env'), 'BACKUP_RETENTION_DAYS=\nBACKUP_RETENTION_KEEP_LAST=3\n');
    writeFileSync(join(dir, 'conf.d', 'b.env'), 'BACKUP_RETENTION_DAYS=7\n');
    const c = load(dir, { OFFSITE_CONF_DIR: join(dir, 'conf.d'), BACKUP_RETENTION_DAYS: '30' });
    assert.equal(c.jobs[0]!.retention.keep!.last, 3);
    assert.equal(c.jobs[1]!.retention.keep, null);
    assert.equal(c.jobs[1]!.retention.days, 7);
  });
});

describe('BACKUP_FILENAME_EXPAND', () => {
  test('expands $VARS in the file name, the symlink name and the pruning prefix', () => {
    const dir = sandbox();
    const archive = join(dir, 'archive');
    mkdirSync(archive);
    const env = {
      APP: 'shop',
      STAGE: 'prod',
      BACKUP_ARCHIVE: archive,
      BACKUP_FILENAME: 'backup-$APP-${STAGE}-%Y.{{ .Extension }}',
      BACKUP_LATEST_SYMLINK: '$APP-latest',
    };
    const j = load(dir, { ...env, BACKUP_FILENAME_EXPAND: 'true' }).jobs[0]!;
    assert.equal(j.archive.filenameTemplate, 'backup-shop-prod-%Y.{{ .Extension }}');
    assert.equal(j.retention.prefix, 'backup-shop-prod-');
    assert.equal(localConfigOf(j)!.latestSymlink, 'shop-latest');
    const k = load(dir, { ...env, BACKUP_FILENAME_EXPAND: 'true', BACKUP_PRUNING_PREFIX: '${APP}-' }).jobs[0]!;
    assert.equal(k.retention.prefix, 'shop-');
  });

  test('without it, $VARS stay as written', () => {
    const dir = sandbox();
    const j = load(dir, { APP: 'shop', BACKUP_FILENAME: 'backup-$APP-%Y.tar', BACKUP_PRUNING_PREFIX: '$APP-' }).jobs[0]!;
    assert.equal(j.archive.filenameTemplate, 'backup-$APP-%Y.tar');
    assert.equal(j.retention.prefix, '$APP-');
  });

  test('conf.d jobs expand from their own environment', () => {
    const dir = sandbox({ 'conf.d/a.env': 'APP=alpha\n', 'conf.d/b.env': 'APP=beta\n' });
    const c = load(dir, { BACKUP_FILENAME_EXPAND: '1', BACKUP_FILENAME: '$APP-%Y.{{ .Extension }}' });
    assert.deepEqual(
      c.jobs.map((j) => j.archive.filenameTemplate),
      ['alpha-%Y.{{ .Extension }}', 'beta-%Y.{{ .Extension }}'],
    );
  });
});

describe('.env file', () => {
  test('fills what the environment leaves unset; the environment wins', () => {
    const dir = sandbox({ '.env': 'BACKUP_RETENTION_DAYS=14\nBACKUP_CRON_EXPRESSION="0 3 * * *"\n# comment\nTZ=Europe/Paris\n' });
    const j = load(dir, { TZ: 'UTC' }).jobs[0]!;
    assert.equal(j.retention.days, 14);
    assert.equal(j.schedule.cron, '0 3 * * *');
    assert.equal(j.schedule.timezone, 'UTC');
  });

  test('OFFSITE_DOTENV names another file; a missing one is an error', () => {
    const dir = sandbox({ 'other.env': 'BACKUP_RETENTION_DAYS=3\n' });
    assert.equal(load(dir, { OFFSITE_DOTENV: 'other.env' }).jobs[0]!.retention.days, 3);
    const issues = issuesOf(() => load(dir, { OFFSITE_DOTENV: 'missing.env' }));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.variable, 'OFFSITE_DOTENV');
    assert.match(issues[0]!.message, /missing\.env does not exist/);
  });
});

describe('X_FILE', () => {
  test('reads the value from the file, trimming one trailing newline (LF or CRLF)', () => {
    const dir = sandbox({ days: '21\n', prefix: 'pre-\r\n', cron: '0 4 * * *' });
    const j = load(dir, {
      BACKUP_RETENTION_DAYS_FILE: join(dir, 'days'),
      BACKUP_PRUNING_PREFIX_FILE: join(dir, 'prefix'),
      BACKUP_CRON_EXPRESSION_FILE: join(dir, 'cron'),
    }).jobs[0]!;
    assert.equal(j.retention.days, 21);
    assert.equal(j.retention.prefix, 'pre-');
    assert.equal(j.schedule.cron, '0 4 * * *');
    assert.equal(j.env.BACKUP_RETENTION_DAYS, '21');
    assert.equal(j.env.BACKUP_RETENTION_DAYS_FILE, undefined);
  });

  test('only one newline is trimmed', () => {
    const dir = sandbox({ prefix: 'pre-\n\n' });
    assert.equal(load(dir, { BACKUP_PRUNING_PREFIX_FILE: join(dir, 'prefix') }).jobs[0]!.retention.prefix, 'pre-\n');
  });

  test('X and X_FILE both set is an error naming X_FILE', () => {
    const dir = sandbox({ days: '21\n' });
    const issues = issuesOf(() => load(dir, { BACKUP_RETENTION_DAYS: '7', BACKUP_RETENTION_DAYS_FILE: join(dir, 'days') }));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.variable, 'BACKUP_RETENTION_DAYS_FILE');
    assert.match(issues[0]!.message, /both BACKUP_RETENTION_DAYS and BACKUP_RETENTION_DAYS_FILE are set/);
  });

  test('a missing or unreadable file is an error naming X_FILE and the path', () => {
    const dir = sandbox();
    let issues = issuesOf(() => load(dir, { TZ_FILE: join(dir, 'nope') }));
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['TZ_FILE'],
    );
    assert.match(issues[0]!.message, new RegExp(`${join(dir, 'nope')} does not exist`));
    issues = issuesOf(() => load(dir, { TZ_FILE: dir }));
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['TZ_FILE'],
    );
    assert.match(issues[0]!.message, /is a directory/);
  });

  test('X_FILE can come from the .env file', () => {
    const dir = sandbox({ tz: 'Asia/Tokyo\n' });
    writeFileSync(join(dir, '.env'), `TZ_FILE=${join(dir, 'tz')}\n`);
    assert.equal(load(dir).jobs[0]!.schedule.timezone, 'Asia/Tokyo');
  });

  test('_FILE of an unknown variable is left alone', () => {
    const j = load(sandbox(), { SOMETHING_ELSE_FILE: '/nonexistent' }).jobs[0]!;
    assert.equal(j.env.SOMETHING_ELSE_FILE, '/nonexistent');
  });
});

describe('conf.d jobs', () => {
  test('one job per file, sorted, each overriding the global environment', () => {
    const dir = sandbox({
      'conf.d/b-hourly.env': 'BACKUP_CRON_EXPRESSION=@hourly\nBACKUP_FILENAME=hourly-%H.{{ .Extension }}\n',
      'conf.d/a-daily.env': 'BACKUP_RETENTION_DAYS=30\n',
      'conf.d/.hidden.env': 'BACKUP_CRON_EXPRESSION=broken\n',
    });
    const c = load(dir, { BACKUP_CRON_EXPRESSION: '0 1 * * *', TZ: 'Europe/Berlin', BACKUP_RETENTION_DAYS: '7' });
    assert.deepEqual(
      c.jobs.map((j) => j.name),
      ['a-daily', 'b-hourly'],
    );
    const [a, b] = c.jobs;
    assert.equal(a!.source, join(dir, 'conf.d', 'a-daily.env'));
    assert.equal(a!.schedule.cron, '0 1 * * *');
    assert.equal(a!.retention.days, 30);
    assert.equal(b!.schedule.cron, '@hourly');
    assert.equal(b!.retention.days, 7);
    assert.equal(b!.retention.prefix, 'hourly-');
    assert.equal(a!.schedule.timezone, 'Europe/Berlin');
    assert.equal(b!.schedule.timezone, 'Europe/Berlin');
  });

  test('a file setting X overrides an inherited X_FILE, and X_FILE overrides an inherited X', () => {
    const dir = sandbox({ 'days-a': '10\n', 'days-b': '20\n' });
    writeFileSync(join(dir, 'conf.d', 'one.env'), 'BACKUP_RETENTION_DAYS=5\n');
    writeFileSync(join(dir, 'conf.d', 'two.env'), `BACKUP_RETENTION_DAYS_FILE=${join(dir, 'days-b')}\n`);
    const c = load(dir, { BACKUP_RETENTION_DAYS_FILE: join(dir, 'days-a') });
    assert.deepEqual(
      c.jobs.map((j) => j.retention.days),
      [5, 20],
    );
    const d = load(dir, { BACKUP_RETENTION_DAYS: '3' });
    assert.deepEqual(
      d.jobs.map((j) => j.retention.days),
      [5, 20],
    );
  });

  test("a problem in one file names the variable and the file, and other files' problems are reported too", () => {
    const dir = sandbox({ 'conf.d/a.env': 'BACKUP_RETENTION_DAYS=many\n', 'conf.d/b.env': 'TZ=Nowhere/Land\n' });
    const issues = issuesOf(() => load(dir));
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['BACKUP_RETENTION_DAYS', 'TZ'],
    );
    assert.match(issues[0]!.message, new RegExp(`in ${join(dir, 'conf.d', 'a.env')}`));
    assert.match(issues[1]!.message, new RegExp(`in ${join(dir, 'conf.d', 'b.env')}`));
  });

  test('two files giving the same job name are an error', () => {
    const dir = sandbox({ 'conf.d/x.env': '', 'conf.d/x.conf': '' });
    const issues = issuesOf(() => load(dir));
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.message, /two conf\.d files give the job name "x"/);
  });

  test('an empty conf.d means one job from the environment; a missing OFFSITE_CONF_DIR is an error', () => {
    const dir = sandbox();
    assert.deepEqual(
      load(dir).jobs.map((j) => j.name),
      ['default'],
    );
    const issues = issuesOf(() => load(dir, { OFFSITE_CONF_DIR: join(dir, 'nope') }));
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['OFFSITE_CONF_DIR'],
    );
  });
});

describe('every issue at once', () => {
  test('all problems of all sections come in one ConfigError', () => {
    const dir = sandbox();
    const issues = issuesOf(() =>
      load(dir, {
        BACKUP_CRON_EXPRESSION: 'every day',
        BACKUP_COMPRESSION: 'xz',
        GZIP_PARALLELISM: '-3',
        TZ: 'Mars/Base',
        BACKUP_SOURCES: 'relative',
        LOG_LEVEL: 'loud',
        LOCK_TIMEOUT: '1d',
        BACKUP_TMP_DIR_FILE: join(dir, 'missing'),
      }),
    );
    assert.deepEqual(issues.map((i) => i.variable).sort(), [
      'BACKUP_COMPRESSION',
      'BACKUP_CRON_EXPRESSION',
      'BACKUP_SOURCES',
      'BACKUP_TMP_DIR_FILE',
      'GZIP_PARALLELISM',
      'LOCK_TIMEOUT',
      'LOG_LEVEL',
      'TZ',
    ]);
    for (const i of issues) assert.ok(i.message.length > 10, `${i.variable}: ${i.message}`);
  });
});
