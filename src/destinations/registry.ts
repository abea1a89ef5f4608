/**
 * The one list of destinations. Adding a destination: a `<name>.ts` implementation and a
 * `<name>.def.ts` definition (see definition.ts and the README's "Writing a destination"),
 * and one line in DESTINATIONS. Everything else is derived from this list: the kinds, the
 * known variables, the declared secrets, `offsite config`, the usage text and the hints.
 *
 * A job's destinations are built in this order; each is enabled by its trigger variable.
 * Building one loads its implementation and SDK (lazily) and does no network I/O;
 * failures surface on first use.
 */
import type { Env } from '../config/validate.ts';
import type { JobConfig } from '../config/index.ts';
import type { ConfigIssue } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RetrySettings } from './retry.ts';
import type { Destination } from './types.ts';
import type { ConfiguredDestination, DestinationDefinition, ParseContext } from './definition.ts';
import { local } from './local.def.ts';
import { s3 } from './s3.def.ts';
import { webdav } from './webdav.def.ts';
import { sftp } from './sftp.def.ts';
import { azure } from './azure.def.ts';
import { dropbox } from './dropbox.def.ts';
import { gdrive } from './gdrive.def.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDefinition = DestinationDefinition<any>;

const DESTINATIONS: AnyDefinition[] = [local, s3, webdav, sftp, azure, dropbox, gdrive];

/** Every destination definition, in the order jobs build them. */
export function destinationDefinitions(): readonly AnyDefinition[] {
  return DESTINATIONS;
}

/**
 * Add a definition at run time (tests; the built-in ones are in the list above).
 * Returns a function that removes it again.
 */
export function registerDestination(def: AnyDefinition): () => void {
  if (DESTINATIONS.some((d) => d.kind.toLowerCase() === def.kind.toLowerCase())) throw new Error(`destination kind ${def.kind} is registered twice`);
  DESTINATIONS.push(def);
  return () => {
    const i = DESTINATIONS.indexOf(def);
    if (i >= 0) DESTINATIONS.splice(i, 1);
  };
}

/** The definition of a kind, or undefined. */
export function definitionOf(kind: string | undefined): AnyDefinition | undefined {
  return kind === undefined ? undefined : DESTINATIONS.find((d) => d.kind === kind);
}

/** The stable ids of the registered destinations (Local first). */
export function destinationKinds(): string[] {
  return DESTINATIONS.map((d) => d.kind);
}

/** Every variable a destination reads. */
export function destinationVariables(): string[] {
  return DESTINATIONS.flatMap((d) => Object.keys(d.variables));
}

/** Every variable declared secret by a destination. */
export function destinationSecrets(): string[] {
  return DESTINATIONS.flatMap((d) => d.secrets);
}

/** (user, password) variable pairs sent as HTTP Basic auth. */
export function destinationBasicAuth(): Array<readonly [string, string]> {
  return DESTINATIONS.flatMap((d) => d.basicAuth ?? []);
}

/** Variables the destinations' SDKs read on their own. */
export function destinationPassthrough(): string[] {
  return DESTINATIONS.flatMap((d) => d.passthrough ?? []);
}

/** `S3, WebDAV or ...`: the remote destinations' titles, for usage text and hints. */
export function remoteDestinationTitles(conjunction = 'or'): string {
  const titles = DESTINATIONS.filter((d) => d.kind !== local.kind).map((d) => d.title);
  return titles.length <= 1 ? titles.join('') : `${titles.slice(0, -1).join(', ')} ${conjunction} ${titles[titles.length - 1]}`;
}

/** The hint for a job without any destination. */
export function noDestinationHint(): string {
  const remote = DESTINATIONS.filter((d) => d.kind !== local.kind).map((d) => `${d.title} (${d.trigger.split(/,| and /)[0]!.trim()})`);
  return `mount a directory at /archive (or set BACKUP_ARCHIVE) or configure ${remote.length > 1 ? `${remote.slice(0, -1).join(', ')} or ${remote[remote.length - 1]}` : remote.join('')}`;
}

/** Where a backup named `name` lands on this machine (the first destination that writes here), or ''. */
export function localArchivePath(job: { destinations: readonly ConfiguredDestination[] }, name: string): string {
  for (const d of job.destinations) {
    const def = definitionOf(d.kind);
    if (def?.localPath) return def.localPath(d.config, name);
  }
  return '';
}

/** Parse every destination of a job's environment: those configured, in list order. */
export function parseDestinations(env: Env, issues: ConfigIssue[], ctx: ParseContext): ConfiguredDestination[] {
  const out: ConfiguredDestination[] = [];
  for (const def of DESTINATIONS) {
    const config = def.parse(env, issues, ctx);
    if (config !== null && config !== undefined) out.push({ kind: def.kind, config });
  }
  return out;
}

/** Build a job's destinations (loads their implementations; no network I/O). */
export async function createDestinations(job: { destinations: readonly ConfiguredDestination[]; retry: RetrySettings }, log: Logger): Promise<Destination[]> {
  const out: Destination[] = [];
  for (const c of job.destinations) {
    const def = definitionOf(c.kind);
    if (!def) throw new Error(`no destination of kind ${c.kind} is registered`);
    out.push(await def.create(c.config, { log, retry: job.retry }));
  }
  return out;
}

/** How commands get a job's destinations (tests pass their own, possibly synchronous). */
export type MakeDestinations = (job: JobConfig, log: Logger) => Destination[] | Promise<Destination[]>;

/**
 * What `offsite config` shows of a configured destination: its kind and its variables
 * (set or defaulted), each declared secret as `***`.
 */
export function describeConfigured(d: ConfiguredDestination, env: Env): { kind: string; variables: Record<string, string> } {
  const def = definitionOf(d.kind);
  const variables: Record<string, string> = {};
  if (def) {
    for (const [name, spec] of Object.entries(def.variables)) {
      const set = env[name];
      const fallback = (spec as { default?: unknown }).default;
      const value = set !== undefined && set !== '' ? set : fallback === undefined || fallback === '' ? undefined : String(fallback);
      if (value === undefined) continue;
      variables[name] = def.secrets.includes(name) ? '***' : value;
    }
  }
  return { kind: d.kind, variables };
}
