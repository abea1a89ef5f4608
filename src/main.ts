#!/usr/bin/env node
/**
 * The command's entry (the image's dist/offsite.mjs; bin/offsite.mjs in a checkout): `offsite
 * backup` starts its archive worker first, so that the worker's own start (a second Node
 * environment, 0.1-0.4 s) runs beside the loading of the command's modules, the configuration
 * and the run's setup instead of after them; then the command (cli.ts) is loaded and run.
 * `node src/cli.ts` still runs a command without this head start.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { prestartArchiveWorker } from './archive/spare.ts';
import { commandArgs, makesArchive } from './command-args.ts';

/**
 * V8 flags for a command that makes an archive: V8's optimizing compiler (TurboFan) only for
 * the gzip codec's byte histogram (gzip-parallel.ts `incompressible`, a numeric loop over every
 * MiB that runs 2-4x slower without it). The first function TurboFan compiles brings ~5 MiB of
 * the compiler's own code and memory into the process; the rest of a backup (streams, the tar
 * worker, zstd's handoff) runs as fast on V8's mid-tier compiler (Maglev). Measured (bundle, 200
 * MiB corpus, alternating, load 11-15): zst on 2 threads 101-103 -> 96-97 MiB peak RSS, the small
 * files uncompressed 86-88 -> 81-84, gz unchanged (TurboFan compiles the histogram), CPU the same.
 */
export function v8FlagsFor(args: readonly string[]): string | null {
  return makesArchive(args) ? '--turbo-filter=incompressible' : null;
}

export async function start(args: string[]): Promise<void> {
  const flags = v8FlagsFor(args);
  if (flags) setFlagsFromString(flags);
  // taken by the run's archive (run/backup.ts adopts it, and ends it if the run fails before archiving)
  if (makesArchive(args)) prestartArchiveWorker();
  const { run } = await import('./cli.ts');
  run(args);
}

/** True when this file is the process's main module (also through a symlink such as /usr/local/bin/offsite). */
function isMainModule(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) void start(commandArgs(process.argv));
