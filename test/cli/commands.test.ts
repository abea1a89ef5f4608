/**
 * The command line as a user meets it: --help on every command does nothing else,
 * mistakes are usage errors (exit 5) with a "did you mean", `backup --job` runs one
 * job, and a reader that closes the pipe early ends the command quietly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { CLI, isolatedEnv, runCli } from '../helpers/cli.ts';
import { COMMANDS, editDistance, nearest } from '../../src/cli-spec.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A job with one source file and an empty archive directory. */
function setup() {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'a.txt'), 'hello\n');
  mkdirSync(join(dir, 'archive'));
  const all: Record<string, string> = { ...env, BACKUP_SOURCES: join(dir, 'src'), BACKUP_ARCHIVE: join(dir, 'archive') };
  return { dir, archiveDir: join(dir, 'archive'), env: all };
}

test('every command has --help that prints its usage and does nothing else', () => {
  const { dir, archiveDir, env } = setup();
  for (const c of COMMANDS) {
    for (const flag of c.name === 'daemon' ? ['--help', '-h'] : ['--help']) {
      const r = runCli([c.name, flag], env);
      assert.equal(r.code, 0, `${c.name} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: offsite ${c.name}\\b`), `${c.name} ${flag}`);
      assert.match(r.stdout, /-h, --help/);
      assert.equal(r.stderr, '', `${c.name} ${flag}`);
    }
  }
  // nothing was backed up, no daemon ran (it writes the health file), no lock taken
  assert.deepEqual(readdirSync(archiveDir), []);
  assert.equal(existsSync(env.OFFSITE_HEALTH_FILE!), false);
  assert.equal(existsSync(join(dir, 'offsite.lock')), false);
  // --help wins over other arguments, even wrong ones
  const r = runCli(['backup', '--job', 'x', '--help', '--dry-run'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(archiveDir), []);
  // help COMMAND is the same text
  assert.equal(runCli(['help', 'restore'], env).stdout, runCli(['restore', '--help'], env).stdout);
});

test('the usage lists every command of the table', () => {
  const { env } = setup();
  const r = runCli(['help'], env);
  assert.equal(r.code, 0);
  for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c.name} +\\S`, 'm'), c.name);
  const none = runCli([], env);
  assert.equal(none.code, 5);
  assert.match(none.stderr, /Usage: offsite <command>/);
});

test('unknown options are usage errors with the nearest option, and nothing runs', () => {
  const { archiveDir, env } = setup();
  const dry = runCli(['backup', '--dry-run'], env);
  assert.equal(dry.code, 5, dry.stderr);
  assert.match(dry.stderr, /^error: backup: unknown option --dry-run\nhint: backup takes --job, --stdout, --key, --help/);
  assert.deepEqual(readdirSync(archiveDir), [], 'backup --dry-run made a backup');

  for (const [args, near] of [
    [['list', '--jsn'], '--json'],
    [['list', '--josn'], '--json'],
    [['verify', '--JSON'], '--json'],
    [['list', '--destinaton', 'x'], '--destination'],
    [['restore', '--to', '/tmp/x', '--inclde', 'a'], '--include'],
  ] as const) {
    const r = runCli([...args], env);
    assert.equal(r.code, 5, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`unknown option ${args.find((a) => a.startsWith('--') && a !== '--to')}.*\\(did you mean ${near}\\?\\)`), args.join(' '));
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  }
  const d = runCli(['daemon', '--once'], env);
  assert.equal(d.code, 5);
  assert.match(d.stderr, /daemon takes no options/);
  assert.equal(existsSync(env.OFFSITE_HEALTH_FILE!), false, 'the daemon started');
  const extra = runCli(['backup', 'now'], env);
  assert.equal(extra.code, 5);
  assert.match(extra.stderr, /backup takes no arguments, got "now"/);
  const missing = runCli(['restore', 'latest', '--to'], env);
  assert.equal(missing.code, 5);
  assert.match(missing.stderr, /--to/);
  assert.deepEqual(readdirSync(archiveDir), []);
});

test('unknown commands are usage errors with the nearest command', () => {
  const { env } = setup();
  for (const [word, near] of [
    ['bakcup', 'backup'],
    ['lsit', 'list'],
    ['restor', 'restore'],
    ['notify', 'notify-test'],
    ['health', 'healthcheck'],
  ]) {
    const r = runCli([word!], env);
    assert.equal(r.code, 5, word);
    assert.match(r.stderr, new RegExp(`unknown command "${word}" \\(did you mean ${near}\\?\\)`), r.stderr);
  }
  const r = runCli(['frobnicate'], env);
  assert.equal(r.code, 5);
  assert.match(r.stderr, /unknown command "frobnicate"\nhint: commands: daemon, backup,/);
  assert.doesNotMatch(r.stderr, /did you mean/);
  const opt = runCli(['--json', 'list'], env);
  assert.equal(opt.code, 5);
  assert.match(opt.stderr, /options come after the command/);
});

test('restore without --to is a usage error', () => {
  const { env } = setup();
  const r = runCli(['restore', 'latest'], env);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /restore needs --to DIR/);
});

test('backup --job NAME runs only that conf.d job; an unknown job is a usage error naming the jobs', () => {
  const { dir, env } = setup();
  for (const name of ['nightly', 'hourly']) {
    mkdirSync(join(dir, `archive-${name}`));
    writeFileSync(join(dir, 'conf.d', `${name}.env`), `BACKUP_ARCHIVE=${join(dir, `archive-${name}`)}\n`);
  }
  const r = runCli(['backup', '--job', 'hourly'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(readdirSync(join(dir, 'archive-hourly')).filter((n) => n.endsWith('.tar.gz')).length, 1);
  assert.deepEqual(readdirSync(join(dir, 'archive-nightly')), [], 'backup --job hourly also ran nightly');

  const bad = runCli(['backup', '--job', 'weekly'], env);
  assert.equal(bad.code, 5);
  assert.match(bad.stderr, /--job weekly: no such job\nhint: jobs: hourly, nightly/);
  assert.deepEqual(readdirSync(join(dir, 'archive-nightly')), []);
  assert.equal(readdirSync(join(dir, 'archive-hourly')).filter((n) => n.endsWith('.tar.gz')).length, 1);
});

/** Runs the CLI with its stdout a pipe whose reading end is closed before the CLI writes. */
async function withClosedStdout(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  return { code, signal, stderr };
}

test('a closed stdout pipe (offsite list | head -1) ends the command quietly', async () => {
  const { env } = setup();
  for (let i = 0; i < 3; i++) assert.equal(runCli(['backup'], { ...env, BACKUP_FILENAME: `backup-${i}.tar.gz` }).code, 0);
  for (const args of [['list'], ['config'], ['help']]) {
    const r = await withClosedStdout(args, env);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE|^\s+at /m, args.join(' '));
    assert.equal(r.stderr, '', args.join(' '));
  }
  // a backup goes on when its log reader goes away
  const b = await withClosedStdout(['backup'], { ...env, BACKUP_FILENAME: 'after-close.tar.gz' });
  assert.equal(b.code, 0, b.stderr);
  assert.ok(existsSync(join(env.BACKUP_ARCHIVE!, 'after-close.tar.gz')));
});

test('nearest: typos within a third of the length, prefixes', () => {
  assert.equal(editDistance('josn', 'json'), 1);
  assert.equal(editDistance('jsn', 'json'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(nearest('josn', ['json', 'job']), 'json');
  assert.equal(nearest('dest', ['destination', 'json']), 'destination');
  assert.equal(nearest('dry-run', ['job', 'help']), undefined);
  assert.equal(nearest('x', ['job', 'help']), undefined);
});

test('README documents every command and option of the table', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Commands'), readme.indexOf('### Exit codes'));
  assert.ok(section.length > 100, 'README has no Commands section');
  for (const c of COMMANDS) {
    assert.match(section, new RegExp(`\\| \`${c.name}[\` ]|/ \`${c.name}[\` ]`), `README's commands table lacks ${c.name}`);
    for (const o of Object.keys(c.options ?? {})) assert.ok(section.includes(`--${o}`), `README's Commands section lacks --${o} (${c.name})`);
  }
});
