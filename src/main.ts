#!/usr/bin/env node
/**
 * The command's entry (the image's dist/offsite.mjs; bin/offsite.mjs in a checkout): `offsite
 * backup` starts its archive worker first, so that the worker's own start (a second Node
 * environment, 0.1-0.4 s) runs beside the loading of the command's modules, the configuration
 * and the run's setup instead of after them; `offsite daemon` starts without V8's optimizing
 * compiler (src/jit.ts); then the command (cli.ts) is loaded and run.
 * `node src/cli.ts` still runs a command without this head start.
 */
import { prestartArchiveWorker } from './archive/spare.ts';
import { commandArgs, defersOptimizingCompiler, isMainModule, makesArchive } from './command-args.ts';
import { deferOptimizingCompiler } from './jit.ts';

export async function start(args: string[]): Promise<void> {
  // taken by the run's archive (run/backup.ts adopts it, and ends it if the run fails before archiving)
  if (makesArchive(args)) prestartArchiveWorker();
  // the daemon's start runs without TurboFan (~6 MiB of an idle daemon's RSS); its runs get it back
  else if (defersOptimizingCompiler(args)) deferOptimizingCompiler();
  const { run } = await import('./cli.ts');
  run(args);
}

if (isMainModule(import.meta.url)) void start(commandArgs(process.argv));
