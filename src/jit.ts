/**
 * V8's optimizing compiler (TurboFan) held back while the daemon starts. The first function V8
 * optimizes with TurboFan brings the compiler's own code in: ~5.5 MiB of the node binary's pages
 * stay in the process's RSS from then on. Loading the bundle's ~30 files runs Node's module
 * resolution (path.resolve) often enough that V8 optimizes it with TurboFan, whether it does
 * depends on the install directory's name length, and an idle daemon then holds ~72 MiB instead
 * of ~66. Nothing at a start runs long enough to gain from TurboFan (Maglev, V8's faster compiler,
 * still optimizes it); the daemon allows TurboFan again before a run or verification starts and
 * once its start-up destination checks are done, so every backup it runs is compiled as before.
 *
 * Changed only while no other thread runs JavaScript (a backup's archive worker reads the same
 * process-wide flag): the daemon starts no worker before a run.
 */
import v8 from 'node:v8';

let deferred = false;

/** No TurboFan until allowOptimizingCompiler() (functions that get hot meanwhile are optimized by Maglev). */
export function deferOptimizingCompiler(): void {
  if (deferred) return;
  v8.setFlagsFromString('--turbo-filter=~');
  deferred = true;
}

/** TurboFan again, for every function (V8's default); a no-op unless deferred. */
export function allowOptimizingCompiler(): void {
  if (!deferred) return;
  v8.setFlagsFromString('--turbo-filter=*');
  deferred = false;
}
