// Bounded reads of user-named files and the quoting of values in configuration errors.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { ConfigError, quote } from '../../src/errors.ts';
import { MAX_CONFIG_FILE_BYTES } from '../../src/config/files.ts';
import { isolatedEnv, runCli } from '../helpers/cli.ts';

let root: string;
let n = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'offsite-input-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function sandbox(): string {
  const dir = join(root, `s${++n}`);
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  return dir;
}

function issuesOf(dir: string, env: Record<string, string>): Array<{ variable: string; message: string }> {
  try {
    loadConfig({ env: { OFFSITE_CONF_DIR: join(dir, 'conf.d'), OFFSITE_DOTENV: '/dev/null', ...env }, cwd: dir });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('X_FILE, .env and conf.d files are read bounded', () => {
  test('X_FILE=/dev/zero is refused at once, naming the variable', () => {
    const t = Date.now();
    const issues = issuesOf(sandbox(), { WEBDAV_PASSWORD_FILE: '/dev/zero' });
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['WEBDAV_PASSWORD_FILE'],
    );
    assert.match(issues[0]!.message, /is a character device, not a regular file/);
    assert.ok(Date.now() - t < 5000);
  });

  test('X_FILE at a FIFO does not hang start-up', () => {
    const dir = sandbox();
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const issues = issuesOf(dir, { GPG_PASSPHRASE_FILE: join(dir, 'pipe') });
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['GPG_PASSPHRASE_FILE'],
    );
    assert.match(issues[0]!.message, /is a FIFO \(named pipe\), not a regular file/);
  });

  test('X_FILE larger than 1 MiB is refused with its size', () => {
    const dir = sandbox();
    writeFileSync(join(dir, 'big'), Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1, 'a'));
    writeFileSync(join(dir, 'ok'), Buffer.alloc(MAX_CONFIG_FILE_BYTES - 10, 'a'));
    const issues = issuesOf(dir, { AWS_SECRET_ACCESS_KEY_FILE: join(dir, 'big'), WEBDAV_PASSWORD_FILE: join(dir, 'ok'), BACKUP_COMPRESSION: 'rar' });
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['AWS_SECRET_ACCESS_KEY_FILE', 'BACKUP_COMPRESSION']);
    assert.match(issues.find((i) => i.variable === 'AWS_SECRET_ACCESS_KEY_FILE')!.message, /is larger than 1 MiB \(1048577 bytes\)/);
  });

  test('a .env file that is a FIFO or too large is refused, naming OFFSITE_DOTENV', () => {
    const dir = sandbox();
    execFileSync('mkfifo', [join(dir, 'env.pipe')]);
    const issues = issuesOf(dir, { OFFSITE_DOTENV: join(dir, 'env.pipe') });
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['OFFSITE_DOTENV'],
    );
    assert.match(issues[0]!.message, /FIFO/);
    writeFileSync(join(dir, 'big.env'), `A=${'x'.repeat(MAX_CONFIG_FILE_BYTES)}\n`);
    assert.match(issuesOf(dir, { OFFSITE_DOTENV: join(dir, 'big.env') })[0]!.message, /larger than 1 MiB/);
  });

  test('a conf.d file larger than 1 MiB is refused, naming the file', () => {
    const dir = sandbox();
    writeFileSync(join(dir, 'conf.d', 'huge.env'), `BACKUP_FILENAME=${'x'.repeat(MAX_CONFIG_FILE_BYTES)}\n`);
    const issues = issuesOf(dir, {});
    assert.equal(issues.length, 1);
    assert.ok(issues[0]!.variable.endsWith('huge.env'));
    assert.match(issues[0]!.message, /larger than 1 MiB/);
  });

  test('a notification template that is a FIFO does not hang start-up', () => {
    const dir = sandbox();
    mkdirSync(join(dir, 'templates'));
    execFileSync('mkfifo', [join(dir, 'templates', 'title_failure.hbs')]);
    const issues = issuesOf(dir, { NOTIFICATION_TEMPLATES_DIR: join(dir, 'templates') });
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['NOTIFICATION_TEMPLATES_DIR'],
    );
    assert.match(issues[0]!.message, /FIFO/);
  });

  test('/dev/null reads as empty (OFFSITE_DOTENV=/dev/null: no .env file)', () => {
    const dir = sandbox();
    const c = loadConfig({ env: { OFFSITE_CONF_DIR: join(dir, 'conf.d'), OFFSITE_DOTENV: '/dev/null' }, cwd: dir });
    assert.equal(c.jobs.length, 1);
  });
});

describe('values quoted in errors are cut and escaped', () => {
  test('quote(): 80 characters, then the full size; control characters escaped JSON-style', () => {
    assert.equal(quote('abc'), '"abc"');
    assert.equal(quote('a\nb\x1b[31mc\x07'), '"a\\nb\\x1b[31mc\\u0007"');
    assert.equal(quote('x'.repeat(200)), `"${'x'.repeat(80)}"… (200 bytes)`);
    assert.equal(quote('\u202eevil'), '"\\u202eevil"');
  });

  test('a 10 MiB value with control characters is cut and escaped in the error', () => {
    const dir = sandbox();
    const huge = `\x1b[2J\n${'9'.repeat(10 * 1024 * 1024)}`;
    const issues = issuesOf(dir, { BACKUP_CRON_EXPRESSION: huge, TZ: 'Nowhere\r\n\x1b]0;pwned\x07', BACKUP_EXCLUDE_REGEXP: `(${'a'.repeat(5000)}` });
    const all = issues.map((i) => i.message).join('\n');
    assert.ok(all.length < 2000, `messages are ${all.length} characters`);
    assert.doesNotMatch(all, /[\x00-\x08\x0b-\x1f\x7f]/);
    const cron = issues.find((i) => i.variable === 'BACKUP_CRON_EXPRESSION')!.message;
    assert.ok(cron.startsWith('"\\x1b[2J\\n999'), cron);
    assert.match(cron, /… \(10485765 bytes\)/);
    assert.match(issues.find((i) => i.variable === 'TZ')!.message, /"Nowhere\\r\\n\\x1b\]0;pwned\\u0007"/);
  });

  test('the CLI prints the cut, escaped value, one line per issue', () => {
    const { env } = isolatedEnv({ BACKUP_COMPRESSION: `\x1b[31mred\n${'z'.repeat(100_000)}` }); // one environment string may hold at most 128 KiB
    const r = runCli(['config'], env);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.length < 1000, `stderr is ${r.stderr.length} bytes`);
    assert.doesNotMatch(r.stderr, /\x1b/);
    assert.match(r.stderr, /^ {2}BACKUP_COMPRESSION: "\\x1b\[31mred\\nzzz+"… \(100009 bytes\) is not one of gz, zst, none$/m);
  });
});
