/**
 * What a destination declares about itself: one object per destination, in
 * `src/destinations/<name>.def.ts`, listed once in registry.ts. Everything else
 * (the kinds, the known variables, which values are secrets, `offsite config`,
 * the usage text, the "no destination" and failure hints) is derived from the list.
 *
 * Modelled on rclone's `fs.RegInfo{Name, Options{Sensitive}, NewFs}` and restic's
 * `location.Factory{Scheme, ParseConfig, Create}`. The definition file never
 * imports the destination's SDK: `create` loads the implementation (and with it
 * the SDK) only when the destination is configured and used.
 */
import type { ConfigIssue } from '../errors.ts';
import type { Env } from '../config/validate.ts';
import type { Logger } from '../log.ts';
import type { RetrySettings } from './retry.ts';
import type { Destination } from './types.ts';

/** A failure hint: when the error text matches `test`, print `hint`. */
export interface Hint {
  test: RegExp;
  hint: string;
}

/** Network errors (a hint's `test`): the server cannot be reached. */
export const NETWORK_ERROR = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ETIMEDOUT|timed? ?out|socket hang up|getaddrinfo/i;
/** TLS errors (a hint's `test`): the certificate was refused. */
export const TLS_ERROR = /certificate|self[- ]signed|UNABLE_TO_VERIFY|CERT_|SSL|TLS/i;

/** What parse may use besides the environment. */
export interface ParseContext {
  /** Does this directory exist (tests replace it)? */
  dirExists(path: string): boolean;
  /** `$VAR` expansion of file names when BACKUP_FILENAME_EXPAND is set (identity otherwise). */
  expand(value: string): string;
}

/** What create gets besides the destination's own configuration. */
export interface CreateContext {
  log: Logger;
  /** BACKUP_RETRY_* and BACKUP_DESTINATION_TIMEOUT, shared by every destination. */
  retry: RetrySettings;
}

/**
 * One destination. `C` is its parsed configuration (what parse returns and create takes).
 * Rules: parse never does network I/O and never loads an SDK; every variable parse reads
 * is in `variables`; every variable whose value is a secret is in `secrets`.
 */
export interface DestinationDefinition<C = unknown> {
  /**
   * Stable id used in logs, RunStats, notifications and BACKUP_SKIP_BACKENDS_FROM_PRUNE
   * (the built-in ones are docker-volume-backup's storage names). Never change one.
   */
  readonly kind: string;
  /** How the usage text and hints name it (may differ from the kind). */
  readonly title: string;
  /** The variables it reads: an envalid spec with defaults and `desc`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly variables: Readonly<Record<string, any>>;
  /** Names (from `variables`) whose values are secrets: masked everywhere, in every encoding. */
  readonly secrets: readonly string[];
  /** What enables it, for hints: the bucket's variable. */
  readonly trigger: string;
  /** Variables its SDK reads from the process environment on its own: never reported as unknown. */
  readonly passthrough?: readonly string[];
  /**
   * Pairs of (user variable, password variable) sent together as HTTP Basic auth, so the
   * base64 of `user:password` is masked too.
   */
  readonly basicAuth?: ReadonlyArray<readonly [user: string, password: string]>;
  /** The configuration, or null when not configured or invalid (then `issues` say why). */
  parse(env: Env, issues: ConfigIssue[], ctx: ParseContext): C | null;
  /**
   * Where a backup named `name` lands on this machine's file system, for a destination that
   * writes there (COMMAND_RUNTIME_ARCHIVE_FILEPATH for the hooks' commands).
   */
  localPath?(config: C, name: string): string;
  /** The destination; loads the implementation and its SDK on first call. No network I/O. */
  create(config: C, ctx: CreateContext): Promise<Destination>;
  /** What to check when an operation failed with a matching message (first match wins). */
  readonly hints?: readonly Hint[];
  /**
   * Error names/codes of its service or SDK (`Code`, `code` or `name`): `transient` ones are
   * retried (throttling, a busy server), `permanent` ones never (credentials, a missing bucket).
   * Others are judged by HTTP status and socket error codes (retry.ts).
   */
  readonly errorCodes?: { readonly transient?: readonly string[]; readonly permanent?: readonly string[] };
  /** Error class names of its SDK that say nothing beyond the HTTP status (left out of failure texts). */
  readonly genericErrorNames?: readonly string[];
}

/** A destination this job uses: its kind and its parsed configuration. */
export interface ConfiguredDestination<C = unknown> {
  readonly kind: string;
  readonly config: C;
}

/** Type helper: `defineDestination({...})` checks the object and keeps `C`. */
export function defineDestination<C>(def: DestinationDefinition<C>): DestinationDefinition<C> {
  return def;
}
