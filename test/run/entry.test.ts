import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isolatedEnv } from '../helpers/cli.ts';
import { commandArgs, defersOptimizingCompiler, makesArchive } from '../../src/command-args.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

test("the command line: offen's `backup` name, and which commands make an archive", () => {
  assert.deepEqual(commandArgs(['node', '/usr/local/bin/offsite', 'backup', '--job', 'a']), ['backup', '--job', 'a']);
  assert.deepEqual(commandArgs(['node', '/usr/local/bin/backup']), ['backup']);
  assert.deepEqual(commandArgs(['node', '/usr/local/bin/backup', 'print-config']), ['backup', 'print-config']);
  assert.equal(makesArchive(['backup']), true);
  assert.equal(makesArchive(['backup', '--job', 'a']), true);
  assert.equal(makesArchive(['backup', '--stdout']), true);
  for (const args of [['backup', 'print-config'], ['backup', '--help'], ['backup', '-h'], ['config'], ['daemon'], ['restore', 'latest'], []])
    assert.equal(makesArchive(args), false, args.join(' '));
  assert.equal(defersOptimizingCompiler(['daemon']), true);
  for (const args of [['daemon', '--help'], ['backup'], ['config'], []]) assert.equal(defersOptimizingCompiler(args), false, args.join(' '));
});

test('TurboFan deferred (src/jit.ts): a hot function is not optimized by it until allowed again', () => {
  const jit = new URL('../../src/jit.ts', import.meta.url).href;
  const script = `
    import { deferOptimizingCompiler, allowOptimizingCompiler } from ${JSON.stringify(jit)};
    const hot = (s) => { let h = 0; for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0; return h; };
    const spin = () => { let x = 0; const end = Date.now() + 300; while (Date.now() < end) for (let i = 0; i < 1000; i++) x ^= hot('abcdefghijklmnop' + i); return x; };
    new Function('f', '%NeverOptimizeFunction(f)')(spin); // so that hot is not inlined into it
    const turbofanned = () => (new Function('f', 'return %GetOptimizationStatus(f)')(hot) & (1 << 6)) !== 0;
    deferOptimizingCompiler(); spin(); const before = turbofanned();
    allowOptimizingCompiler(); spin(); const after = turbofanned();
    console.log(JSON.stringify({ before, after }));`;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { before: false, after: true });
});

// A preload that records, in order, the archive worker's creation and the loading of cli.ts.
const PRELOAD = `
import { registerHooks, syncBuiltinESMExports } from 'node:module';
import wt from 'node:worker_threads';
import { writeSync } from 'node:fs';
if (wt.isMainThread) {
  const Base = wt.Worker;
  wt.Worker = class extends Base { constructor(...a) { writeSync(2, 'EVENT worker\\n'); super(...a); } };
  syncBuiltinESMExports();
  registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); if (r.url.endsWith('/src/cli.ts')) writeSync(2, 'EVENT cli.ts\\n'); return r; } });
}
`;

test("`offsite backup` starts its archive worker before the command's modules load, and the run takes it", () => {
  const { dir, env } = isolatedEnv();
  const data = join(dir, 'data');
  mkdirSync(data);
  mkdirSync(join(dir, 'archive'));
  writeFileSync(join(data, 'a.txt'), 'a');
  const preload = join(dir, 'preload.mjs');
  writeFileSync(preload, PRELOAD);
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', preload, MAIN, ...args], {
      env: { ...env, BACKUP_SOURCES: data, BACKUP_ARCHIVE: join(dir, 'archive') },
      encoding: 'utf8',
      timeout: 120_000,
    });
  const events = (stderr: string) =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('EVENT '))
      .map((l) => l.slice(6));

  const r = run(['backup']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // one worker, created before cli.ts was loaded, and taken by the archive (no second worker)
  assert.deepEqual(events(r.stderr), ['worker', 'cli.ts']);
  assert.match(r.stdout, /"msg":"backup finished"/);
  assert.equal(readdirSync(join(dir, 'archive')).filter((n) => n.endsWith('.tar.gz')).length, 1);

  // other commands start no worker
  const v = run(['config']);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.deepEqual(events(v.stderr), ['cli.ts']);
});

test('`offsite daemon` starts without TurboFan and allows it again once started (its destination checks done)', async () => {
  const { dir, env } = isolatedEnv();
  const data = join(dir, 'data');
  mkdirSync(data);
  mkdirSync(join(dir, 'archive'));
  const preload = join(dir, 'preload.mjs');
  // records V8 flag changes and the loading of cli.ts, in order
  writeFileSync(
    preload,
    PRELOAD +
      `import v8 from 'node:v8';
const setFlags = v8.setFlagsFromString;
v8.setFlagsFromString = (f) => { writeSync(2, 'EVENT ' + f + '\\n'); setFlags(f); };
syncBuiltinESMExports();
`,
  );
  const child = spawn(process.execPath, ['--import', preload, MAIN, 'daemon'], {
    env: { ...env, BACKUP_SOURCES: data, BACKUP_ARCHIVE: join(dir, 'archive'), BACKUP_CRON_EXPRESSION: '0 3 1 1 *' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  try {
    const end = Date.now() + 120_000;
    while (!(out.includes('destination check passed') && err.includes('EVENT --turbo-filter=*'))) {
      assert.ok(Date.now() < end && child.exitCode === null, `the daemon did not start and allow TurboFan\n${out}${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill('SIGTERM');
  }
  const events = err
    .split('\n')
    .filter((l) => l.startsWith('EVENT '))
    .map((l) => l.slice(6));
  assert.deepEqual(events, ['--turbo-filter=~', 'cli.ts', '--turbo-filter=*']);
});
