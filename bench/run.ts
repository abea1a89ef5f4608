/**
 * `npm run bench`: whole `offsite` processes, as a user times them, against tar, pigz and zstd
 * on the same tree, alternating in the same run. Not a test. Writes bench/results.md.
 *
 *   BENCH_SIZE_MB   corpus size (default 613, the issue's corpus: 50,000 files of 4 KiB, 160 MiB
 *                   of text logs, 256 MiB random; smaller sizes scale every part, e.g. 150)
 *   BENCH_REPEAT    runs per measurement; ours and the reference alternate, medians count (default 3)
 *   BENCH_ONLY      comma-separated case names to run (default: all; see CASES and `destinations`)
 *   BENCH_COMPILE_CACHE=0  run offsite without Node's compile cache (the image sets one)
 *   BENCH_NODE_OPTIONS  NODE_OPTIONS of every offsite process (default: the Dockerfile's, --max-semi-space-size=1)
 *   BENCH_MALLOC_ARENA_MAX  MALLOC_ARENA_MAX of every offsite process (default: the Dockerfile's, 1)
 *   BENCH_ENTRY     `bundle` (default: what the image runs, `npm run bundle` into bench/work/dist)
 *                   or `source` (`node src/cli.ts`, a checkout); the `fixed` and `daemon` cases
 *                   always measure both, alternating
 *   BENCH_DEST_MB   archive size of the `destinations` section (default 4096), see bench/destinations.ts
 *
 * Every offsite number is a whole process: `offsite backup|restore|config|daemon` started
 * as the image starts it (NODE_ENV=production, NODE_COMPILE_CACHE, UV_THREADPOOL_SIZE=8), timed
 * with /usr/bin/time (wall, user + system CPU of the process and its children, peak RSS), exactly
 * as the reference `tar` commands are.
 *
 * results.md holds this report and the destinations report between markers; a run replaces only
 * the reports of the sections it ran. The corpus (bench/work/, gitignored) is kept between runs
 * and rebuilt when its size changes.
 */
import * as fs from 'node:fs';
import { basename, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { randomFillSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { destinationsSection, destinationsReport, writeRandomFiles, type DestRow } from './destinations.ts';
import { sidecarName } from '../src/manifest/index.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO = join(BENCH_DIR, '..');
const SOURCE_CLI = join(REPO, 'src', 'cli.ts');
const BUNDLE_DIR = join(BENCH_DIR, 'work', 'dist');
const BUNDLE_CLI = join(BUNDLE_DIR, 'offsite.mjs');
const ENTRY = process.env.BENCH_ENTRY === 'source' ? 'source' : 'bundle';
/** What the backup, restore and destination cases run: the image's bundle (built by main()) or the sources. */
const CLI = ENTRY === 'bundle' ? BUNDLE_CLI : SOURCE_CLI;
const ENTRIES: [string, string][] = [
  ['bundle', BUNDLE_CLI],
  ['sources', SOURCE_CLI],
];
const WORK = join(BENCH_DIR, 'work');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 613);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const CORES = availableParallelism();
const COMPILE_CACHE = process.env.BENCH_COMPILE_CACHE === '0' ? null : join(WORK, 'compile-cache');
const TIME = '/usr/bin/time';
/** NODE_OPTIONS as the Dockerfile sets it (BENCH_NODE_OPTIONS to compare another value; empty for none). */
const NODE_OPTIONS = process.env.BENCH_NODE_OPTIONS ?? '--max-semi-space-size=1';
/** MALLOC_ARENA_MAX as the Dockerfile sets it (BENCH_MALLOC_ARENA_MAX to compare; empty for glibc's default). */
const MALLOC_ARENA_MAX = process.env.BENCH_MALLOC_ARENA_MAX ?? '1';

interface Corpus {
  root: string;
  /** Top-level source directories of the mixed corpus. */
  sources: string[];
  /** The small-files directory alone. */
  small: string;
  smallFiles: number;
  bytes: number;
}

// ---------------------------------------------------------------- corpus

/** Deterministic PRNG (xorshift32), so the text corpus is the same every time. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ' +
  'backup volume container archive upload retention schedule notification error warning info debug request response ' +
  'GET POST PUT DELETE 200 201 204 301 404 500 user session token cache database index query table row column'
).split(' ');

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
  // the issue's corpus at 613 MiB: 50,000 files of 4 KiB (200 MiB), 160 MiB of text logs, 256 MiB random
  const scale = SIZE_MB / 613;
  const smallFiles = Math.max(1000, Math.round(50_000 * scale));
  const smallBytes = smallFiles * 4096;
  const textBytes = Math.round(160 * scale * 2 ** 20);
  const randomBytes = Math.max(0, SIZE_MB * 2 ** 20 - smallBytes - textBytes);
  const corpus: Corpus = {
    root,
    sources: [join(root, 'small'), join(root, 'text'), join(root, 'random')],
    small: join(root, 'small'),
    smallFiles,
    bytes: smallBytes + textBytes + randomBytes,
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

interface Measured {
  wallS: number;
  cpuS: number;
  rssMiB: number;
  stdout: string;
}

/** One process under /usr/bin/time: wall seconds, user + system CPU (with its children), peak RSS. */
function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Measured> {
  const timeFile = join(WORK, `time-${process.pid}.txt`);
  return new Promise((resolve, reject) => {
    const child = spawn(TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}\n${out.slice(-3000)}`));
      const [wallS, userS, sysS, rssKiB] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(/\s+/).map(Number) as [
        number,
        number,
        number,
        number,
      ];
      resolve({ wallS, cpuS: userS + sysS, rssMiB: rssKiB / 1024, stdout: out });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The environment the image gives offsite (Dockerfile), with a throwaway conf dir. */
function offsiteEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const conf = join(WORK, 'conf');
  fs.mkdirSync(join(conf, 'conf.d'), { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    UV_THREADPOOL_SIZE: '8',
    NODE_OPTIONS: NODE_OPTIONS,
    MALLOC_ARENA_MAX: MALLOC_ARENA_MAX,
    ...(COMPILE_CACHE ? { NODE_COMPILE_CACHE: COMPILE_CACHE } : {}),
    OFFSITE_CONF_DIR: join(conf, 'conf.d'),
    OFFSITE_LOCK_FILE: join(conf, 'lock'),
    OFFSITE_HEALTH_FILE: join(conf, 'health.json'),
    // the bench's own run history (emptied at its start), not /var/lib/offsite's: every backup reads and
    // rewrites it, and one shared with other processes (850 runs, 385 KB) cost each backup 20-40 ms CPU
    OFFSITE_STATE_DIR: join(conf, 'state'),
    OFFSITE_DOTENV: '/dev/null',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    BACKUP_TMP_DIR: join(WORK, 'tmp'),
    ...extra,
  };
}

function freshDir(path: string): string {
  fs.rmSync(path, { recursive: true, force: true });
  fs.mkdirSync(path, { recursive: true });
  return path;
}

/** `offsite backup` of `sources` into a fresh local directory; returns the measurement and the archive's path. */
async function offsiteBackup(sources: string[], compression: string, parallelism: number, cli = CLI): Promise<Measured & { archive: string; size: number }> {
  const dest = freshDir(join(WORK, 'archive'));
  freshDir(join(WORK, 'tmp'));
  const m = await timed(process.execPath, [cli, 'backup'], {
    env: offsiteEnv({ BACKUP_SOURCES: sources.join(','), BACKUP_ARCHIVE: dest, BACKUP_COMPRESSION: compression, GZIP_PARALLELISM: String(parallelism) }),
  });
  const names = fs.readdirSync(dest).filter((n) => !n.startsWith('.') && !n.endsWith('.manifest.json'));
  if (names.length !== 1) throw new Error(`offsite backup left ${names.length} files in ${dest}: ${names.join(', ')}\n${m.stdout.slice(-3000)}`);
  const archive = join(dest, names[0]!);
  return { ...m, archive, size: fs.statSync(archive).size };
}

/** GNU tar with the same entries (each source by base name, from its parent). */
async function gnuTar(flags: string[], sources: string[]): Promise<Measured & { size: number }> {
  const out = join(WORK, 'out.gnutar');
  const parent = dirname(sources[0]!);
  const names = sources.map((s) => s.slice(parent.length + 1));
  const m = await timed('tar', [...flags, out, '-C', parent, ...names]);
  const size = fs.statSync(out).size;
  fs.rmSync(out, { force: true });
  return { ...m, size };
}

interface Stat {
  wallS: number;
  cpuS: number;
  rssMiB: number;
  runs: number[];
}
function summarize(ms: Measured[]): Stat {
  return {
    wallS: median(ms.map((m) => m.wallS)),
    cpuS: median(ms.map((m) => m.cpuS)),
    rssMiB: Math.max(...ms.map((m) => m.rssMiB)),
    runs: ms.map((m) => m.wallS),
  };
}

interface Row {
  id: string;
  label: string;
  ours: Stat;
  ref: Stat | null;
  refCmd: string;
  /** Target ratio ours/ref, or null. */
  target: number | null;
  oursSize?: number;
  refSize?: number;
  load: number;
  note?: string;
}

function logRow(r: Row): void {
  const ratio = r.ref
    ? ` ratio ${(r.ours.wallS / r.ref.wallS).toFixed(2)}x (runs ${r.ours.runs.map((x) => x.toFixed(2)).join('/')} vs ${r.ref.runs.map((x) => x.toFixed(2)).join('/')})`
    : '';
  console.log(
    `    offsite ${r.ours.wallS.toFixed(2)} s CPU ${r.ours.cpuS.toFixed(2)} RSS ${r.ours.rssMiB.toFixed(0)} MiB${r.ref ? `; ${r.refCmd} ${r.ref.wallS.toFixed(2)} s CPU ${r.ref.cpuS.toFixed(2)}` : ''}${ratio}; load ${r.load.toFixed(2)}`,
  );
}

/** offsite backup and a tar command, alternating, REPEAT times each. */
async function backupVsTar(
  id: string,
  label: string,
  sources: string[],
  compression: string,
  parallelism: number,
  tarFlags: string[],
  target: number | null,
): Promise<Row> {
  console.log(`[${id}] ${label} ...`);
  const ours: Measured[] = [];
  const ref: Measured[] = [];
  let oursSize = 0;
  let refSize = 0;
  for (let i = 0; i < REPEAT; i++) {
    const o = await offsiteBackup(sources, compression, parallelism);
    ours.push(o);
    oursSize = o.size;
    const t = await gnuTar(tarFlags, sources);
    ref.push(t);
    refSize = t.size;
  }
  const row: Row = {
    id,
    label,
    ours: summarize(ours),
    ref: summarize(ref),
    refCmd: `tar ${tarFlags.map((f) => (f.includes(' ') ? `'${f}'` : f)).join(' ')}`,
    target,
    oursSize,
    refSize,
    load: loadavg()[0]!,
  };
  logRow(row);
  return row;
}

let gzArchive: string | null = null;

/** Keep P1's archive and its sidecar (restore checks one against the other) under their own names for the restore case. */
function keepForRestore(o: { archive: string }): string {
  const dir = freshDir(join(WORK, 'restore-input'));
  const kept = join(dir, basename(o.archive));
  fs.renameSync(o.archive, kept);
  fs.renameSync(sidecarName(o.archive), sidecarName(kept));
  return kept;
}

type Case = (c: Corpus) => Promise<Row[]>;

const CASES: Record<string, Case> = {
  async gz1(c) {
    const row = await backupVsTar('P1', 'gz, GZIP_PARALLELISM=1', c.sources, 'gz', 1, ['-czf'], 1.0);
    // keep one archive for the restore case
    gzArchive = keepForRestore(await offsiteBackup(c.sources, 'gz', 1));
    return [row];
  },
  async gzAll(c) {
    return [await backupVsTar('P2', `gz, GZIP_PARALLELISM=0 (${CORES} cores)`, c.sources, 'gz', 0, ['-I', 'pigz', '-cf'], 1.0)];
  },
  async zst1(c) {
    return [await backupVsTar('P3', 'zst, GZIP_PARALLELISM=1', c.sources, 'zst', 1, ['--zstd', '-cf'], 1.0)];
  },
  async zstAll(c) {
    return [await backupVsTar('P3', `zst, GZIP_PARALLELISM=0 (${CORES} cores)`, c.sources, 'zst', 0, ['-I', 'zstd -T0', '-cf'], 1.0)];
  },
  async small(c) {
    return [
      await backupVsTar(
        'P4',
        `none, the ${c.smallFiles} small files (${((c.smallFiles * 4096) / 2 ** 20).toFixed(0)} MiB)`,
        [c.small],
        'none',
        1,
        ['-cf'],
        1.5,
      ),
    ];
  },
  async none(c) {
    return [await backupVsTar('-', 'none, whole corpus', c.sources, 'none', 1, ['-cf'], null)];
  },
  async restore(c) {
    if (!gzArchive || !fs.existsSync(gzArchive)) {
      gzArchive = keepForRestore(await offsiteBackup(c.sources, 'gz', 1));
    }
    console.log('[P8] restore of the gz archive ...');
    const ours: Measured[] = [];
    const ref: Measured[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const dest = freshDir(join(WORK, 'archive'));
      // the archive and its sidecar, as offsite stored them: restore checks the archive's SHA-256 against the sidecar
      for (const f of [gzArchive, sidecarName(gzArchive)]) fs.copyFileSync(f, join(dest, basename(f)));
      const to = join(WORK, 'restored');
      fs.rmSync(to, { recursive: true, force: true });
      ours.push(
        await timed(process.execPath, [CLI, 'restore', 'latest', '--to', to], {
          env: offsiteEnv({ BACKUP_SOURCES: c.sources.join(','), BACKUP_ARCHIVE: dest }),
        }),
      );
      const tarTo = freshDir(join(WORK, 'restored-tar'));
      ref.push(await timed('tar', ['-xzf', gzArchive, '-C', tarTo]));
    }
    fs.rmSync(join(WORK, 'restored'), { recursive: true, force: true });
    fs.rmSync(join(WORK, 'restored-tar'), { recursive: true, force: true });
    const row: Row = {
      id: 'P8',
      label: "restore of P1's archive",
      ours: summarize(ours),
      ref: summarize(ref),
      refCmd: 'tar -xzf',
      target: 1.1,
      load: loadavg()[0]!,
    };
    logRow(row);
    return [row];
  },
  async fixed() {
    const rows: Row[] = [];
    // one tiny file: an empty source is reported as a warning (exit 4)
    const empty = freshDir(join(WORK, 'empty', 'data'));
    fs.writeFileSync(join(empty, 'a'), 'a');
    console.log('[fixed] offsite config, backup of a one-file directory ...');
    const cfg = new Map<string, Measured[]>(ENTRIES.map(([name]) => [name, []]));
    const emp = new Map<string, Measured[]>(ENTRIES.map(([name]) => [name, []]));
    for (let i = 0; i < REPEAT; i++) {
      for (const [name, cli] of ENTRIES) {
        cfg.get(name)!.push(await timed(process.execPath, [cli, 'config'], { env: offsiteEnv({ BACKUP_SOURCES: empty }) }));
        emp.get(name)!.push(await offsiteBackup([empty], 'gz', 1, cli));
      }
    }
    for (const [name] of ENTRIES) {
      rows.push({ id: '-', label: `\`offsite config\` (${name})`, ours: summarize(cfg.get(name)!), ref: null, refCmd: '', target: null, load: loadavg()[0]! });
      rows.push({
        id: 'P9',
        label: `backup of a directory with one 1-byte file (${name})`,
        ours: summarize(emp.get(name)!),
        ref: null,
        refCmd: '',
        target: null,
        load: loadavg()[0]!,
      });
    }
    rows.forEach(logRow);
    return rows;
  },
  async daemon() {
    console.log('[P9] daemon: start until "job scheduled", idle RSS ...');
    const empty = freshDir(join(WORK, 'empty', 'data'));
    const starts = new Map<string, number[]>(ENTRIES.map(([name]) => [name, []]));
    const rss = new Map<string, number[]>(ENTRIES.map(([name]) => [name, []]));
    for (let i = 0; i < REPEAT; i++) {
      for (const [name, cli] of ENTRIES) {
        const r = await idleDaemon(empty, cli);
        starts.get(name)!.push(r.startS);
        rss.get(name)!.push(r.rssMiB);
      }
    }
    const rows = ENTRIES.map(([name]): Row => ({
      id: 'P9',
      label: `daemon (${name}), local destination: start until "job scheduled" (s) / RSS idle 3 s after (MiB)`,
      ours: { wallS: median(starts.get(name)!), cpuS: NaN, rssMiB: Math.max(...rss.get(name)!), runs: starts.get(name)! },
      ref: null,
      refCmd: '',
      target: null,
      load: loadavg()[0]!,
    }));
    rows.forEach(logRow);
    return rows;
  },
};

/** Starts the daemon, times until it logs "job scheduled", lets it idle 3 s, reads its RSS, stops it. */
function idleDaemon(source: string, cli: string): Promise<{ startS: number; rssMiB: number }> {
  const dest = freshDir(join(WORK, 'archive'));
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [cli, 'daemon'], {
      env: offsiteEnv({ BACKUP_SOURCES: source, BACKUP_ARCHIVE: dest, BACKUP_CRON_EXPRESSION: '0 3 1 1 *' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let startS = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`daemon did not log "job scheduled" in 60 s\n${out.slice(-3000)}`));
    }, 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (!startS && out.includes('"job scheduled"')) {
        startS = (performance.now() - start) / 1000;
        setTimeout(() => {
          let rssMiB = NaN;
          try {
            const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
            rssMiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
          } catch {
            /* not Linux */
          }
          clearTimeout(timer);
          child.once('close', () => resolve({ startS, rssMiB }));
          child.kill('SIGTERM');
        }, 3000);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    child.on('error', reject);
  });
}

// ---------------------------------------------------------------- install size (P10)

/** `npm run bundle` into bench/work/dist, then its compile cache warmed as the Dockerfile does. */
function buildBundle(): void {
  execFileSync(process.execPath, [join(REPO, 'scripts', 'bundle.ts'), BUNDLE_DIR], { stdio: 'inherit' });
  execFileSync(process.execPath, [join(BUNDLE_DIR, 'warm-compile-cache.mjs')], {
    stdio: 'inherit',
    env: { ...process.env, ...(COMPILE_CACHE ? { NODE_COMPILE_CACHE: COMPILE_CACHE } : {}) },
  });
}

/** Bytes on disk of what the image copies above node:24-slim: the bundle (dist/), which needs no node_modules. */
function bundleMB(): number {
  const out = execFileSync('du', ['-sb', BUNDLE_DIR], { encoding: 'utf8' });
  return Number(/^(\d+)/.exec(out)?.[1]) / 1e6;
}

/** Bytes on disk of the production dependencies (`npm ls --omit=dev`) plus src/: what `npm ci --omit=dev` and the image's COPY add. */
function productionInstallMB(): number | null {
  try {
    const paths = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
      cwd: REPO,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1 << 26,
    })
      .split('\n')
      .map((p) => p.trim())
      .filter((p) => p.includes('node_modules'));
    const real = [...new Set(paths.map((p) => fs.realpathSync(p)))].sort();
    // a nested package is counted with its parent's du
    const top = real.filter((p, i) => !real.slice(0, i).some((q) => p.startsWith(q + '/')));
    const out = execFileSync('du', ['-sbc', ...top, join(REPO, 'src'), join(REPO, 'package.json'), join(REPO, 'package-lock.json')], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    return Number(/^(\d+)\s+total$/m.exec(out)?.[1]) / 1e6;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- report

const TARGETS: [string, string, string][] = [
  ['P1', 'gz, 1 thread', '<= 1.0x `tar -czf`'],
  ['P2', 'gz, all cores', '<= 1.0x `tar -I pigz -cf`'],
  ['P3', 'zst, 1 thread / all cores', "<= 1.0x `tar --zstd -cf` / <= 1.0x `tar -I 'zstd -T0' -cf`"],
  ['P4', '50,000 small files, no compression', '<= 1.5x `tar -cf`'],
  ['P5', 'peak RSS of `offsite backup` to a local directory, any corpus size', '<= 96 MiB'],
  ['P6', 'peak RSS of a 4 GiB backup to S3 (+ local)', '<= 128 MiB'],
  ['P7', 'three destinations (local + S3 + SFTP) vs the slowest alone', '<= 1.25x'],
  ['P8', "`offsite restore` of P1's archive", '<= 1.1x `tar -xzf`'],
  ['P9', 'idle daemon RSS / start until "scheduled" is logged', '<= 70 MiB / <= 300 ms'],
  ['P10', 'production install (`npm ci --omit=dev` size), image layers above node:24-slim', '<= 60 MB'],
];

function ratio(r: Row): number | null {
  return r.ref ? r.ours.wallS / r.ref.wallS : null;
}

function report(c: Corpus, rows: Row[], install: { bundle: number; npm: number | null } | null, loadStart: number[]): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const backupRows = rows.filter((r) => r.oursSize !== undefined || r.label.startsWith('backup of'));
  const peakLocal = backupRows.length ? Math.max(...backupRows.map((r) => r.ours.rssMiB)) : null;
  const byId = (id: string) => rows.filter((r) => r.id === id);
  const ok = (good: boolean) => (good ? 'met' : '**missed**');
  const measured: Record<string, string> = {};
  for (const id of ['P1', 'P2', 'P3', 'P4', 'P8']) {
    const rs = byId(id);
    if (rs.length)
      measured[id] = rs
        .map((r) => `${ratio(r)!.toFixed(2)}x (${r.ours.wallS.toFixed(2)} s vs ${r.ref!.wallS.toFixed(2)} s): ${ok(ratio(r)! <= r.target!)}`)
        .join(' / ');
  }
  if (peakLocal !== null) measured.P5 = `${peakLocal.toFixed(0)} MiB (highest of every backup above): ${ok(peakLocal <= 96)}`;
  measured.P6 = 'see the destinations report below (S3 + local, BENCH_DEST_MB=4096)';
  measured.P7 = 'see the destinations report below (local + S3 + SFTP against the slowest of the three alone)';
  const d = byId('P9').find((r) => r.label.startsWith('daemon (bundle)'));
  if (d) measured.P9 = `${d.ours.rssMiB.toFixed(0)} MiB / ${(d.ours.wallS * 1000).toFixed(0)} ms: ${ok(d.ours.rssMiB <= 70)} / ${ok(d.ours.wallS <= 0.3)}`;
  if (install !== null)
    measured.P10 = `${install.bundle.toFixed(1)} MB (the bundle, \`npm run bundle\`: the image copies only dist/ and installs no node_modules; \`npm ci --omit=dev\` + src/ would be ${install.npm?.toFixed(1) ?? '?'} MB): ${ok(install.bundle <= 60)}`;
  const lines = [
    '# Whole-process benchmark',
    '',
    `Run ${new Date().toISOString()} on ${CORES} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${osVersion()}.`,
    `Load average (1, 5, 15 min) before: ${loadStart.map((l) => l.toFixed(2)).join(', ')}; after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} (${CORES} cores shared with other sessions' tests: absolute times are noisy, ratios less so).`,
    `Corpus: ${(c.bytes / 2 ** 20).toFixed(0)} MiB (BENCH_SIZE_MB=${SIZE_MB}): ${c.smallFiles} files of 4 KiB (half text, half random), text logs in 8 MiB files (${((160 * SIZE_MB) / 613).toFixed(0)} MiB), the rest random data in 32 MiB files. Page cache warm; output on the same disk.`,
    `Each offsite number is a whole \`${ENTRY === 'bundle' ? 'node dist/offsite.mjs' : 'node src/cli.ts'} ...\` process (BENCH_ENTRY=${ENTRY}${ENTRY === 'bundle' ? ": the image's esbuild bundle" : ''}; the config, one-file and daemon rows measure the bundle and the sources alternately) as the image starts it (NODE_ENV=production, UV_THREADPOOL_SIZE=8, NODE_OPTIONS=${NODE_OPTIONS || '(none)'}, MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX || '(unset)'}, ${COMPILE_CACHE ? 'NODE_COMPILE_CACHE warmed first' : 'no compile cache'}), local destination, timed like the reference with /usr/bin/time: wall time, CPU (user + system, all threads and children), peak RSS (maxRSS). Offsite and the reference alternate; medians of ${REPEAT} runs; RSS is the highest run.`,
    '',
    '## Targets',
    '',
    '| # | measure | target | measured |',
    '| --- | --- | --- | --- |',
    ...TARGETS.map(([id, what, target]) => `| ${id} | ${what} | ${target} | ${measured[id] ?? 'not measured in this run'} |`),
    '',
    '## Measurements',
    '',
    '| # | case | offsite (s) | reference (s) | ratio | CPU s offsite / ref | offsite peak RSS (MiB) | output MiB offsite / ref | load (1 min) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.id} | ${r.label}${r.ref ? ` vs \`${r.refCmd}\`` : ''} | ${r.ours.wallS.toFixed(2)} | ${r.ref?.wallS.toFixed(2) ?? ''} | ${ratio(r)?.toFixed(2) ?? ''}${r.ref ? 'x' : ''} | ${Number.isNaN(r.ours.cpuS) ? '' : r.ours.cpuS.toFixed(2)}${r.ref ? ` / ${r.ref.cpuS.toFixed(2)}` : ''} | ${r.ours.rssMiB.toFixed(0)} | ${r.oursSize !== undefined ? `${(r.oursSize / 2 ** 20).toFixed(1)} / ${(r.refSize! / 2 ** 20).toFixed(1)}` : ''} | ${r.load.toFixed(2)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

function osVersion(): string {
  try {
    return fs.readFileSync('/proc/version', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return process.platform;
  }
}

const PROCESS_START = '<!-- bench:process -->';
const PROCESS_END = '<!-- /bench:process -->';
const DEST_START = '<!-- bench:destinations -->';
const DEST_END = '<!-- /bench:destinations -->';

function between(text: string, start: string, end: string): string | null {
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  return i >= 0 && j > i ? text.slice(i + start.length, j).trim() : null;
}

/** results.md: the process report, the destinations report, then notes.md; each report kept from the previous file when not rerun. */
function writeResults(processMd: string | null, destMd: string | null): void {
  const file = join(BENCH_DIR, 'results.md');
  const notesFile = join(BENCH_DIR, 'notes.md');
  const notes = fs.existsSync(notesFile) ? fs.readFileSync(notesFile, 'utf8') : '';
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const proc = processMd ?? between(old, PROCESS_START, PROCESS_END);
  const dest = destMd ?? between(old, DEST_START, DEST_END);
  const parts: string[] = [];
  if (proc) parts.push(`${PROCESS_START}\n${proc.trim()}\n${PROCESS_END}\n`);
  if (dest) parts.push(`${DEST_START}\n${dest.trim()}\n${DEST_END}\n`);
  fs.writeFileSync(file, parts.join('\n') + (notes ? '\n' + notes : ''));
}

async function main(): Promise<void> {
  if (!fs.existsSync(TIME)) throw new Error(`${TIME} is needed (apt-get install time)`);
  fs.mkdirSync(WORK, { recursive: true });
  fs.rmSync(join(WORK, 'conf', 'state'), { recursive: true, force: true });
  const names = Object.keys(CASES).filter((n) => !ONLY || ONLY.has(n));
  let processMd: string | null = null;
  if (names.length > 0) {
    buildBundle();
    const corpus = buildCorpus();
    // warm the page cache for every contender alike, and Node's compile cache
    await timed('sh', ['-c', `tar -cf - -C '${corpus.root}' . | cat > /dev/null`]);
    const tiny = freshDir(join(WORK, 'tiny', 'data'));
    fs.writeFileSync(join(tiny, 'a'), 'a');
    for (const [, cli] of ENTRIES) for (const comp of ['gz', 'zst', 'none']) await offsiteBackup([tiny], comp, 0, cli);
    const loadStart = loadavg();
    const rows: Row[] = [];
    for (const name of names) rows.push(...(await CASES[name]!(corpus)));
    const install = !ONLY || ONLY.has('install') ? { bundle: bundleMB(), npm: productionInstallMB() } : null;
    processMd = report(corpus, rows, install, loadStart);
    console.log('\n' + processMd);
  }
  let destMd: string | null = null;
  if (!ONLY || ONLY.has('destinations')) {
    // the image's bundle and environment, as for every other offsite process here
    if (ENTRY === 'bundle' && names.length === 0) buildBundle();
    const loadStart = loadavg()[0]!;
    const rows: DestRow[] = await destinationsSection(join(WORK, 'destinations'), { cli: CLI, entry: ENTRY, env: offsiteEnv, compileCache: COMPILE_CACHE });
    const machine = `${CORES} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${osVersion()}`;
    destMd =
      destinationsReport(rows, machine) +
      `\nLoad average (1 min) at the start: ${loadStart.toFixed(2)}, at the end: ${loadavg()[0]!.toFixed(2)} (${CORES} cores; other sessions share this machine).\n`;
    console.log('\n' + destMd);
  }
  writeResults(processMd, destMd);
}

await main();
