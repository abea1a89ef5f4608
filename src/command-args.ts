/**
 * The command line as offsite reads it, before anything else is loaded (src/main.ts decides from
 * it whether to start the archive worker first).
 */
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The arguments of `process.argv`: `backup` on PATH in the image is offsite under offen's command
 * name, so `backup` runs every job and `backup print-config` prints the configuration.
 */
export function commandArgs(argv: readonly string[]): string[] {
  return basename(argv[1] ?? '') === 'backup' ? ['backup', ...argv.slice(2)] : argv.slice(2);
}

/** Whether the command makes an archive (`offsite backup`, also with --job or --stdout); not its help, not offen's `backup print-config`. */
export function makesArchive(args: readonly string[]): boolean {
  return args[0] === 'backup' && args[1] !== 'print-config' && !args.includes('--help') && !args.includes('-h');
}

/** True when the module at `moduleUrl` is the process's main module (also through a symlink such as /usr/local/bin/offsite). */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
