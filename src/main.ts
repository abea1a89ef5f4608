#!/usr/bin/env node
/**
 * The command's entry (the image's dist/offsite.mjs; bin/offsite.mjs in a checkout): `offsite
 * backup` starts its archive worker first, so that the worker's own start (a second Node
 * environment, 0.1-0.4 s) runs beside the loading of the command's modules, the configuration
 * and the run's setup instead of after them; then the command (cli.ts) is loaded and run.
 * `node src/cli.ts` still runs a command without this head start.
 */
import { prestartArchiveWorker } from './archive/spare.ts';
import { commandArgs, isMainModule, makesArchive } from './command-args.ts';
import { resolveChunksDirectly } from './chunk-resolve.ts';

export async function start(args: string[]): Promise<void> {
  // the bundle's chunks import each other without Node's stat + realpath per import statement
  resolveChunksDirectly();
  // taken by the run's archive (run/backup.ts adopts it, and ends it if the run fails before archiving)
  if (makesArchive(args)) prestartArchiveWorker();
  const { run } = await import('./cli.ts');
  run(args);
}

if (isMainModule(import.meta.url)) void start(commandArgs(process.argv));
