/**
 * What to check after a destination failed: the variable(s) to look at, from
 * the destination kind and the error text. Printed once with the failure
 * (terminal summary, log line, notification).
 */
import type { DestinationKind } from '../destinations/types.ts';
import { definitionOf } from '../destinations/registry.ts';

/** The hint for a failure of this destination, or undefined when nothing specific applies. */
export function hintFor(kind: DestinationKind | undefined, message: string): string | undefined {
  if (!kind) return undefined;
  // each destination declares its rules with its definition (src/destinations/<name>.def.ts)
  for (const r of definitionOf(kind)?.hints ?? []) if (r.test.test(message)) return r.hint;
  return undefined;
}

/** The hints of a run's failed destinations, one per distinct hint. */
export function hintsFor(failures: ReadonlyArray<{ destination: DestinationKind; error?: string }>): string[] {
  const out: string[] = [];
  for (const f of failures) {
    const h = hintFor(f.destination, f.error ?? '');
    if (h && !out.includes(`${f.destination}: ${h}`)) out.push(`${f.destination}: ${h}`);
  }
  return out;
}
