/**
 * Libraries loaded on first use, not at start: a process that never encrypts, sends
 * e-mail, renders Handlebars or talks to Docker never loads (or pays memory for) those
 * libraries. `require()` loads CommonJS and ES modules alike, synchronously (Node 22.12+),
 * so call sites stay synchronous. Destinations load theirs through their definition's
 * `create` (src/destinations/registry.ts).
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** A function returning the module `name`, loading it on the first call. */
export function lazy<T>(name: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= load(name) as T);
}
