/**
 * BACKUP_EXCLUDE_REGEXP in Go's regexp syntax (RE2), as offen reads it, through re2js (a
 * maintained JavaScript port of RE2): POSIX classes (`[[:digit:]]`), `\Q...\E`, `\z`,
 * `(?P<name>...)`, inline flags (`(?i)`, `(?s)`, `(?m)`, `(?U)`), and no backtracking
 * constructs (lookaround, backreferences are refused as in Go). Matching runs in linear
 * time, so a pattern can never stall a backup.
 *
 * Like offen, the pattern is searched for (unanchored, Go's MatchString) in each entry's
 * absolute path as the walk sees it: the source path itself, then `<dir>/<name>` below it.
 */
import type { RE2JS } from 're2js';
import { lazy } from '../lazy.ts';

/** Loaded when a pattern is compiled: a process or archive worker without BACKUP_EXCLUDE_REGEXP never loads it (~4 MiB each). */
const re2js = lazy<typeof import('re2js')>('re2js');

export interface ExcludePattern {
  /** The pattern as given. */
  readonly source: string;
  /** Does the pattern occur in `path` (Go's MatchString)? */
  test(path: string): boolean;
}

/** Compile a Go/RE2 pattern; throws an Error whose message is RE2's (`missing closing ): ...`). */
export function compileExclude(pattern: string): ExcludePattern {
  let re: RE2JS;
  try {
    re = re2js().RE2JS.compile(pattern);
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    throw new Error(m.replace(/^error parsing regexp: /, ''));
  }
  return { source: pattern, test: (path: string) => re.test(path) };
}
