import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const SRC = join(import.meta.dirname, '..', '..', 'src');

/** The modules a fresh process resolves when it imports `modules` (in order). */
function resolvedBy(modules: string[]): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.push(r.url); return r; } });
    for (const m of ${JSON.stringify(modules.map((m) => pathToFileURL(join(SRC, m)).href))}) await import(m);
    process.stdout.write(JSON.stringify(seen));
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
}

test("the archive and restore modules load neither tar-stream nor the worker's modules into the main thread until used", () => {
  const seen = resolvedBy(['archive/index.ts', 'archive/extract.ts', 'restore/index.ts']);
  assert.ok(
    seen.some((u) => u.endsWith('/archive/create.ts')),
    'the modules were loaded',
  );
  assert.deepEqual(
    seen.filter((u) => /node_modules\/tar-stream\//.test(u)),
    [],
    'tar-stream is loaded only by extraction or the worker',
  );
  assert.deepEqual(
    seen.filter((u) => /\/archive\/(tar-worker|tar|walk)\.ts$/.test(u)),
    [],
    "the worker's modules stay in the worker",
  );
});

test("loading the command's modules does not load Node's bundled undici (node:http's ES module facade would)", () => {
  const modules = ['cli.ts', 'destinations/describe.ts', 'proxy.ts', 'containers/docker.ts'].map((m) => pathToFileURL(join(SRC, m)).href);
  const script = `
    for (const m of ${JSON.stringify(modules)}) await import(m);
    process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));
  `;
  const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
  assert.deepEqual(loaded, []);
});

test("loading the command's modules loads neither node:http, node:https (with tls) nor node:child_process: each is loaded by its first use", () => {
  const modules = ['main.ts', 'cli.ts', 'destinations/describe.ts', 'proxy.ts', 'containers/docker.ts', 'containers/command.ts'].map(
    (m) => pathToFileURL(join(SRC, m)).href,
  );
  const script = `
    const before = new Set(process.moduleLoadList);
    for (const m of ${JSON.stringify(modules)}) await import(m);
    process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m))));
  `;
  const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
  assert.ok(loaded.includes('NativeModule net'), 'the modules were loaded');
  assert.deepEqual(
    loaded.filter((m) => /^NativeModule (http|https|tls|child_process|dgram)$/.test(m)),
    [],
  );
});

test("the command's start loads no other command's modules (restore and the read commands, prune, the daemon)", () => {
  const seen = resolvedBy(['main.ts', 'cli.ts']);
  assert.ok(
    seen.some((u) => u.endsWith('/run/backup.ts')),
    'the modules were loaded',
  );
  assert.deepEqual(
    seen.filter((u) => /\/(restore\/commands|retention\/command|schedule\/daemon|archive\/extract)\.ts$/.test(u)),
    [],
  );
});

test('re2js (BACKUP_EXCLUDE_REGEXP) is loaded only when a pattern is compiled', () => {
  assert.deepEqual(
    resolvedBy(['cli.ts', 'config/index.ts', 'archive/exclude.ts']).filter((u) => /node_modules\/re2js\//.test(u)),
    [],
  );
});
