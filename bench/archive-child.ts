/**
 * One measured createArchive run, in its own process so its peak RSS is its
 * own: `node bench/archive-child.ts '<json>'`; prints a JSON result line.
 * NODE_COMPILE_CACHE (set by run.ts unless disabled) is honoured by Node
 * itself before this file is loaded.
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createArchive } from '../src/archive/index.ts';
import { silentLogger } from '../src/log.ts';
import type { Compression } from '../src/config/spine.ts';

interface ChildArgs { sources: string[]; compression: Compression; parallelism: number; out: string }

const args = JSON.parse(process.argv[2]!) as ChildArgs;
const start = performance.now();
const cpu0 = process.cpuUsage();
const a = createArchive({ sources: args.sources, exclude: null, compression: args.compression, parallelism: args.parallelism, log: silentLogger() });
await pipeline(a.stream, createWriteStream(args.out));
const r = await a.done;
const ms = performance.now() - start;
const cpu = process.cpuUsage(cpu0); // all threads of this process
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write(JSON.stringify({ ms, cpuMs, maxRssKiB: process.resourceUsage().maxRSS, size: r.size, files: r.files, unreadable: r.unreadable }) + '\n');
