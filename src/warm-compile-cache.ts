/**
 * Fills Node's compile cache (NODE_COMPILE_CACHE) at image build time, so the first start
 * of a fresh container neither type-strips the TypeScript sources nor compiles the
 * dependencies again: `node src/warm-compile-cache.ts` (the Dockerfile runs it with the
 * image's NODE_COMPILE_CACHE). Loads every module under src/ (none runs anything on import;
 * the archive worker's entry is left out) and every production dependency's entry point
 * (the SDKs that are loaded lazily at run time), then writes the cache. Failing to load
 * an optional piece only makes it a little slower the first time: nothing here is fatal.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { flushCompileCache, getCompileCacheDir } from 'node:module';

const SRC = dirname(fileURLToPath(import.meta.url));
/** Entry points of worker threads: they run on import. */
const SKIP = new Set(['warm-compile-cache.ts', join('archive', 'tar-worker.ts')]);

function tsFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? join(rel, e.name) : e.name;
    if (e.isDirectory()) out.push(...tsFiles(dir, r));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !SKIP.has(r)) out.push(r);
  }
  return out;
}

if (!getCompileCacheDir()) {
  process.stderr.write('warm-compile-cache: NODE_COMPILE_CACHE is not set: nothing to warm\n');
  process.exit(0);
}
let loaded = 0;
const failed: string[] = [];
for (const f of tsFiles(SRC).sort()) {
  try {
    await import(pathToFileURL(join(SRC, f)).href);
    loaded++;
  } catch (e) {
    failed.push(`${f}: ${(e as Error).message}`);
  }
}
const pkg = JSON.parse(readFileSync(join(SRC, '..', 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
for (const name of Object.keys(pkg.dependencies ?? {})) {
  try {
    await import(name);
    loaded++;
  } catch (e) {
    failed.push(`${name}: ${(e as Error).message}`);
  }
}
flushCompileCache();
process.stdout.write(`warm-compile-cache: ${loaded} modules loaded into ${getCompileCacheDir()}${failed.length ? `; not loaded: ${failed.join('; ')}` : ''}\n`);
process.exit(0);
