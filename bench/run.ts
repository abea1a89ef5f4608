/**
 * `npm run bench`: archive speed and memory against GNU tar on the same tree,
 * in the same run. Not a test. Writes bench/results.md.
 *
 *   BENCH_SIZE_MB   corpus size (default 1024; e.g. 128 for a quick run)
 *   BENCH_REPEAT    runs per measurement, the fastest counts (default 2)
 *   BENCH_ONLY      comma-separated section names to run (default: all)
 *   BENCH_COMPILE_CACHE=0  run the archiving child without Node's compile cache
 *   BENCH_DEST_MB   archive size of the `destinations` section (default 4096), see bench/destinations.ts
 *
 * results.md holds the archive report and the destinations report between markers; a run
 * replaces only the reports of the sections it ran (BENCH_ONLY=destinations leaves the
 * archive results alone, and the other way round).
 * The corpus (bench/work/, gitignored) is kept between runs and rebuilt when
 * its size changes. Each section is a function returning table rows; add new
 * sections to SECTIONS.
 */
import * as fs from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { randomFillSync } from 'node:crypto';
import { destinationsSection, destinationsReport, writeRandomFiles, type DestRow } from './destinations.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const WORK = join(BENCH_DIR, 'work');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2));
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const CORES = availableParallelism();
const RSS_TARGET_MIB = 128;
const COMPILE_CACHE = process.env.BENCH_COMPILE_CACHE === '0' ? null : join(WORK, 'compile-cache');
const LOAD_BEFORE = loadavg().map((l) => l.toFixed(2)).join(' ');

interface Corpus {
  root: string;
  /** Top-level source directories of the mixed corpus. */
  sources: string[];
  /** The small-files directory alone. */
  small: string;
  smallFiles: number;
  bytes: number;
}

interface Row {
  section: string;
  case: string;
  oursS: number;
  /** Including the child's start-up. */
  oursWallS: number;
  tarS: number | null;
  /** CPU seconds (user + system, all threads): a measure the machine's other load disturbs less. */
  oursCpuS: number;
  tarCpuS: number | null;
  tarCmd: string;
  target: number | null;
  rssMiB: number;
  size: number;
  tarSize: number | null;
  note?: string;
}

// ---------------------------------------------------------------- corpus

/** Deterministic PRNG (xorshift32), so the text corpus is the same every time. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

const WORDS = ('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua '
  + 'backup volume container archive upload retention schedule notification error warning info debug request response '
  + 'GET POST PUT DELETE 200 201 204 301 404 500 user session token cache database index query table row column').split(' ');

function textChunk(rand: () => number, size: number): Buffer {
  const parts: string[] = [];
  let len = 0;
  while (len < size) {
    const n = 6 + (rand() % 12);
    let line = `2026-01-${String(1 + (rand() % 28)).padStart(2, '0')}T${String(rand() % 24).padStart(2, '0')}:${String(rand() % 60).padStart(2, '0')}:${String(rand() % 60).padStart(2, '0')}Z id=${rand() % 100000}`;
    for (let i = 0; i < n; i++) line += ' ' + WORDS[rand() % WORDS.length];
    line += '\n';
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

function buildCorpus(): Corpus {
  const root = join(WORK, `corpus-${SIZE_MB}mb`);
  const scale = SIZE_MB / 1024;
  const smallFiles = Math.max(1000, Math.round(100_000 * scale));
  const smallBytes = smallFiles * 4096;
  const textBytes = Math.round(SIZE_MB * 1024 * 1024 * 0.4);
  const randomBytes = Math.max(0, SIZE_MB * 1024 * 1024 - smallBytes - textBytes);
  const corpus: Corpus = {
    root, sources: [join(root, 'small'), join(root, 'text'), join(root, 'random')], small: join(root, 'small'),
    smallFiles, bytes: smallBytes + textBytes + randomBytes,
  };
  if (fs.existsSync(join(root, '.complete'))) return corpus;
  for (const d of fs.existsSync(WORK) ? fs.readdirSync(WORK) : []) if (d.startsWith('corpus-')) fs.rmSync(join(WORK, d), { recursive: true, force: true });
  console.log(`building a ${SIZE_MB} MiB corpus in ${root} ...`);
  const rand = prng(42);
  // 4 KiB small files, 1000 per directory: half text, half random-ish
  for (let i = 0; i < smallFiles; i++) {
    const dir = join(root, 'small', `d${String(Math.floor(i / 1000)).padStart(3, '0')}`);
    if (i % 1000 === 0) fs.mkdirSync(dir, { recursive: true });
    const buf = i % 2 === 0 ? textChunk(rand, 4096) : randomFillSync(Buffer.alloc(4096));
    fs.writeFileSync(join(dir, `f${i}.dat`), buf);
  }
  // compressible text in 8 MiB files
  fs.mkdirSync(join(root, 'text'), { recursive: true });
  for (let off = 0, n = 0; off < textBytes; n++) {
    const size = Math.min(8 << 20, textBytes - off);
    const fd = fs.openSync(join(root, 'text', `log-${n}.txt`), 'w');
    for (let w = 0; w < size; w += 1 << 20) fs.writeSync(fd, textChunk(rand, Math.min(1 << 20, size - w)));
    fs.closeSync(fd);
    off += size;
  }
  // incompressible data in 32 MiB files
  fs.mkdirSync(join(root, 'random'), { recursive: true });
  writeRandomFiles(join(root, 'random'), randomBytes, 32 << 20);
  fs.writeFileSync(join(root, '.complete'), '');
  return corpus;
}

// ---------------------------------------------------------------- runners

function spawnTimed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - start;
      if (code === 0) resolve({ ms, stdout });
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`));
    });
  });
}

/** `ms`: createArchive until `done`, inside the child; `wallMs`: including Node's start-up and module loading. */
interface Ours { ms: number; wallMs: number; cpuMs: number; maxRssKiB: number; size: number }

async function ours(sources: string[], compression: 'gz' | 'zst' | 'none', parallelism: number, compileCache = COMPILE_CACHE): Promise<Ours> {
  const out = join(WORK, `out.ours.${compression}`);
  const runs: Ours[] = [];
  const env = { ...process.env };
  delete env.NODE_COMPILE_CACHE;
  if (compileCache) env.NODE_COMPILE_CACHE = compileCache;
  for (let i = 0; i < REPEAT; i++) {
    const { stdout, ms: wallMs } = await spawnTimed(process.execPath, [join(BENCH_DIR, 'archive-child.ts'), JSON.stringify({ sources, compression, parallelism, out })], env);
    runs.push({ ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as Omit<Ours, 'wallMs'>), wallMs });
  }
  fs.rmSync(out, { force: true });
  // fastest run; the highest peak RSS of all runs
  const fastest = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
  return { ...fastest, maxRssKiB: Math.max(...runs.map((r) => r.maxRssKiB)) };
}

/** GNU tar with the same entries (each source by base name, from its parent). */
async function gnuTar(flags: string[], sources: string[]): Promise<{ ms: number; cpuMs: number | null; size: number }> {
  const out = join(WORK, 'out.gnutar');
  const parent = dirname(sources[0]!);
  const names = sources.map((s) => s.slice(parent.length + 1));
  const timeFile = join(WORK, 'time.txt');
  const haveTime = fs.existsSync('/usr/bin/time');
  let best = { ms: Infinity, cpuMs: null as number | null };
  for (let i = 0; i < REPEAT; i++) {
    const args = [...flags, out, '-C', parent, ...names];
    // /usr/bin/time reports the CPU time of tar and its compressor child
    const { ms } = haveTime ? await spawnTimed('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, 'tar', ...args]) : await spawnTimed('tar', args);
    const cpuMs = haveTime ? fs.readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).reduce((a, b) => a + Number(b) * 1000, 0) : null;
    if (ms < best.ms) best = { ms, cpuMs };
  }
  const size = fs.statSync(out).size;
  fs.rmSync(out, { force: true });
  return { ...best, size };
}

async function compare(section: string, label: string, sources: string[], compression: 'gz' | 'zst' | 'none', parallelism: number,
  tarFlags: string[], target: number | null, note?: string, compileCache = COMPILE_CACHE): Promise<Row> {
  console.log(`[${section}] ${label} ...`);
  const o = await ours(sources, compression, parallelism, compileCache);
  const t = await gnuTar(tarFlags, sources);
  const row: Row = {
    section, case: label, oursS: o.ms / 1000, oursWallS: o.wallMs / 1000, tarS: t.ms / 1000,
    oursCpuS: o.cpuMs / 1000, tarCpuS: t.cpuMs === null ? null : t.cpuMs / 1000, tarCmd: `tar ${tarFlags.join(' ')}`, target,
    rssMiB: o.maxRssKiB / 1024, size: o.size, tarSize: t.size, note,
  };
  console.log(`    ours ${row.oursS.toFixed(2)} s (CPU ${row.oursCpuS.toFixed(2)}), GNU tar ${row.tarS!.toFixed(2)} s (CPU ${row.tarCpuS?.toFixed(2) ?? '?'}), ratio ${(row.oursS / row.tarS!).toFixed(2)}, peak RSS ${row.rssMiB.toFixed(0)} MiB`);
  return row;
}

// ---------------------------------------------------------------- sections

type Section = (c: Corpus) => Promise<Row[]>;

const SECTIONS: Record<string, Section> = {
  async gzip(c) {
    return [await compare('gzip', 'gz, 1 thread', c.sources, 'gz', 1, ['-czf'], 1.0)];
  },
  async gzipParallel(c) {
    const rows = [await compare('gzipParallel', `gz, parallelism ${CORES} (all cores)`, c.sources, 'gz', CORES, ['-czf'], CORES === 2 ? 0.6 : null,
      'ratio against single-threaded tar -czf')];
    rows.push(await compare('gzipParallel', `gz, parallelism ${CORES} vs pigz`, c.sources, 'gz', CORES, ['-I', 'pigz', '-cf'], null, 'reference only'));
    return rows;
  },
  async zstd(c) {
    return [await compare('zstd', 'zstd, 1 thread', c.sources, 'zst', 1, ['--zstd', '-cf'], 1.0)];
  },
  async smallFiles(c) {
    return [await compare('smallFiles', `${c.smallFiles} files of 4 KiB, no compression`, [c.small], 'none', 1, ['-cf'], 1.5)];
  },
  async uncompressed(c) {
    return [await compare('uncompressed', 'whole corpus, no compression', c.sources, 'none', 1, ['-cf'], null)];
  },
  async noCompileCache(c) {
    return [await compare('noCompileCache', 'gz, 1 thread, WITHOUT the compile cache', c.sources, 'gz', 1, ['-czf'], null,
      'each isolate type-strips its TypeScript (higher RSS)', null)];
  },
};

// ---------------------------------------------------------------- report

function fmtRatio(r: Row): string {
  return r.tarS ? (r.oursS / r.tarS).toFixed(2) + '×' : '-';
}

function verdict(r: Row): string {
  const parts: string[] = [];
  if (r.target !== null && r.tarS) parts.push(r.oursS / r.tarS <= r.target ? `ok (≤ ${r.target}×)` : `MISSED (target ≤ ${r.target}×)`);
  parts.push(r.rssMiB <= RSS_TARGET_MIB ? 'RSS ok' : `RSS MISSED (≤ ${RSS_TARGET_MIB} MiB)`);
  return parts.join('; ');
}

function report(c: Corpus, rows: Row[]): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# Archive benchmark',
    '',
    `Run ${new Date().toISOString()} (load average before: ${LOAD_BEFORE}) on ${CORES} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${fsVersion()}.`,
    `Corpus: ${(c.bytes / 2 ** 20).toFixed(0)} MiB in bench/work: ${c.smallFiles} files of 4 KiB (half text, half random), 40% compressible text logs in 8 MiB files, the rest random data in 32 MiB files. Page cache warm; fastest of ${REPEAT} runs each; output written to a file on the same disk.`,
    `Peak RSS is the archiving child process's maxRSS (process.resourceUsage()), target ≤ ${RSS_TARGET_MIB} MiB. ${COMPILE_CACHE ? 'The child runs with Node\'s compile cache (NODE_COMPILE_CACHE, warmed first), as the daemon should (see the notes below); the noCompileCache row shows the difference.' : 'The child runs WITHOUT Node\'s compile cache.'}`,
    '',
    '"ours" is createArchive() until `done` inside the child process (what a running daemon spends); "with start-up" adds Node\'s start-up and loading the TypeScript modules, paid once per daemon. The ratio uses "ours".',
    '',
    '| case | ours (s) | with start-up (s) | GNU tar (s) | ratio | CPU s ours / tar | peak RSS (MiB) | output (MiB) ours / tar | verdict |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map((r) => `| ${r.case} (vs \`${r.tarCmd}\`)${r.note ? ` — ${r.note}` : ''} | ${r.oursS.toFixed(2)} | ${r.oursWallS.toFixed(2)} | ${r.tarS?.toFixed(2) ?? '-'} | ${fmtRatio(r)} | ${r.oursCpuS.toFixed(2)} / ${r.tarCpuS?.toFixed(2) ?? '-'} | ${r.rssMiB.toFixed(0)} | ${(r.size / 2 ** 20).toFixed(1)} / ${r.tarSize === null ? '-' : (r.tarSize / 2 ** 20).toFixed(1)} | ${verdict(r)} |`),
    '',
  ];
  return lines.join('\n');
}

function fsVersion(): string {
  try {
    return fs.readFileSync('/proc/version', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return process.platform;
  }
}

const ARCHIVE_START = '<!-- bench:archive -->';
const ARCHIVE_END = '<!-- /bench:archive -->';
const DEST_START = '<!-- bench:destinations -->';
const DEST_END = '<!-- /bench:destinations -->';

function between(text: string, start: string, end: string): string | null {
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  return i >= 0 && j > i ? text.slice(i + start.length, j).trim() : null;
}

/** results.md: archive report, destinations report, notes; each report kept from the previous file when not rerun. */
function writeResults(archiveMd: string | null, destMd: string | null): void {
  const file = join(BENCH_DIR, 'results.md');
  const notesFile = join(BENCH_DIR, 'notes.md');
  const notes = fs.existsSync(notesFile) ? fs.readFileSync(notesFile, 'utf8') : '';
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  let oldArchive = between(old, ARCHIVE_START, ARCHIVE_END);
  if (oldArchive === null && old && !old.includes(DEST_START)) {
    // a file from before the markers: the archive report followed by the notes
    oldArchive = (notes && old.endsWith(notes) ? old.slice(0, old.length - notes.length) : old).trim();
  }
  const archive = archiveMd ?? oldArchive;
  const dest = destMd ?? between(old, DEST_START, DEST_END);
  const parts: string[] = [];
  if (archive) parts.push(`${ARCHIVE_START}\n${archive.trim()}\n${ARCHIVE_END}\n`);
  if (dest) parts.push(`${DEST_START}\n${dest.trim()}\n${DEST_END}\n`);
  fs.writeFileSync(file, parts.join('\n') + (notes ? '\n' + notes : ''));
}

async function main(): Promise<void> {
  fs.mkdirSync(WORK, { recursive: true });
  const archiveSections = Object.keys(SECTIONS).filter((n) => !ONLY || ONLY.has(n));
  let archiveMd: string | null = null;
  if (archiveSections.length > 0) {
    const corpus = buildCorpus();
    // warm the page cache for every contender alike, and Node's compile cache
    await spawnTimed('sh', ['-c', `tar -cf - -C '${corpus.root}' . | cat > /dev/null`]);
    if (COMPILE_CACHE) {
      const tiny = join(WORK, 'tiny');
      fs.mkdirSync(tiny, { recursive: true });
      fs.writeFileSync(join(tiny, 'a'), 'a');
      await ours([tiny], 'gz', 2);
    }
    const loadStart = loadavg()[0]!;
    const rows: Row[] = [];
    for (const name of archiveSections) rows.push(...(await SECTIONS[name]!(corpus)));
    archiveMd = report(corpus, rows) + `\nLoad average (1 min) at the start of the measurements: ${loadStart.toFixed(2)}, at the end: ${loadavg()[0]!.toFixed(2)} (${CORES} cores; other sessions share this machine).\n`;
    console.log('\n' + archiveMd);
  }
  let destMd: string | null = null;
  if (!ONLY || ONLY.has('destinations')) {
    const loadStart = loadavg()[0]!;
    const rows: DestRow[] = await destinationsSection(join(WORK, 'destinations'), COMPILE_CACHE);
    const machine = `${CORES} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${fsVersion()}`;
    destMd = destinationsReport(rows, machine) + `\nLoad average (1 min) at the start: ${loadStart.toFixed(2)}, at the end: ${loadavg()[0]!.toFixed(2)} (${CORES} cores; other sessions share this machine).\n`;
    console.log('\n' + destMd);
  }
  writeResults(archiveMd, destMd);
}

await main();
