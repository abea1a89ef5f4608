/**
 * The bundle's chunks (scripts/bundle.ts: `chunk-<hash>.mjs`, next to each other) import each other
 * as `./chunk-<hash>.mjs`. Node resolves every such import statement afresh: a stat, a realpath
 * and a file URL made from it, each through path.resolve. Loading the ~30 files of a command made
 * ~180 of them, enough for V8 to optimize Node's path normalization with TurboFan, whose first
 * compile brings ~5.5 MiB of the compiler's own code into the process (an idle daemon 71-72 MiB
 * instead of 66; whether it happened depended on the install directory's name length). This
 * resolve hook (node:module registerHooks, installed by src/main.ts) takes such an import as the
 * file next to its importer, as Node would: the chunks are regular files in one directory (the
 * importer's URL is already the real path). Any other specifier, and every file of a checkout
 * (`.ts`), goes through Node's own resolution. A missing chunk still fails its import (ENOENT
 * when Node loads it).
 */
import { registerHooks, type ResolveHookContext, type ResolveFnOutput } from 'node:module';

/** The bundle's chunk file names (scripts/bundle.ts's chunkNames `chunk-[hash]`, outExtension `.mjs`). */
const CHUNK = /^\.\/chunk-[A-Za-z0-9]+\.mjs$/;

export function resolveChunk(
  specifier: string,
  context: ResolveHookContext,
  next: (specifier: string, context?: Partial<ResolveHookContext>) => ResolveFnOutput,
): ResolveFnOutput {
  const parent = context.parentURL;
  if (parent?.startsWith('file:') && CHUNK.test(specifier)) return { url: new URL(specifier, parent).href, format: 'module', shortCircuit: true };
  return next(specifier, context);
}

/** Installs resolveChunk for this thread's module loading. */
export function resolveChunksDirectly(): void {
  registerHooks({ resolve: resolveChunk });
}
