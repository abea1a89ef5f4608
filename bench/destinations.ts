/**
 * The `destinations` section of `npm run bench` (bench/run.ts): uploading one archive to
 * several destinations. Runs `offsite backup` as a child process the way bench/run.ts runs every
 * other offsite process: its CLI (BENCH_ENTRY: the image's esbuild bundle by default, or
 * src/cli.ts) with the image's environment (run.ts's offsiteEnv: NODE_ENV, NODE_OPTIONS,
 * MALLOC_ARENA_MAX, UV_THREADPOOL_SIZE, NODE_COMPILE_CACHE), against s3rver, azurite and sshd on
 * 127.0.0.1, started here as the tests start them (test/servers/), with a fresh server and
 * target per run.
 *
 *   BENCH_DEST_MB      archive size in MiB (default 4096; e.g. 256 for a quick run)
 *   BENCH_DEST_CASES   e.g. `1,5`: only these cases (numbers in table order: 1 S3 + local, 2 local,
 *                      3 S3, 4 Azure, 5 local + S3 + Azure, 6 SFTP, 7 local + S3 + SFTP (P7))
 *   BENCH_DEST_CLI     another CLI to run instead (another checkout's bench/work/dist/offsite.mjs or
 *                      src/cli.ts: compare versions under the same conditions)
 *   BENCH_DEST_ENV     extra variables for every offsite run, `K=V,K=V` (e.g. `AWS_PART_SIZE=8`: compare settings)
 *   BENCH_DEST_REPEAT  runs per case; the fastest time and the highest peak RSS count (default 2:
 *                      the machine is shared, and one slow run says little)
 *
 * The source is random data (incompressible) archived with BACKUP_COMPRESSION=none, so the
 * archiver is never the bottleneck: the numbers are about the upload path. Peak RSS is the
 * child's maxRSS as /usr/bin/time reports it (%M).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../test/servers/s3rver.ts';
import { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteHandle } from '../test/servers/azurite.ts';
import { startSshd, descendants, type SshdServer } from '../test/servers/sshd.ts';
import { cpus } from 'node:os';

export const DEST_MB = Number(process.env.BENCH_DEST_MB ?? 4096);
const REPEAT = Math.max(1, Number(process.env.BENCH_DEST_REPEAT ?? 2));
const RSS_TARGET_MIB = 128;
const RATIO_TARGET = 1.25;
/** BENCH_DEST_CLI: another CLI (another checkout's bundle or src/cli.ts), to compare versions under the same conditions. */
const CLI_OVERRIDE = process.env.BENCH_DEST_CLI;
/** BENCH_DEST_ENV: `K=V,K=V` added to every run's environment. */
const EXTRA_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  (process.env.BENCH_DEST_ENV ?? '')
    .split(',')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
/** BENCH_DEST_CASES: comma-separated case numbers (1-7, in table order) to run; default all. */
const CASES = process.env.BENCH_DEST_CASES ? new Set(process.env.BENCH_DEST_CASES.split(',').map(Number)) : null;

type Kind = 'local' | 's3' | 'azure' | 'sftp';

/** How bench/run.ts starts offsite: the CLI it measures and the image's environment. */
export interface OffsiteRunner {
  /** The bundle's offsite.mjs (what the image runs) or src/cli.ts. */
  cli: string;
  /** Which of the two, for the report. */
  entry: 'bundle' | 'source';
  /** The image's environment (Dockerfile) with `extra` on top. */
  env: (extra: NodeJS.ProcessEnv) => NodeJS.ProcessEnv;
  /** NODE_COMPILE_CACHE of the runs (warmed first), or null for none. */
  compileCache: string | null;
}

export interface DestRow {
  case: string;
  kinds: Kind[];
  seconds: number;
  /** CPU time (user + system) of the offsite process. */
  cpuS: number;
  rssMiB: number;
  /** CPU time (user + system) of each server's process tree during the run (s): s3rver, sshd (its connections too). */
  serverCpuS: Record<string, number>;
  /** Per destination: upload duration reported by the run (s). */
  perDestination: Record<string, number>;
  /** Time of every run (s), when repeated. */
  runs?: number[];
}

/** `mb` MiB of random data in 64 MiB files, kept between runs (rebuilt when the size changes). */
function buildSource(work: string, mb: number): string {
  const root = join(work, `dest-source-${mb}mb`);
  if (fs.existsSync(join(root, '.complete'))) return join(root, 'data');
  for (const d of fs.existsSync(work) ? fs.readdirSync(work) : []) if (d.startsWith('dest-source-')) fs.rmSync(join(work, d), { recursive: true, force: true });
  console.log(`building ${mb} MiB of random data in ${root} ...`);
  fs.mkdirSync(join(root, 'data'), { recursive: true });
  writeRandomFiles(join(root, 'data'), mb * 2 ** 20, 64 << 20);
  fs.writeFileSync(join(root, '.complete'), '');
  return join(root, 'data');
}

/** `total` bytes of random data in files of `fileSize` bytes named blob-N.bin. */
export function writeRandomFiles(dir: string, total: number, fileSize: number): void {
  const block = Buffer.alloc(1 << 20);
  for (let off = 0, n = 0; off < total; n++) {
    const size = Math.min(fileSize, total - off);
    const fd = fs.openSync(join(dir, `blob-${n}.bin`), 'w');
    for (let w = 0; w < size; w += block.length) fs.writeSync(fd, randomFillSync(block), 0, Math.min(block.length, size - w));
    fs.closeSync(fd);
    off += size;
  }
}

interface Servers {
  s3?: S3rverHandle;
  azure?: AzuriteHandle;
  sftp?: { sshd: SshdServer; dir: string };
  localDir?: string;
}

async function startServers(kinds: Kind[], work: string): Promise<Servers> {
  const s: Servers = {};
  if (kinds.includes('s3')) s.s3 = await startS3rver({ buckets: ['bench'], directory: fs.mkdtempSync(join(work, 's3rver-')) });
  if (kinds.includes('azure')) {
    s.azure = await startAzurite();
    await new BlobServiceClient(s.azure.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).getContainerClient('bench').createIfNotExists();
  }
  if (kinds.includes('local')) s.localDir = fs.mkdtempSync(join(work, 'local-'));
  if (kinds.includes('sftp')) {
    const sshd = await startSshd();
    const dir = `bench-${process.pid}-${Date.now()}`;
    fs.mkdirSync(join(sshd.home, dir), { recursive: true });
    fs.chownSync(join(sshd.home, dir), fs.statSync(sshd.home).uid, fs.statSync(sshd.home).gid);
    s.sftp = { sshd, dir };
  }
  return s;
}

const CLK_TCK = 100;
/** utime + stime of one process (all its threads), in seconds, or null once it is gone. */
function processCpuS(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 of stat (f[0] is field 3)
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * Samples the CPU time of a server's process tree (the root and every descendant, e.g. sshd's
 * per-connection processes) every 100 ms: the last value seen per process counts. The
 * reaped children's times in a parent's cutime are not used: sshd's processes exit without
 * every parent waiting for them, so cutime misses most of a session.
 */
class TreeCpu {
  private readonly seen = new Map<number, number>();
  private readonly start = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly root: number;
  constructor(root: number) {
    this.root = root;
    this.sample();
    for (const [pid, s] of this.seen) this.start.set(pid, s);
    this.timer = setInterval(() => this.sample(), 100).unref();
  }
  private sample(): void {
    for (const pid of [this.root, ...descendants(this.root)]) {
      const s = processCpuS(pid);
      if (s !== null) this.seen.set(pid, s);
    }
  }
  /** Stop sampling; CPU seconds used by the tree since the constructor. */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    let total = 0;
    for (const [pid, s] of this.seen) total += s - (this.start.get(pid) ?? 0);
    return total;
  }
}

function serverPids(s: Servers): Record<string, number> {
  const out: Record<string, number> = {};
  if (s.s3) out.s3rver = s.s3.pid;
  if (s.sftp) out.sshd = s.sftp.sshd.pid;
  return out;
}

async function stopServers(s: Servers): Promise<void> {
  await s.s3?.close();
  await s.azure?.stop();
  if (s.localDir) fs.rmSync(s.localDir, { recursive: true, force: true });
  if (s.sftp) {
    fs.rmSync(join(s.sftp.sshd.home, s.sftp.dir), { recursive: true, force: true });
    await s.sftp.sshd.stop();
  }
}

function env(runner: OffsiteRunner, s: Servers, source: string, work: string): NodeJS.ProcessEnv {
  const conf = fs.mkdtempSync(join(work, 'conf-'));
  fs.mkdirSync(join(conf, 'conf.d'));
  // the image's environment (bench/run.ts), with this run's own conf dir, source and destinations
  const e: NodeJS.ProcessEnv = runner.env({
    OFFSITE_CONF_DIR: join(conf, 'conf.d'),
    OFFSITE_LOCK_FILE: join(conf, 'lock'),
    OFFSITE_HEALTH_FILE: join(conf, 'health.json'),
    BACKUP_SOURCES: source,
    BACKUP_COMPRESSION: 'none',
    BACKUP_TMP_DIR: work,
    // no local copy unless asked for
    BACKUP_ARCHIVE: s.localDir ?? '',
    ...EXTRA_ENV,
  });
  if (s.s3) {
    Object.assign(e, {
      AWS_S3_BUCKET_NAME: 'bench',
      AWS_ENDPOINT: `127.0.0.1:${s.s3.port}`,
      AWS_ENDPOINT_PROTO: 'http',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_CHECKSUM: 'when_required',
    });
  }
  if (s.sftp) {
    Object.assign(e, {
      SSH_HOST_NAME: '127.0.0.1',
      SSH_PORT: String(s.sftp.sshd.port),
      SSH_USER: s.sftp.sshd.user,
      SSH_PASSWORD: s.sftp.sshd.password,
      SSH_REMOTE_PATH: s.sftp.dir,
      SSH_HOST_KEY_FINGERPRINT: s.sftp.sshd.fingerprint,
    });
  }
  if (s.azure) {
    Object.assign(e, {
      AZURE_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
      AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: AZURITE_KEY,
      AZURE_STORAGE_CONTAINER_NAME: 'bench',
      AZURE_STORAGE_ENDPOINT: s.azure.endpoint,
    });
  }
  return e;
}

/** One `offsite backup` run; its duration is the run's own (without Node's start-up), its RSS the child's maxRSS. */
async function backup(label: string, kinds: Kind[], source: string, work: string, runner: OffsiteRunner): Promise<DestRow> {
  console.log(`[destinations] ${label} ...`);
  const servers = await startServers(kinds, work);
  let e: NodeJS.ProcessEnv | undefined;
  try {
    const timeFile = join(work, 'dest-time.txt');
    e = env(runner, servers, source, work);
    const pids = serverPids(servers);
    const cpu = Object.entries(pids).map(([k, pid]) => [k, new TreeCpu(pid)] as const);
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-f', '%M %e %U %S', '-o', timeFile, process.execPath, CLI_OVERRIDE ?? runner.cli, 'backup'], {
        env: e!,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (d: Buffer) => {
        text += d;
      });
      child.stderr.on('data', (d: Buffer) => {
        text += d;
      });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`offsite backup (${label}) exited with ${code}\n${text.slice(-4000)}`))));
    });
    const serverCpuS = Object.fromEntries(cpu.map(([k, c]) => [k, c.stop()]));
    const [rssKiB, wallS, userS, sysS] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(/\s+/).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
    const finished = lines.find((l) => l.msg === 'backup finished');
    if (!finished) throw new Error(`offsite backup (${label}) did not report success\n${out.slice(-4000)}`);
    const perDestination: Record<string, number> = {};
    for (const l of lines)
      if (typeof l.msg === 'string' && l.msg.startsWith('uploaded ') && typeof l.destination === 'string')
        perDestination[l.destination] = Number(l.durationMs) / 1000;
    const row: DestRow = {
      case: label,
      kinds,
      seconds: typeof finished.durationMs === 'number' ? finished.durationMs / 1000 : wallS,
      cpuS: userS + sysS,
      rssMiB: rssKiB / 1024,
      serverCpuS,
      perDestination,
    };
    console.log(
      `    ${row.seconds.toFixed(1)} s (offsite CPU ${row.cpuS.toFixed(1)} s, servers ${JSON.stringify(serverCpuS)}), peak RSS ${row.rssMiB.toFixed(0)} MiB ${JSON.stringify(perDestination)}`,
    );
    return row;
  } finally {
    await stopServers(servers);
    if (typeof e?.OFFSITE_CONF_DIR === 'string') fs.rmSync(join(e.OFFSITE_CONF_DIR, '..'), { recursive: true, force: true });
  }
}

/** `runner`: bench/run.ts's CLI (the bundle, by default) and the image's environment. */
export async function destinationsSection(work: string, runner: OffsiteRunner): Promise<DestRow[]> {
  fs.mkdirSync(work, { recursive: true });
  entryUsed = CLI_OVERRIDE
    ? `\`node ${CLI_OVERRIDE}\` (BENCH_DEST_CLI)`
    : runner.entry === 'bundle'
      ? "the image's esbuild bundle (`node dist/offsite.mjs`)"
      : '`node src/cli.ts`';
  if (runner.compileCache) {
    // warm the compile cache with every module a backup loads (a tiny backup to each kind)
    const tiny = join(work, 'tiny');
    fs.mkdirSync(tiny, { recursive: true });
    fs.writeFileSync(join(tiny, 'a'), 'a');
    await backup('warm-up (compile cache)', ['local', 's3', 'azure', 'sftp'], tiny, work, runner);
  }
  const source = buildSource(work, DEST_MB);
  // warm the page cache
  for (const f of fs.readdirSync(source)) fs.readFileSync(join(source, f)).length;
  const rows: DestRow[] = [];
  let caseNo = 0;
  const run = async (label: string, kinds: Kind[]): Promise<DestRow | null> => {
    if (CASES && !CASES.has(++caseNo)) return null;
    const runs: DestRow[] = [];
    for (let i = 0; i < REPEAT; i++) runs.push(await backup(label, kinds, source, work, runner));
    const fastest = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    return { ...fastest, rssMiB: Math.max(...runs.map((r) => r.rssMiB)), runs: runs.map((r) => r.seconds) };
  };
  for (const [label, kinds] of [
    ['S3 (s3rver) + local', ['local', 's3']],
    ['local alone', ['local']],
    ['S3 (s3rver) alone', ['s3']],
    ['Azure (azurite) alone', ['azure']],
    ['all three: local + S3 + Azure', ['local', 's3', 'azure']],
    ['SFTP (OpenSSH sshd) alone', ['sftp']],
    ['P7, all three: local + S3 + SFTP', ['local', 's3', 'sftp']],
  ] as [string, Kind[]][]) {
    const row = await run(label, kinds);
    if (row) rows.push(row);
  }
  return rows;
}

/** What the section ran, for the report. */
let entryUsed = '`node src/cli.ts`';

const CORES = cpus().length;
const totalCpu = (r: DestRow): number => r.cpuS + Object.values(r.serverCpuS).reduce((n, x) => n + x, 0);

export function destinationsReport(rows: DestRow[], machine: string): string {
  const alone = rows.filter((r) => r.kinds.length === 1);
  const verdict = (r: DestRow): string => {
    const parts: string[] = [];
    // the slowest of this row's destinations, each alone
    const mine = alone.filter((a) => r.kinds.includes(a.kinds[0]!));
    const slowest = mine.length ? mine.reduce((a, b) => (b.seconds > a.seconds ? b : a)) : undefined;
    if (r.kinds.length === 3 && slowest) {
      const ratio = r.seconds / slowest.seconds;
      parts.push(`${ratio.toFixed(2)}× the slowest alone (${slowest.case}): ${ratio <= RATIO_TARGET ? 'ok' : 'MISSED'} (target ≤ ${RATIO_TARGET}×)`);
      // the CPU the destinations cost alone (offsite + servers), spread over every core, is a floor
      // for them together on this machine, however offsite schedules its work
      const cpu = mine.reduce((n, a) => n + totalCpu(a), 0);
      const floor = cpu / CORES;
      const missing = r.kinds.filter((k) => !mine.some((a) => a.kinds[0] === k));
      parts.push(
        `own CPU floor: ${totalCpu(r).toFixed(1)} s (offsite + servers in this run) / ${CORES} cores = ${(totalCpu(r) / CORES).toFixed(1)} s = ${(totalCpu(r) / CORES / slowest.seconds).toFixed(2)}× the slowest alone`,
      );
      parts.push(
        `CPU floor: ${cpu.toFixed(1)} s of CPU alone (offsite + servers${missing.length ? `; without ${missing.join(', ')} alone: not run` : ''}) / ${CORES} cores = ${floor.toFixed(1)} s = ${(floor / slowest.seconds).toFixed(2)}× the slowest alone`,
      );
    }
    if (r.kinds.includes('s3') && r.kinds.includes('local') && r.kinds.length === 2)
      parts.push(r.rssMiB <= RSS_TARGET_MIB ? `RSS ok (≤ ${RSS_TARGET_MIB} MiB)` : `RSS MISSED (target ≤ ${RSS_TARGET_MIB} MiB)`);
    return parts.join('; ') || '-';
  };
  return [
    '# Destinations benchmark',
    '',
    `Run ${new Date().toISOString()} on ${machine}.`,
    `Archive: ${DEST_MB} MiB of random data in 64 MiB files (BENCH_DEST_MB), BACKUP_COMPRESSION=none so the archiver is not the bottleneck (it runs at ~1 GiB/s; the upload path is what is measured). Each row is one \`offsite backup\` child, run as ${entryUsed} with the image's environment (as bench/run.ts runs every offsite process), with a fresh s3rver / azurite / sshd / local directory on 127.0.0.1 (the servers share the machine's 2 cores with offsite). Fastest of ${REPEAT} runs per case (BENCH_DEST_REPEAT), highest peak RSS of them. Time: the run's own duration ("backup finished" durationMs, without Node's start-up); per destination: each upload's duration. Offsite CPU: user + system seconds of the offsite process (the fastest run's); servers' CPU: the same for s3rver's and sshd's process trees during that run (/proc, sshd's connection processes included), all on the same ${CORES} cores. Peak RSS: the offsite process's maxRSS (/usr/bin/time %M), with Node's compile cache (NODE_COMPILE_CACHE, warmed first, as the image sets it) unless BENCH_COMPILE_CACHE=0, target ≤ ${RSS_TARGET_MIB} MiB for S3 + local. Several destinations: the archive is written once to BACKUP_TMP_DIR and every upload follows that file as it grows.`,
    '',
    '| case | time (s) | all runs (s) | offsite CPU (s) | servers CPU (s) | offsite + servers CPU (s) | per destination (s) | peak RSS (MiB) | verdict |',
    '| --- | ---: | --- | ---: | --- | ---: | --- | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.seconds.toFixed(1)} | ${(r.runs ?? [r.seconds]).map((x) => x.toFixed(1)).join(', ')} | ${r.cpuS.toFixed(1)} | ${
          Object.entries(r.serverCpuS)
            .map(([k, v]) => `${k} ${v.toFixed(1)}`)
            .join(', ') || '-'
        } | ${totalCpu(r).toFixed(1)} | ${Object.entries(r.perDestination)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(', ')} | ${r.rssMiB.toFixed(0)} | ${verdict(r)} |`,
    ),
    '',
  ].join('\n');
}
