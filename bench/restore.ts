/**
 * Restore and encryption benchmark. Not a test. Writes bench/restore-results.md.
 *
 *   node bench/restore.ts
 *   BENCH_SIZE_MB   corpus size (default 256)
 *   BENCH_REPEAT    runs per measurement, the fastest counts (default 3)
 *
 * Sections:
 * - restore: offsite's extractArchive (decompress + safe extraction into a
 *   staging directory + move into place) against `tar -xzf` on the same
 *   tar.gz, target <= 1.2x; the two alternate so the machine's other load
 *   hits both alike;
 * - encryption: MB/s of each method, encrypting and decrypting in memory.
 */
import * as fs from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync, createHash } from 'node:crypto';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extractArchive } from '../src/archive/extract.ts';
import { gpgEncryptor, gpgDecryptor } from '../src/crypto/gpg.ts';
import { ageEncryptor, ageDecryptor } from '../src/crypto/age.ts';
import { aesEncryptor, aesDecryptor } from '../src/crypto/aes.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const WORK = join(BENCH_DIR, 'work', 'restore');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 256);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
const TARGET = 1.2;

function log(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** Half small files (4 KiB, text and random), a third compressible text, the rest random. */
function corpus(): { root: string; tgz: string; files: number } {
  const root = join(WORK, `corpus-${SIZE_MB}mb`);
  const tgz = `${root}.tar.gz`;
  const small = Math.max(1000, Math.round((SIZE_MB * 1024 * 1024 * 0.25) / 4096));
  if (fs.existsSync(tgz)) return { root, tgz, files: small };
  fs.rmSync(WORK, { recursive: true, force: true });
  log(`building a ${SIZE_MB} MiB corpus in ${root} ...`);
  const text = Buffer.from('2026-01-01T00:00:00Z GET /api/backup 200 volume container archive upload retention schedule\n'.repeat(64));
  for (let i = 0; i < small; i++) {
    const dir = join(root, 'small', `d${String(Math.floor(i / 1000)).padStart(3, '0')}`);
    if (i % 1000 === 0) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(join(dir, `f${i}.dat`), i % 2 ? randomFillSync(Buffer.alloc(4096)) : text.subarray(0, 4096));
  }
  fs.mkdirSync(join(root, 'text'), { recursive: true });
  fs.mkdirSync(join(root, 'random'), { recursive: true });
  const rest = SIZE_MB * 1024 * 1024 - small * 4096;
  for (let off = 0, n = 0; off < rest * 0.45; off += 8 << 20, n++) {
    const b = Buffer.alloc(8 << 20);
    for (let p = 0; p < b.length; p += text.length) text.copy(b, p);
    b.write(`unique ${n}`, 0);
    fs.writeFileSync(join(root, 'text', `log-${n}.txt`), b);
  }
  for (let off = 0, n = 0; off < rest * 0.55; off += 32 << 20, n++) fs.writeFileSync(join(root, 'random', `r${n}.bin`), randomFillSync(Buffer.alloc(32 << 20)));
  execFileSync('tar', ['-czf', tgz, '-C', root, '.']);
  return { root, tgz, files: small };
}

function timeTar(tgz: string, out: string): { s: number; cpu: number } {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  spawnSync('sync');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', 'tar', '-xzf', tgz, '-C', out], { encoding: 'utf8' });
  const [e, u, sy] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { s: e!, cpu: u! + sy! };
}

async function timeOurs(tgz: string, out: string): Promise<{ s: number; cpu: number }> {
  fs.rmSync(out, { recursive: true, force: true });
  spawnSync('sync');
  const before = process.cpuUsage();
  const t = process.hrtime.bigint();
  await extractArchive(fs.createReadStream(tgz, { highWaterMark: 1 << 20 }), { target: out });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  const c = process.cpuUsage(before);
  return { s, cpu: (c.user + c.system) / 1e6 };
}

async function restoreSection(): Promise<string[]> {
  const c = corpus();
  const size = fs.statSync(c.tgz).size;
  const tar: Array<{ s: number; cpu: number }> = [];
  const ours: Array<{ s: number; cpu: number }> = [];
  for (let i = 0; i < REPEAT; i++) {
    tar.push(timeTar(c.tgz, join(WORK, 'out-tar')));
    ours.push(await timeOurs(c.tgz, join(WORK, 'out-ours')));
    log(`  run ${i + 1}: tar ${tar[i]!.s.toFixed(2)} s, offsite ${ours[i]!.s.toFixed(2)} s`);
  }
  fs.rmSync(join(WORK, 'out-tar'), { recursive: true, force: true });
  fs.rmSync(join(WORK, 'out-ours'), { recursive: true, force: true });
  const best = (a: Array<{ s: number; cpu: number }>) => a.reduce((x, y) => (y.s < x.s ? y : x));
  const t = best(tar);
  const o = best(ours);
  const ratio = o.s / t.s;
  return [
    '| case | offsite (s) | `tar -xzf` (s) | ratio | CPU s offsite / tar | verdict |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    `| restore ${SIZE_MB} MiB tar.gz (${(size / 1048576).toFixed(0)} MiB), ${c.files} small files | ${o.s.toFixed(2)} | ${t.s.toFixed(2)} | ${ratio.toFixed(2)}× | ${o.cpu.toFixed(2)} / ${t.cpu.toFixed(2)} | ${ratio <= TARGET ? 'ok' : 'MISSED'} (target ≤ ${TARGET}×) |`,
  ];
}

async function throughput(make: () => Transform, input: Buffer, repeat: number): Promise<{ mbps: number; out: Buffer }> {
  let bestS = Infinity;
  let out = Buffer.alloc(0);
  for (let i = 0; i < repeat; i++) {
    const parts: Buffer[] = [];
    const t = process.hrtime.bigint();
    await pipeline(
      Readable.from(
        (function* () {
          for (let o = 0; o < input.length; o += 1 << 16) yield input.subarray(o, o + (1 << 16));
        })(),
      ),
      make(),
      async function (s) {
        for await (const c of s) parts.push(c as Buffer);
      },
    );
    bestS = Math.min(bestS, Number(process.hrtime.bigint() - t) / 1e9);
    out = Buffer.concat(parts);
  }
  return { mbps: input.length / 1048576 / bestS, out };
}

async function encryptionSection(): Promise<string[]> {
  const data = randomFillSync(Buffer.alloc(128 << 20));
  const key = randomFillSync(Buffer.alloc(32));
  const methods: Array<[string, () => Transform, () => Transform]> = [
    ['gpg (OpenPGP, AES-256, passphrase)', () => gpgEncryptor({ passphrase: 'bench' }), () => gpgDecryptor({ passphrase: 'bench' })],
    ['age (passphrase, scrypt 2^10)', () => ageEncryptor({ passphrase: 'bench', scryptLogN: 10 }), () => ageDecryptor({ passphrase: 'bench' })],
    ['aes (offsite AES-256-GCM)', () => aesEncryptor(key), () => aesDecryptor(key)],
  ];
  const rows = ['| method | encrypt (MiB/s) | decrypt (MiB/s) |', '| --- | ---: | ---: |'];
  const hash = createHash('sha256').update(data).digest('hex');
  for (const [name, enc, dec] of methods) {
    const e = await throughput(enc, data, REPEAT);
    const d = await throughput(dec, e.out, REPEAT);
    if (createHash('sha256').update(d.out).digest('hex') !== hash) throw new Error(`${name}: round trip differs`);
    rows.push(`| ${name} | ${e.mbps.toFixed(0)} | ${d.mbps.toFixed(0)} |`);
    log(`  ${name}: ${e.mbps.toFixed(0)} / ${d.mbps.toFixed(0)} MiB/s`);
  }
  return rows;
}

const loadBefore = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
log('restore ...');
const restore = await restoreSection();
log('encryption ...');
const enc = await encryptionSection();
const md = [
  '# Restore and encryption benchmark',
  '',
  `Run ${new Date().toISOString()} (load average before: ${loadBefore}, after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(
      ' ',
    )}) on ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}. Fastest of ${REPEAT} runs; page cache warm; \`sync\` before each run; offsite and tar alternate.`,
  '',
  '## Restore',
  '',
  'offsite: `extractArchive()` in this process (gunzip, tar parsing, path checks, files written into a staging directory and moved into place, modes/mtimes/owners set). tar: `tar -xzf` (gzip in its own process).',
  '',
  ...restore,
  '',
  '## Encryption',
  '',
  "128 MiB of random data through each method's Transform (in memory, 64 KiB chunks).",
  '',
  ...enc,
  '',
].join('\n');
fs.writeFileSync(join(BENCH_DIR, 'restore-results.md'), md);
log(md);
