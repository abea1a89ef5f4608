// Variables offsite does not read: a warning naming the nearest known name, a
// configuration error with OFFSITE_STRICT=true; docker-volume-backup names offsite
// does not implement are "not supported", never "did you mean".
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, knownVariables } from '../../src/config/index.ts';
import { prefixesOf, nearestKnown, unknownVariables } from '../../src/config/known.ts';
import { ConfigError } from '../../src/errors.ts';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

let root: string;
let n = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'offsite-unknown-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function sandbox(files: Record<string, string> = {}): string {
  const dir = join(root, `s${++n}`);
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  for (const [rel, text] of Object.entries(files)) writeFileSync(join(dir, rel), text);
  return dir;
}

function warningsOf(env: Record<string, string>, files: Record<string, string> = {}): string[] {
  const dir = sandbox(files);
  const config = loadConfig({
    env: { OFFSITE_CONF_DIR: join(dir, 'conf.d'), OFFSITE_DOTENV: files['.env'] ? join(dir, '.env') : '/dev/null', ...env },
    cwd: dir,
  });
  return config.warnings.map((w) => `${w.variable} ${w.message}`);
}

describe('unknown variables', () => {
  test('the known list is collected from the sections and gives the prefixes', () => {
    const known = knownVariables();
    for (const v of [
      'BACKUP_CRON_EXPRESSION',
      'AWS_S3_BUCKET_NAME',
      'NOTIFICATION_URLS',
      'SSH_KNOWN_HOSTS',
      'DROPBOX_APP_KEY',
      'GPG_PUBLIC_KEY_RING',
      'OFFSITE_STRICT',
      'OFFSITE_CONF_DIR',
      'VERIFY_CRON_EXPRESSION',
    ]) {
      assert.ok(known.has(v), v);
    }
    const prefixes = prefixesOf(known);
    for (const p of [
      'BACKUP_',
      'AWS_',
      'AZURE_',
      'WEBDAV_',
      'SSH_',
      'DROPBOX_',
      'GPG_',
      'AGE_',
      'NOTIFICATION_',
      'OFFSITE_',
      'GZIP_',
      'EXEC_',
      'DOCKER_',
      'EMAIL_',
    ]) {
      assert.ok(prefixes.includes(p), p);
    }
  });

  test("the issue's typos are named with the nearest known name", () => {
    const w = warningsOf({ BACKUP_CRON_EXPRESION: '*/5 * * * *', BACKUP_RETENTON_DAYS: '7', AWS_S3_BUCKET: 'foo', NOTIFICATION_URL: 'slack://x' });
    assert.deepEqual(w.sort(), [
      'AWS_S3_BUCKET is not a variable offsite reads: did you mean AWS_S3_BUCKET_NAME?',
      'BACKUP_CRON_EXPRESION is not a variable offsite reads: did you mean BACKUP_CRON_EXPRESSION?',
      'BACKUP_RETENTON_DAYS is not a variable offsite reads: did you mean BACKUP_RETENTION_DAYS?',
      'NOTIFICATION_URL is not a variable offsite reads: did you mean NOTIFICATION_URLS?',
    ]);
  });

  test('X_FILE forms: known X is fine, a misspelt X is suggested with _FILE', () => {
    const dir = sandbox({ secret: 'pw\n' });
    const w = warningsOf({ WEBDAV_PASSWORD_FILE: join(dir, 'secret'), WEBDAV_PASWORD_FILE: join(dir, 'secret') });
    assert.deepEqual(w, ['WEBDAV_PASWORD_FILE is not a variable offsite reads: did you mean WEBDAV_PASSWORD_FILE?']);
  });

  test('lower case names are suggested in upper case', () => {
    assert.equal(nearestKnown('backup_sources', [...knownVariables()]), 'BACKUP_SOURCES');
  });

  test('docker-volume-backup variables offsite does not implement are "not supported", not typos', () => {
    const sources = [{ where: 'environment', names: ['OFFEN_ONLY_THING', 'OFFEN_ONLY_THING_FILE'] }];
    const w = unknownVariables(sources, knownVariables(), new Set(), { OFFEN_ONLY_THING: 'that feature is not implemented' }).map(
      (i) => `${i.variable} ${i.message}`,
    );
    assert.equal(w.length, 2, w.join('\n'));
    for (const line of w) {
      assert.match(line, /is a docker-volume-backup variable not supported by offsite: that feature is not implemented/);
      assert.doesNotMatch(line, /did you mean/);
    }
    // Google Drive's variables are read now (the destination exists): no warning
    assert.deepEqual(warningsOf({ GOOGLE_DRIVE_FOLDER_ID: 'x', GOOGLE_DRIVE_TEAM_DRIVE_ID: 'y' }), []);
    // deprecated names offsite does read are not reported as unknown
    assert.deepEqual(warningsOf({ BACKUP_STOP_CONTAINER_LABEL: 'x', BACKUP_FROM_SNAPSHOT: 'false', DOCKER_API_VERSION: '1.41' }), []);
  });

  test('names of other software are left alone: other prefixes, SDK and shell variables', () => {
    assert.deepEqual(
      warningsOf({
        HOME: '/root',
        HTTP_PROXY: 'http://p',
        NODE_OPTIONS: '',
        AWS_PROFILE: 'p',
        AWS_SESSION_TOKEN: 't',
        AZURE_CLIENT_ID: 'c',
        SSH_AUTH_SOCK: '/tmp/s',
        DOCKER_CONFIG: '/x',
        TZ: 'UTC',
      }),
      [],
    );
  });

  test('names in the .env file and in conf.d files are checked and say where', () => {
    const w = warningsOf({}, { '.env': 'BACKUP_JITER=5m\n', 'conf.d/nightly.env': 'BACKUP_SOURCE=/data\n' });
    assert.equal(w.length, 2, w.join('\n'));
    assert.ok(
      w.some((l) => l.startsWith('BACKUP_JITER is not a variable offsite reads: did you mean BACKUP_JITTER? (in ') && l.endsWith('.env)')),
      w.join('\n'),
    );
    assert.ok(
      w.some((l) => l.startsWith('BACKUP_SOURCE is not a variable offsite reads: did you mean BACKUP_SOURCES? (in ') && l.includes('nightly.env')),
      w.join('\n'),
    );
  });

  test('OFFSITE_STRICT=true makes each one a configuration error naming it', () => {
    const dir = sandbox();
    let err: unknown;
    try {
      loadConfig({
        env: {
          OFFSITE_CONF_DIR: join(dir, 'conf.d'),
          OFFSITE_DOTENV: '/dev/null',
          OFFSITE_STRICT: 'true',
          BACKUP_CRON_EXPRESION: '@hourly',
          AWS_S3_BUKET_NAME: 'x',
        },
        cwd: dir,
      });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.issues.map((i) => i.variable).sort(), ['AWS_S3_BUKET_NAME', 'BACKUP_CRON_EXPRESION']);
    assert.match(err.issues.find((i) => i.variable === 'BACKUP_CRON_EXPRESION')!.message, /did you mean BACKUP_CRON_EXPRESSION\?/);
  });
});

describe('unknown variables, the CLI', () => {
  test('`backup` warns and still runs; with OFFSITE_STRICT=true it exits 2 before anything starts', () => {
    const { dir, env } = isolatedEnv();
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'a.txt'), 'a');
    mkdirSync(join(dir, 'archive'));
    const base = { ...env, BACKUP_SOURCES: join(dir, 'src'), BACKUP_ARCHIVE: join(dir, 'archive'), BACKUP_CRON_EXPRESION: '*/5 * * * *' };
    const r = runCli(['backup'], base);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /BACKUP_CRON_EXPRESION is not a variable offsite reads: did you mean BACKUP_CRON_EXPRESSION\?/);

    const s = runCli(['backup'], { ...base, OFFSITE_STRICT: 'true' });
    assert.equal(s.code, 2, s.stderr);
    assert.match(s.stderr, /^ {2}BACKUP_CRON_EXPRESION: is not a variable offsite reads: did you mean BACKUP_CRON_EXPRESSION\?/m);
    assert.doesNotMatch(s.stdout, /backup started/);
  });

  test('`config` keeps its stdout JSON and puts the warning on stderr', () => {
    const { env } = isolatedEnv({ BACKUP_RETENTON_DAYS: '7' });
    const r = runCli(['config'], env);
    assert.equal(r.code, 0, r.stderr);
    JSON.parse(r.stdout);
    assert.match(r.stderr, /BACKUP_RETENTON_DAYS is not a variable offsite reads: did you mean BACKUP_RETENTION_DAYS\?/);
  });
});
