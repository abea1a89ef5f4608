/**
 * `npm run bundle [outdir]`: the production code as ESM files for the image (the checkout keeps
 * running the .ts sources; nothing here is needed to run or test them). esbuild bundles the
 * sources and every production dependency into `dist/` (default):
 *
 * - `offsite.mjs`: the command (src/main.ts, which loads src/cli.ts), with a `#!/usr/bin/env node` line;
 * - `tar-worker.mjs`: the archive worker thread (src/archive/tar-worker.ts);
 * - `restore-worker.mjs`: the restore's file writer thread (src/archive/restore-worker.ts);
 * - `vendor-<name>.mjs`: each library loaded on first use through src/lazy.ts (openpgp,
 *   nodemailer, dockerode, ...), required synchronously like the package itself;
 * - `chunk-*.mjs`: code shared between those, and every `await import()` of a destination's SDK
 *   (AWS, Azure, Google, WebDAV, SFTP, Dropbox): a process loads only what it uses;
 * - `warm-compile-cache.mjs`: loads every file above (the worker threads too: outside a worker
 *   thread their modules do nothing, and the first backup of a new container then finds them
 *   compiled) and fills NODE_COMPILE_CACHE; it exits 1 when a file fails to load, so a broken bundle fails the
 *   image build instead of the first backup that needs that file.
 *
 * A few places find files next to the source at run time; they are rewritten for the bundle
 * (REWRITES below; the build fails when one no longer matches its source). Native add-ons are
 * optional in every dependency that has one (ssh2's crypto binding, cpu-features) and are left out:
 * those libraries fall back to their JavaScript code.
 */
import { build, type Plugin } from 'esbuild';
import { chmodSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = resolve(process.argv[2] ?? join(ROOT, 'dist'));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The file name a library loaded through src/lazy.ts gets in the bundle (the same expression is in lazy.ts's rewrite). */
const vendorFile = (name: string): string => `vendor-${name.replace(/[^a-zA-Z0-9.-]/g, '_')}`;

/** Source text replaced in the bundle: [file under src/, text, replacement]. Each must match exactly once. */
const REWRITES: [string, string, string][] = [
  // the version is read from package.json next to the sources; the image has no package.json
  ['cli.ts', `readFileSync(new URL('../package.json', import.meta.url), 'utf8')`, JSON.stringify(JSON.stringify({ version: VERSION }))],
  ['manifest/index.ts', `readFileSync(new URL('../../package.json', import.meta.url), 'utf8')`, JSON.stringify(JSON.stringify({ version: VERSION }))],
  // the worker is its own entry point
  ['archive/spare.ts', `new URL('./tar-worker.ts', import.meta.url)`, `new URL('./tar-worker.mjs', import.meta.url)`],
  ['archive/restore-writer.ts', `new URL('./restore-worker.ts', import.meta.url)`, `new URL('./restore-worker.mjs', import.meta.url)`],
  // tar-stream's header encoder, found by path at run time (its exports map hides it): bundled
  ['archive/tar.ts', `const require = createRequire(import.meta.url);`, ''],
  ['archive/tar.ts', `require(join(dirname(require.resolve('tar-stream')), 'headers.js'))`, `require('tar-stream/headers.js')`],
  // and its decoder, for extraction
  ['archive/untar.ts', `const require = createRequire(import.meta.url);`, ''],
  ['archive/untar.ts', `require(join(dirname(require.resolve('tar-stream')), 'headers.js'))`, `require('tar-stream/headers.js')`],
  // libraries loaded on first use: their own bundle files (vendor-<name>.mjs), required synchronously
  ['lazy.ts', `load(name)`, "load(`./vendor-${name.replace(/[^a-zA-Z0-9.-]/g, '_')}.mjs`)"],
];

/** Every library src/ loads through lazy('<name>'). */
function lazyLibraries(): string[] {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/\blazy(?:<[^>]*>)?\(\s*'([^']+)'\s*\)/g)) names.add(m[1]!);
    }
  };
  walk(join(ROOT, 'src'));
  return [...names].sort();
}

const applied = new Map<number, number>();
const sources: Plugin = {
  name: 'offsite-sources',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const rel = relative(join(ROOT, 'src'), args.path);
      let text = readFileSync(args.path, 'utf8');
      REWRITES.forEach(([file, from, to], i) => {
        if (file !== rel) return;
        const at = text.indexOf(from);
        if (at < 0 || text.indexOf(from, at + 1) >= 0)
          throw new Error(`bundle: src/${file} no longer contains exactly one \`${from}\` (update scripts/bundle.ts)`);
        text = text.slice(0, at) + to + text.slice(at + from.length);
        applied.set(i, (applied.get(i) ?? 0) + 1);
      });
      return { contents: text, loader: 'ts' };
    });
    // `await import('<CommonJS package>')` (from src/ or from a dependency): Node gives the named
    // exports its CommonJS lexer finds (S3Client, BlobServiceClient, HttpsProxyAgent, ...); an
    // esbuild chunk of a CommonJS module exports only `default`. A module in between exports the
    // names Node gives (read from Node's own namespace of the same file here), so the code gets
    // the same object either way (`require` gives module.exports, which Node's `default` is).
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.kind !== 'dynamic-import' || args.path.startsWith('node:') || (args.pluginData as { inner?: boolean } | undefined)?.inner) return undefined;
      const r = await b.resolve(args.path, { kind: 'dynamic-import', resolveDir: args.resolveDir, importer: args.importer, pluginData: { inner: true } });
      if (r.errors.length || r.external || !r.path.includes('/node_modules/')) return undefined;
      let ns: Record<string, unknown>;
      try {
        ns = (await import(pathToFileURL(r.path).href)) as Record<string, unknown>;
      } catch {
        return undefined; // an ES module written for bundlers (imports without extensions): esbuild's chunk has its exports
      }
      if (!('module.exports' in ns)) return undefined; // an ES module: esbuild's chunk has its exports
      return { path: r.path, namespace: 'offsite-cjs', pluginData: Object.keys(ns).filter((k) => k !== 'default' && k !== 'module.exports') };
    });
    b.onLoad({ filter: /.*/, namespace: 'offsite-cjs' }, (args) => {
      const names = args.pluginData as string[];
      const lines = [`const m = require(${JSON.stringify(args.path)});`, 'export default m;'];
      names.forEach((n, i) => lines.push(`const e${i} = m[${JSON.stringify(n)}];`, `export { e${i} as ${JSON.stringify(n)} };`));
      return { contents: lines.join('\n'), resolveDir: ROOT, loader: 'js' };
    });
    b.onResolve({ filter: /^tar-stream\/headers\.js$/ }, () => ({ path: join(ROOT, 'node_modules', 'tar-stream', 'headers.js') }));
    // a lazily loaded library: `require(name)` exported as the module's `module.exports`, so
    // requiring the file returns what requiring the package returns
    b.onResolve({ filter: /^offsite-vendor:/ }, (args) => ({ path: args.path.slice('offsite-vendor:'.length), namespace: 'offsite-vendor' }));
    b.onLoad({ filter: /.*/, namespace: 'offsite-vendor' }, (args) => ({
      contents: `const m = require(${JSON.stringify(args.path)});\nexport { m as 'module.exports' };\n`,
      resolveDir: ROOT,
      loader: 'js',
    }));
  },
};

// CommonJS dependencies inside an ES module: require() of Node's built-ins (esbuild's __require calls
// the `require` in scope); __dirname and __filename are `define`d below
const BANNER = [`import { createRequire as __offsiteCreateRequire } from 'node:module';`, `const require = __offsiteCreateRequire(import.meta.url);`].join(
  '\n',
);

/** dist/warm-compile-cache.mjs: fills NODE_COMPILE_CACHE from the bundle (the Dockerfile runs it) and fails when a file does not load. */
const WARM = `// Written by scripts/bundle.ts. Loads every file of this bundle (the entry and the worker threads
// do nothing when imported): fills NODE_COMPILE_CACHE when it is set, and exits 1 when a file fails to load.
import { readdirSync } from 'node:fs';
import { flushCompileCache, getCompileCacheDir } from 'node:module';
const dir = new URL('.', import.meta.url);
const skip = new Set(['warm-compile-cache.mjs']);
const failed = [];
let loaded = 0;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.mjs') && !skip.has(f)).sort()) {
  try {
    await import(new URL(f, dir).href);
    loaded++;
  } catch (e) {
    failed.push(f + ': ' + (e && e.message));
  }
}
if (getCompileCacheDir()) flushCompileCache();
process.stdout.write('warm-compile-cache: ' + loaded + ' bundle files loaded' + (getCompileCacheDir() ? ' into ' + getCompileCacheDir() : '') + '\\n');
if (failed.length) {
  process.stderr.write('warm-compile-cache: the bundle is broken, not loaded: ' + failed.join('; ') + '\\n');
  process.exit(1);
}
process.exit(0);
`;

const lazy = lazyLibraries();
if (lazy.length === 0) throw new Error('bundle: found no lazy(...) library in src/ (update scripts/bundle.ts)');
rmSync(OUT, { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: [
    { in: 'src/main.ts', out: 'offsite' },
    { in: 'src/archive/tar-worker.ts', out: 'tar-worker' },
    { in: 'src/archive/restore-worker.ts', out: 'restore-worker' },
    ...lazy.map((name) => ({ in: `offsite-vendor:${name}`, out: vendorFile(name) })),
  ],
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  outExtension: { '.js': '.mjs' },
  // src/chunk-resolve.ts resolves `./chunk-<hash>.mjs` imports by this name
  chunkNames: 'chunk-[hash]',
  banner: { js: BANNER },
  // only where a module does not declare its own
  define: { __dirname: 'import.meta.dirname', __filename: 'import.meta.filename' },
  // optional native add-ons (each library falls back to JavaScript without them)
  external: ['*.node', 'cpu-features'],
  // keep class and function names: errors and logs name them
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  plugins: [sources],
});
const missing = REWRITES.filter((_, i) => !applied.has(i)).map(([file, from]) => `src/${file}: ${from}`);
if (missing.length) throw new Error(`bundle: rewrites not applied (file no longer bundled?): ${missing.join('; ')}`);

// the entry's first line is `#!/usr/bin/env node` (from src/main.ts): make it executable
const entry = join(OUT, 'offsite.mjs');
if (!readFileSync(entry, 'utf8').startsWith('#!')) throw new Error('bundle: offsite.mjs lost its #! line');
writeFileSync(join(OUT, 'warm-compile-cache.mjs'), WARM);
chmodSync(entry, 0o755);

let bytes = 0;
const files = readdirSync(OUT);
for (const f of files) bytes += statSync(join(OUT, f)).size;
process.stdout.write(
  `bundle: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB in ${OUT} (lazy libraries: ${lazy.join(', ')}; ${Object.keys(result.metafile.inputs).length} inputs)\n`,
);
