import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, basename, extname, resolve } from 'node:path';
import dotenv from 'dotenv';
import { quote, type ConfigIssue } from '../errors.ts';
import type { Env } from './validate.ts';
import { shellExpand } from './expand.ts';
import { readBoundedFile } from './files.ts';
import type { VariableSources } from './known.ts';

export const DEFAULT_CONF_DIR = '/etc/dockervolumebackup/conf.d';

export interface RawJob {
  /** `default` for the global environment, else the conf.d file's name without extension. */
  name: string;
  /** Where this job's settings come from (for messages). */
  source: string;
  env: Env;
}

export interface LoadEnvOptions {
  env?: Env;
  /** Directory holding `.env`; default the working directory. */
  cwd?: string;
  /** Variables that may be given as X_FILE. */
  known: ReadonlySet<string>;
  /** Collects the names set in the environment and the .env file, for the unknown-variable check. */
  sources?: VariableSources[];
}

/**
 * The global environment: process env, then `.env` filling what is unset
 * (OFFSITE_DOTENV names another file), then X_FILE resolved for known X.
 */
export function loadGlobalEnv(opts: LoadEnvOptions, issues: ConfigIssue[]): Env {
  const env: Env = { ...(opts.env ?? process.env) };
  opts.sources?.push({ where: 'environment', names: Object.keys(env) });
  const dotenvPath = env.OFFSITE_DOTENV ? resolve(opts.cwd ?? process.cwd(), env.OFFSITE_DOTENV) : join(opts.cwd ?? process.cwd(), '.env');
  if (existsSync(dotenvPath)) {
    const read = readBoundedFile(dotenvPath);
    if (read.ok) {
      const parsed = dotenv.parse(read.text);
      for (const [k, v] of Object.entries(parsed)) if (env[k] === undefined) env[k] = v;
      opts.sources?.push({ where: dotenvPath, names: Object.keys(parsed) });
    } else {
      issues.push({ variable: env.OFFSITE_DOTENV ? 'OFFSITE_DOTENV' : dotenvPath, message: `the .env file ${dotenvPath} ${read.problem}` });
    }
  } else if (env.OFFSITE_DOTENV) {
    issues.push({ variable: 'OFFSITE_DOTENV', message: `the file ${dotenvPath} does not exist` });
  }
  return resolveFileVariables(env, opts.known, issues, '');
}

/**
 * Jobs: one per file in the conf.d directory (OFFSITE_CONF_DIR, default
 * /etc/dockervolumebackup/conf.d), each overriding the global environment;
 * with no such files, one job named `default` from the global environment.
 */
export function loadJobs(globalEnv: Env, known: ReadonlySet<string>, issues: ConfigIssue[], sources?: VariableSources[]): RawJob[] {
  const dir = globalEnv.OFFSITE_CONF_DIR || DEFAULT_CONF_DIR;
  let files: string[] = [];
  if (existsSync(dir)) {
    try {
      files = readdirSync(dir)
        .filter((f) => !f.startsWith('.'))
        .filter((f) => {
          try {
            return statSync(join(dir, f)).isFile();
          } catch {
            return false;
          }
        })
        .sort();
    } catch (e) {
      issues.push({ variable: dir, message: `cannot read the conf.d directory: ${(e as Error).message}` });
    }
  } else if (globalEnv.OFFSITE_CONF_DIR) {
    issues.push({ variable: 'OFFSITE_CONF_DIR', message: `the directory ${dir} does not exist` });
  }
  if (files.length === 0) return [{ name: 'default', source: 'environment', env: globalEnv }];

  const jobs: RawJob[] = [];
  const names = new Set<string>();
  for (const f of files) {
    const path = join(dir, f);
    const name = basename(f, extname(f)) || f;
    if (names.has(name)) {
      issues.push({ variable: path, message: `two conf.d files give the job name ${quote(name)}; rename one` });
      continue;
    }
    names.add(name);
    const read = readBoundedFile(path);
    if (!read.ok) {
      issues.push({ variable: path, message: `the conf.d file ${read.problem}` });
      continue;
    }
    let parsed: Record<string, string>;
    try {
      parsed = sourceConfFile(read.text, globalEnv);
    } catch (e) {
      issues.push({ variable: path, message: (e as Error).message });
      continue;
    }
    sources?.push({ where: path, names: Object.keys(parsed) });
    const env: Env = { ...globalEnv };
    for (const [k, v] of Object.entries(parsed)) {
      // A file that sets X overrides an inherited X_FILE, and the other way round.
      if (k.endsWith('_FILE')) delete env[k.slice(0, -5)];
      else delete env[`${k}_FILE`];
      env[k] = v;
    }
    jobs.push({ name, source: path, env: resolveFileVariables(env, known, issues, path) });
  }
  return jobs;
}

/**
 * Read one conf.d file as offen does: line by line, `#` lines skipped, each line expanded
 * shell-style (`$VAR`, `${VAR}`, `${VAR:-default}`) from the file's earlier lines and then the
 * environment, then parsed as a dotenv line (quotes removed). Throws naming the line.
 */
export function sourceConfFile(text: string, env: Env): Record<string, string> {
  const result: Record<string, string> = {};
  const lookup = (name: string) => (Object.hasOwn(result, name) ? result[name] : env[name]);
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    let expanded: string;
    try {
      expanded = shellExpand(line, lookup);
    } catch (e) {
      throw new Error(`line ${n + 1}: ${(e as Error).message}`);
    }
    for (const [k, v] of Object.entries(dotenv.parse(expanded))) result[k] = v;
  }
  return result;
}

/** Replace X_FILE by the file's contents under X (trailing newline trimmed). X and X_FILE both set is an error. */
export function resolveFileVariables(env: Env, known: ReadonlySet<string>, issues: ConfigIssue[], where: string): Env {
  const out: Env = { ...env };
  const suffix = where ? ` (in ${where})` : '';
  for (const key of Object.keys(env)) {
    if (!key.endsWith('_FILE')) continue;
    const name = key.slice(0, -5);
    if (!known.has(name)) continue;
    const path = env[key];
    if (!path) continue;
    if (env[name] !== undefined && env[name] !== '') {
      issues.push({ variable: key, message: `both ${name} and ${key} are set; set only one${suffix}` });
      continue;
    }
    const read = readBoundedFile(path);
    if (read.ok) {
      out[name] = read.text.replace(/\r?\n$/, '');
      delete out[key];
    } else {
      issues.push({ variable: key, message: `the file ${path} ${read.problem}${suffix}` });
    }
  }
  return out;
}
