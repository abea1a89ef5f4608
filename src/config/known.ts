/**
 * Variables offsite does not read. A name with one of offsite's prefixes that no
 * section declares is most likely a typo (`BACKUP_CRON_EXPRESION` silently runs
 * `@daily`): each gets a warning naming the nearest known name, or, with
 * OFFSITE_STRICT=true, a configuration error.
 *
 * The known names come from the sections' specs (see knownVariables() in
 * index.ts); this file only holds names of *other* software: variables the SDKs
 * and the shell read on their own, and docker-volume-backup's variables that
 * offsite does not implement.
 */
import { closestMatch } from 'leven';
import type { ConfigIssue } from '../errors.ts';

/** Set by the shell, ssh or gpg-agent around a CLI run; never offsite's. */
const SHELL_VARIABLES = [
  'SSH_AUTH_SOCK',
  'SSH_AGENT_PID',
  'SSH_CLIENT',
  'SSH_CONNECTION',
  'SSH_TTY',
  'SSH_ASKPASS',
  'SSH_ASKPASS_REQUIRE',
  'SSH_ORIGINAL_COMMAND',
  'GPG_TTY',
  'GPG_AGENT_INFO',
  'DOCKER_CONFIG',
  'DOCKER_CONTEXT',
  'DOCKER_BUILDKIT',
  'DOCKER_DEFAULT_PLATFORM',
  'DOCKER_CONTENT_TRUST',
];

/**
 * docker-volume-backup variables offsite does not implement, with what to do instead.
 * They are told apart from typos: "not supported by offsite", never "did you mean". (offen names offsite
 * does read, such as BACKUP_FROM_SNAPSHOT or DOCKER_API_VERSION, are declared in their sections' specs.)
 */
export const OFFEN_UNSUPPORTED: Readonly<Record<string, string>> = {
  // empty: offsite reads every variable offen documents
};

export interface VariableSources {
  /** `environment`, or the .env / conf.d file the names were set in. */
  where: string;
  names: readonly string[];
}

/** Prefixes of offsite's variables (`BACKUP_`, `AWS_`, ...), derived from the known names. */
export function prefixesOf(known: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const name of known) {
    const i = name.indexOf('_');
    if (i > 0) out.add(name.slice(0, i + 1));
  }
  return [...out].sort();
}

/**
 * Nearest known name to a misspelt one: the smallest edit distance within about a
 * quarter of the name's length, else a known name that extends it
 * (`BACKUP_CRON` -> `BACKUP_CRON_EXPRESSION`, `NOTIFICATION_URL` -> `NOTIFICATION_URLS`).
 */
export function nearestKnown(name: string, known: readonly string[]): string | undefined {
  const upper = name.toUpperCase();
  if (upper !== name && known.includes(upper)) return upper;
  const sorted = [...known].sort();
  const close = closestMatch(upper, sorted, { maxDistance: Math.max(2, Math.ceil(upper.length / 4)) });
  if (close !== undefined) return close;
  return sorted
    .filter((k) => k.startsWith(upper) || upper.startsWith(k))
    .sort((a, b) => Math.abs(a.length - upper.length) - Math.abs(b.length - upper.length))[0];
}

/**
 * One issue per name that offsite does not read: has one of offsite's prefixes (or
 * is a docker-volume-backup name) and is neither known nor read by a library
 * (`passthrough`). `X_FILE` is fine when X is known.
 */
export function unknownVariables(
  sources: readonly VariableSources[],
  known: ReadonlySet<string>,
  passthrough: ReadonlySet<string>,
  unsupported: Readonly<Record<string, string>> = OFFEN_UNSUPPORTED,
): ConfigIssue[] {
  const prefixes = prefixesOf(known);
  const knownList = [...known];
  const shell = new Set(SHELL_VARIABLES);
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const { where, names } of sources) {
    const suffix = where === 'environment' ? '' : ` (in ${where})`;
    for (const name of names) {
      const isFile = name.endsWith('_FILE') && name.length > 5;
      const base = isFile ? name.slice(0, -5) : name;
      if (known.has(base) || known.has(name) || passthrough.has(name) || shell.has(name)) continue;
      const key = `${name}\0${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const offen = unsupported[base];
      if (offen) {
        issues.push({ variable: name, message: `is a docker-volume-backup variable not supported by offsite: ${offen}${suffix}` });
        continue;
      }
      if (!prefixes.some((p) => base.toUpperCase().startsWith(p))) continue;
      const near = nearestKnown(base, knownList);
      issues.push({
        variable: name,
        message: near
          ? `is not a variable offsite reads: did you mean ${isFile ? `${near}_FILE` : near}?${suffix}`
          : `is not a variable offsite reads (README.md lists every variable)${suffix}`,
      });
    }
  }
  return issues;
}
