import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isolatedEnv } from '../helpers/cli.ts';
import { commandArgs, makesArchive } from '../../src/command-args.ts';
import { resolveChunk } from '../../src/chunk-resolve.ts';

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

test("the bundle's chunk imports resolve to the file next to the importer, without Node's resolution; anything else goes to Node", () => {
  const nexts: string[] = [];
  const next = (specifier: string) => {
    nexts.push(specifier);
    return { url: 'node:next' };
  };
  const parent = 'file:///opt/offsite/dist/chunk-ABC234.mjs';
  assert.deepEqual(resolveChunk('./chunk-XYZ567.mjs', { parentURL: parent, conditions: [], importAttributes: {} }, next), {
    url: 'file:///opt/offsite/dist/chunk-XYZ567.mjs',
    format: 'module',
    shortCircuit: true,
  });
  assert.deepEqual(nexts, []);
  for (const [specifier, parentURL] of [
    ['./cli.ts', 'file:///work/src/main.ts'],
    ['../chunk-XYZ567.mjs', parent],
    ['./chunk-XYZ567.mjs.map', parent],
    ['chunk-XYZ567.mjs', parent],
    ['./chunk-XYZ567.mjs', undefined],
    ['./chunk-XYZ567.mjs', 'data:text/javascript,'],
    ['node:fs', parent],
  ] as const) {
    assert.deepEqual(
      resolveChunk(specifier, { parentURL, conditions: [], importAttributes: {} }, next),
      { url: 'node:next' },
      `${specifier} from ${parentURL}`,
    );
  }
  assert.equal(nexts.length, 7);
  // the names it matches are the bundle's
  const bundle = readFileSync(new URL('../../scripts/bundle.ts', import.meta.url), 'utf8');
  assert.match(bundle, /chunkNames: 'chunk-\[hash\]'/);
  assert.match(bundle, /outExtension: \{ '\.js': '\.mjs' \}/);
});
