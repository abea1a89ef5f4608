import { statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { str } from 'envalid';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { registerSecretsFromEnv, declareVariables } from '../redact.ts';
import { loadGlobalEnv, loadJobs } from './env.ts';
import { parseSpine, filenameExpander, SPINE_SPEC, type SpineConfig } from './spine.ts';
import { parseContainers, CONTAINERS_SPEC, DOCKER_CLIENT_VARIABLES, type ContainersConfig } from '../containers/config.ts';
import { validateSection, oneOf, boolean, positiveDuration, type Env } from './validate.ts';
import { unknownVariables, prefixesOf, type VariableSources } from './known.ts';
import { parseNotifyConfig, NOTIFY_VARIABLES, NOTIFY_SECRETS, NOTIFY_BASIC_AUTH, type NotifyConfig } from '../notify/config.ts';
import { parseRetry, RETRY_SPEC, type RetrySettings } from '../destinations/config.ts';
import { parseDestinations, destinationVariables, destinationPassthrough, destinationSecrets, destinationBasicAuth } from '../destinations/registry.ts';
import type { ConfiguredDestination } from '../destinations/definition.ts';
import { parseEncryptionConfig, ENCRYPTION_SPEC, ENCRYPTION_SECRETS } from '../crypto/config.ts';
import type { EncryptionConfig } from '../crypto/types.ts';
import { parseVerifyConfig, VERIFY_SPEC, type VerifyConfig } from '../restore/config.ts';
import { parseDeprecated, DEPRECATED_SPEC } from '../compat/deprecated.ts';
import { parseHttpConfig, HTTP_SPEC, HTTP_SECRET_VARIABLES, type HttpConfig } from '../http/config.ts';

export type { Env };

/** Everything one job needs; one job per conf.d file (or `default`). Frozen. */
export interface JobConfig extends SpineConfig {
  /** `default`, or the conf.d file name without extension. */
  name: string;
  /** Where the job's settings came from (`environment` or a conf.d file path). */
  source: string;
  /** The job's resolved environment (X_FILE applied). Sections parse from it; never log it. */
  env: Readonly<Env>;
  /** Stop labels, exec labels, BACKUP_PRE_COMMAND / BACKUP_POST_COMMAND. */
  containers: ContainersConfig;
  /** Notifications (NOTIFICATION_URLS, NOTIFICATION_LEVEL, templates). */
  notify: NotifyConfig;
  /** Retry/timeout settings shared by every destination. */
  retry: RetrySettings;
  /** The destinations configured (each enabled by its trigger variable), in the registry's order; may be empty. */
  destinations: readonly ConfiguredDestination[];
  /** Archive encryption (at most one method) and the keys restore and verify decrypt with. */
  encryption: EncryptionConfig;
  /** VERIFY_CRON_EXPRESSION: scheduled verification of the newest backup. */
  verify: VerifyConfig;
  /** Deprecated settings that were read (logged at start-up, printed by print-config). */
  warnings: string[];
}

export interface Config {
  jobs: readonly JobConfig[];
  /** Cross-process lock file shared by the daemon and `offsite backup`. */
  lockFile: string;
  logLevel: string;
  logFormat: 'json' | 'pretty' | undefined;
  /** Where offsite keeps what it learns over time (verification history). */
  stateDir: string;
  /** OFFSITE_STOP_TIMEOUT: after SIGTERM/SIGINT the process exits within this (ms). */
  stopTimeoutMs: number;
  /** Problems that do not stop offsite (variables it does not read); printed at start. */
  warnings: readonly ConfigIssue[];
  /** The HTTP server, its tokens and the backup key, the push monitors (src/http/config.ts). */
  http: HttpConfig;
}

const PROCESS_SPEC = {
  LOG_LEVEL: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const)({ default: 'info' }),
  LOG_FORMAT: oneOf(['json', 'pretty', ''] as const)({ default: '' }),
  OFFSITE_LOCK_FILE: str({ default: '' }),
  OFFSITE_STATE_DIR: str({ default: '/var/lib/offsite' }),
  OFFSITE_STOP_TIMEOUT: positiveDuration({ default: 8000, desc: 'after SIGTERM/SIGINT, exit within this' }),
  OFFSITE_STRICT: boolean({ default: false, desc: 'a variable offsite does not read is a configuration error, not a warning' }),
  // read before the configuration is loaded (env.ts, cli.ts); declared here so they count as known
  OFFSITE_DOTENV: str({ default: '' }),
  OFFSITE_CONF_DIR: str({ default: '' }),
  OFFSITE_HEALTH_FILE: str({ default: '' }),
};

/**
 * Every variable name any section reads: these may be given as X_FILE.
 * Sections added later (destinations, notifications, ...) add their specs here.
 */
export function knownVariables(): Set<string> {
  return new Set<string>([
    ...Object.keys(SPINE_SPEC),
    ...Object.keys(PROCESS_SPEC),
    ...Object.keys(CONTAINERS_SPEC),
    ...Object.keys(RETRY_SPEC),
    ...EXTRA_VARIABLES,
    ...destinationVariables(),
    ...NOTIFY_VARIABLES,
    ...Object.keys(ENCRYPTION_SPEC),
    ...Object.keys(VERIFY_SPEC),
    ...Object.keys(DEPRECATED_SPEC),
    ...Object.keys(HTTP_SPEC),
  ]);
}

/**
 * Every variable whose value is a secret, declared by its section: masked in `offsite config`,
 * logs, errors and notifications, in every encoding (src/redact.ts). A section with secrets
 * (API tokens, ...) adds its list here; the name pattern of redact.ts is only the fallback
 * for variables no section declares.
 */
export function secretVariables(): Set<string> {
  return new Set<string>([...destinationSecrets(), ...ENCRYPTION_SECRETS, ...NOTIFY_SECRETS, ...HTTP_SECRET_VARIABLES]);
}

/** (user, password) variable pairs sent as HTTP Basic auth: base64(user:password) is masked too. */
function basicAuthVariables(): Array<readonly [string, string]> {
  return [...destinationBasicAuth(), ...NOTIFY_BASIC_AUTH];
}

/** Declare the known and secret variables to redact.ts (before any value is read). */
export function declareSecrets(): void {
  declareVariables({ known: knownVariables(), secrets: secretVariables(), basicAuth: basicAuthVariables() });
}

/** Names read outside envalid specs (sections that parse by hand). */
const EXTRA_VARIABLES: string[] = [];

/** Is a variable offsite's (one it reads, its X_FILE, or with one of its prefixes)? What `offsite config` and the status page show. */
export function isOffsiteVariable(k: string): boolean {
  const known = knownVariables();
  if (known.has(k) || (k.endsWith('_FILE') && known.has(k.slice(0, -5)))) return true;
  return prefixesOf(known).some((p) => k.startsWith(p));
}

/** Variables libraries read from the process environment on their own: never reported as unknown. */
export function passthroughVariables(): Set<string> {
  return new Set<string>([...destinationPassthrough(), ...DOCKER_CLIENT_VARIABLES]);
}

export interface LoadOptions {
  env?: Env;
  cwd?: string;
}

function dirExists(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Parse one job's environment into a JobConfig, collecting issues. */
export function parseJob(name: string, source: string, env: Env, issues: ConfigIssue[], exists: (p: string) => boolean = dirExists): JobConfig | null {
  const where = source === 'environment' ? '' : source;
  const local: ConfigIssue[] = [];
  const spine = parseSpine(env, local, availableParallelism());
  const containers = parseContainers(env, local);
  const notify = parseNotifyConfig(env, local);
  const retry = parseRetry(env, local);
  const destinations = parseDestinations(env, local, { dirExists: exists, expand: filenameExpander(env) });
  const encryption = parseEncryptionConfig(env, local);
  const verify = parseVerifyConfig(env, local);
  const deprecated = parseDeprecated(env, local);
  for (const i of local) issues.push(where ? { variable: i.variable, message: `${i.message} (in ${where})` } : i);
  if (!spine || !containers || !retry || !notify || !encryption || !verify || !deprecated || local.length > 0) return null;
  return {
    ...spine,
    name,
    source,
    env: Object.freeze({ ...env }),
    containers,
    notify,
    retry,
    destinations,
    encryption,
    verify,
    warnings: [...containers.warnings, ...deprecated],
  };
}

/**
 * Load and validate the whole configuration: process env, `.env`, X_FILE,
 * conf.d jobs. Throws ConfigError listing every problem at once.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const issues: ConfigIssue[] = [];
  declareSecrets();
  const known = knownVariables();
  const sources: VariableSources[] = [];
  const global = loadGlobalEnv({ env: opts.env, cwd: opts.cwd, known, sources }, issues);
  registerSecretsFromEnv(global);
  const proc = validateSection(global, PROCESS_SPEC, issues);
  const http = parseHttpConfig(global, issues);
  const raws = loadJobs(global, known, issues, sources);
  // names offsite does not read: typos warned about, errors with OFFSITE_STRICT=true
  const unknown = unknownVariables(sources, known, passthroughVariables());
  const warnings: ConfigIssue[] = [];
  if (proc.OFFSITE_STRICT) issues.push(...unknown.map((u) => ({ variable: u.variable, message: `${u.message} (OFFSITE_STRICT=true)` })));
  else warnings.push(...unknown);
  const jobs: JobConfig[] = [];
  for (const raw of raws) {
    registerSecretsFromEnv(raw.env);
    const job = parseJob(raw.name, raw.source, raw.env, issues);
    if (job) jobs.push(deepFreeze(job));
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze({
    jobs: Object.freeze(jobs),
    lockFile: proc.OFFSITE_LOCK_FILE || join(tmpdir(), 'offsite.lock'),
    logLevel: proc.LOG_LEVEL,
    logFormat: proc.LOG_FORMAT === '' ? undefined : proc.LOG_FORMAT,
    stateDir: proc.OFFSITE_STATE_DIR,
    stopTimeoutMs: proc.OFFSITE_STOP_TIMEOUT,
    warnings: Object.freeze(warnings),
    http: deepFreeze(http!),
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof RegExp) && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}
