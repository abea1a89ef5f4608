import type { Env } from './validate.ts';

/** Expand `$VAR` and `${VAR}` from env like Go's os.ExpandEnv (unset -> empty). */
export function expandVars(input: string, env: Env): string {
  return input.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a: string | undefined, b: string | undefined) => env[(a ?? b)!] ?? '');
}
