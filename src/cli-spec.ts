/**
 * The one table of offsite's commands and their options. The usage text, each command's
 * `--help` and the argument parser (node:util parseArgs, strict) are all made from it:
 * a command or option added here is parsed, checked and documented at once.
 */
import { remoteDestinationTitles } from './destinations/registry.ts';
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** May be given several times (the value is an array). */
  multiple?: boolean;
  /** Name of the value in help texts, e.g. `DIR`. */
  arg?: string;
  /** The command refuses to run without it. */
  required?: boolean;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** One line in `offsite help`. */
  summary: string;
  /** Positional arguments as shown in the synopsis, e.g. `[NAME|latest]`. */
  args?: string;
  /** How many positional arguments the command takes: [min, max]. */
  positionals?: [number, number];
  options?: Record<string, OptionSpec>;
  /** More text for `offsite <command> --help`. */
  details?: string;
}

const JOB: OptionSpec = { type: 'string', arg: 'NAME', help: 'only this conf.d job (the name of its file without .env)' };
const JSON_OUT: OptionSpec = { type: 'boolean', help: 'print JSON instead of a table' };

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'daemon',
    summary: "run every job on its schedule until SIGTERM (the image's default)",
  },
  {
    name: 'backup',
    summary: 'run every job once, now',
    options: {
      job: { ...JOB, help: 'run only this conf.d job (the name of its file without .env)' },
      stdout: { type: 'boolean', help: "write a fresh archive of the job's sources to stdout instead (nothing is stored or pruned)" },
      key: { type: 'string', arg: 'HEX', help: "with --stdout: encrypt it in offsite's AES format with this 64-hex key" },
    },
    details:
      'With several jobs the exit code is the worst of them.\n' +
      "`offsite backup --stdout > backup.tar.gz` (SysReptor's `manage.py backup`): the archive of one job, in its\n" +
      'compression (gz: `tar -xzf` reads it); `offsite restore - --to DIR` reads it back.',
  },
  {
    name: 'config',
    summary: 'print the resolved configuration of each job (secrets redacted)',
    options: { json: { type: 'boolean', help: 'always print a JSON array, even for one job' } },
  },
  {
    name: 'print-config',
    summary: 'print the configuration as offen does (`backup print-config`): source=, warning: and Field:value lines, secrets masked',
  },
  {
    name: 'notify-test',
    summary: 'send a test message to every notification URL and print each result',
  },
  {
    name: 'list',
    summary: 'list the backups on every destination',
    options: {
      destination: { type: 'string', arg: 'NAME', help: 'only this destination (its kind, e.g. local; `offsite config` lists them)' },
      json: JSON_OUT,
      job: JOB,
    },
  },
  {
    name: 'ls',
    summary: 'list the paths inside a backup (like tar -t), as restore --include takes them',
    args: 'NAME|latest',
    positionals: [1, 1],
    options: {
      from: { type: 'string', arg: 'DEST', help: 'the destination to read from (needed when several are configured)' },
      json: { type: 'boolean', help: 'one JSON object per line: path, type, size, mode, mtime, uid, gid, linkname' },
      job: JOB,
    },
    details: 'Paths stream out as the backup is decoded; the same checks as verify run on every entry.',
  },
  {
    name: 'restore',
    summary: 'restore a backup into a directory (checked, decrypted, all or nothing)',
    args: '[NAME|latest|-]',
    positionals: [0, 1],
    options: {
      to: { type: 'string', arg: 'DIR', required: true, help: 'the directory to restore into' },
      from: { type: 'string', arg: 'DEST', help: 'the destination to read from (needed when several are configured)' },
      include: {
        type: 'string',
        multiple: true,
        arg: 'PATH',
        help: 'restore only this path as `offsite ls` lists it (a directory with all below it), or a glob (backup/app/**/*.conf); an absolute source path (/backup/app/x) works for archives of every offsite version',
      },
      force: { type: 'boolean', help: 'restore into a directory that is not empty' },
      key: { type: 'string', arg: 'HEX', help: 'with -: the 64-hex AES key the archive was made with (backup --stdout --key)' },
      job: JOB,
    },
    details:
      'NAME defaults to latest, the newest backup (by the time in its name, then modification time).\n' +
      '`-` reads the archive from stdin (`cat backup.tar.gz | offsite restore - --to DIR`).',
  },
  {
    name: 'verify',
    summary: 'download a backup, check its SHA-256 and manifest, decode it all without writing files',
    args: '[NAME|latest]',
    positionals: [0, 1],
    options: {
      from: { type: 'string', arg: 'DEST', help: 'only this destination (default: every destination)' },
      json: JSON_OUT,
      job: JOB,
    },
  },
  {
    name: 'export',
    summary: 'copy a backup as stored to a local file or into a directory',
    args: 'NAME|latest FILE|DIR/',
    positionals: [2, 2],
    options: {
      from: { type: 'string', arg: 'DEST', help: 'the destination to read from' },
      job: JOB,
    },
  },
  {
    name: 'import',
    summary: 'upload a local archive (e.g. from export) to the destinations',
    args: 'FILE',
    positionals: [1, 1],
    options: {
      to: { type: 'string', arg: 'DEST', help: 'only this destination' },
      force: { type: 'boolean', help: 'replace a backup of the same name' },
      job: JOB,
    },
  },
  {
    name: 'prune',
    summary: 'apply the retention policy now to every destination: each backup kept (and why) or removed',
    options: {
      'dry-run': { type: 'boolean', help: 'delete nothing; print what would be kept and removed' },
      json: JSON_OUT,
      job: JOB,
    },
    details:
      'Uses BACKUP_RETENTION_KEEP_* (or BACKUP_RETENTION_DAYS) of each job; BACKUP_SKIP_BACKENDS_FROM_PRUNE\n' +
      'destinations are left alone. Without --dry-run it waits for a running backup (the lock) first.\n' +
      'Exit code 1 when a destination could not be listed or pruned.',
  },
  {
    name: 'check',
    summary: 'check every destination now (reachable, credentials accepted, a probe file written and removed); one line each, exit 1 when one fails',
    options: { job: JOB },
    details:
      'Each check is bounded by 60 s (or BACKUP_DESTINATION_TIMEOUT when shorter). The daemon runs the same checks when it starts and warns about any that fail.',
  },
  {
    name: 'token',
    summary: "manage the HTTP API's tokens: create NAME --scopes ..., list, reset NAME, revoke NAME",
    args: 'create|list|reset|revoke [NAME]',
    positionals: [1, 2],
    options: {
      scopes: { type: 'string', arg: 'LIST', help: 'create: what the token may do, comma separated: read, run, download' },
      json: JSON_OUT,
    },
    details:
      'create and reset print the token once; only a salted hash is kept in OFFSITE_STATE_DIR.\n' +
      'A token with download scope is notified to every NOTIFICATION_URLS target and works only after\n' +
      'OFFSITE_TOKEN_ACTIVATION_DELAY. reset makes a new secret (the old one stops working at once).',
  },
  {
    name: 'healthcheck',
    summary: "exit 0 when the daemon is alive and every job's last run succeeded within its schedule's interval (the image's HEALTHCHECK)",
  },
  {
    name: 'version',
    summary: 'print the version',
  },
  {
    name: 'help',
    summary: "print this help, or a command's help",
    args: '[COMMAND]',
    positionals: [0, 1],
  },
];

const HELP_OPTION: OptionSpec = { type: 'boolean', help: 'print this help and do nothing else' };

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

function optionLabel(name: string, o: OptionSpec): string {
  return `--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
}

export function synopsis(c: CommandSpec): string {
  const parts = [`offsite ${c.name}`];
  if (c.args) parts.push(c.args);
  for (const [name, o] of Object.entries(c.options ?? {})) {
    const label = `${optionLabel(name, o)}${o.multiple ? ' ...' : ''}`;
    parts.push(o.required ? label : `[${label}]`);
  }
  return parts.join(' ');
}

/** `offsite help`: every command with its one-line summary. */
export function usage(version: string): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  const lines = [
    `offsite ${version} — backups of mounted volumes to a local directory, ${remoteDestinationTitles('and')}`,
    '',
    'Usage: offsite <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    'Run `offsite <command> --help` for the options of a command.',
    'Exit codes: 0 success, 1 failure, 2 configuration error, 3 partial (some',
    'destinations failed), 4 degraded (some files could not be read), 5 usage error.',
    'Configuration comes from environment variables (see README.md).',
  ];
  return lines.join('\n');
}

/** `offsite <command> --help`. */
export function commandHelp(c: CommandSpec): string {
  const options: Array<[string, OptionSpec]> = [...Object.entries(c.options ?? {}), ['help', HELP_OPTION]];
  const labels = options.map(([n, o]) => (n === 'help' ? '-h, --help' : optionLabel(n, o)));
  const w = Math.max(...labels.map((l) => l.length)) + 2;
  const lines = [`Usage: ${synopsis(c)}`, '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`];
  if (c.details) lines.push(c.details);
  lines.push('', 'Options:');
  options.forEach(([, o], i) => lines.push(`  ${labels[i]!.padEnd(w)}${o.help}${o.multiple ? ' (repeatable)' : ''}${o.required ? ' (required)' : ''}`));
  return lines.join('\n');
}

/** Optimal string alignment distance: insertions, deletions, substitutions, swaps of neighbours. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known word nearest to `word`, when it is near enough to be a likely typo. */
export function nearest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(word.toLowerCase(), k.toLowerCase());
    if (dist < bestD) {
      best = k;
      bestD = dist;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(word.length, 2) / 3));
  if (best !== undefined && bestD <= limit) return best;
  // a prefix (`--dest` for `--destination`) is a likely slip too
  return known.find((k) => word.length >= 3 && k.startsWith(word));
}

export type Parsed =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'run'; command: CommandSpec; values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };

function optionNames(c: CommandSpec): string[] {
  return [...Object.keys(c.options ?? {}), 'help'];
}

function helpHint(c: CommandSpec): string {
  return `run \`offsite ${c.name} --help\` for its options`;
}

/** Parse `offsite <command> [options]`; a mistake throws UsageError (exit 5). */
export function parseCommandLine(argv: readonly string[], version: string): Parsed {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given', `commands: ${COMMANDS.map((c) => c.name).join(', ')}; run \`offsite help\``);
  if (first === '--help' || first === '-h') return { kind: 'help', text: usage(version) };
  if (first === '--version') return { kind: 'version' };
  if (first.startsWith('-')) throw new UsageError(`${first}: options come after the command`, 'usage: offsite <command> [options]; run `offsite help`');
  const command = findCommand(first);
  if (!command) {
    const near = nearest(
      first,
      COMMANDS.map((c) => c.name),
    );
    throw new UsageError(
      `unknown command "${first}"${near ? ` (did you mean ${near}?)` : ''}`,
      `commands: ${COMMANDS.map((c) => c.name).join(', ')}; run \`offsite help\``,
    );
  }
  return parseCommand(command, rest, version);
}

/** Parse one command's arguments against its entry in COMMANDS. */
export function parseCommand(command: CommandSpec, args: readonly string[], version = ''): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(command.options ?? {})) options[name] = { type: o.type, ...(o.multiple ? { multiple: true } : {}) };

  // --help wins over every other argument, right or wrong
  const loose = parseArgs({ args: [...args], options, allowPositionals: true, strict: false, tokens: true });
  if (loose.tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { kind: 'help', text: commandHelp(command) };
  const known = optionNames(command);
  for (const t of loose.tokens) {
    if (t.kind !== 'option' || options[t.name]) continue;
    const near = nearest(t.name, known);
    const list = known.map((n) => `--${n}`).join(', ');
    throw new UsageError(
      `${command.name}: unknown option ${t.rawName}${near ? ` (did you mean --${near}?)` : ''}`,
      command.options ? `${command.name} takes ${list}; ${helpHint(command)}` : `${command.name} takes no options (only --help)`,
    );
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    // e.g. "Option '--to <value>' argument missing"
    throw new UsageError(`${command.name}: ${(e as Error).message.replace(/\s+/g, ' ').trim()}`, helpHint(command));
  }
  const { values, positionals } = parsed;
  const [min, max] = command.positionals ?? [0, 0];
  if (positionals.length > max) {
    const extra = positionals
      .slice(max)
      .map((p) => `"${p}"`)
      .join(' ');
    throw new UsageError(
      max === 0 ? `${command.name} takes no arguments, got ${extra}` : `${command.name} takes ${command.args}; unexpected ${extra}`,
      `usage: ${synopsis(command)}`,
    );
  }
  if (positionals.length < min) throw new UsageError(`${command.name} needs ${command.args}`, `usage: ${synopsis(command)}`);
  for (const [name, o] of Object.entries(command.options ?? {})) {
    if (o.required && values[name] === undefined) throw new UsageError(`${command.name} needs ${optionLabel(name, o)}`, `usage: ${synopsis(command)}`);
  }
  if (command.name === 'help') {
    const about = positionals[0];
    if (about === undefined) return { kind: 'help', text: usage(version) };
    const c = findCommand(about);
    if (!c) {
      const near = nearest(
        about,
        COMMANDS.map((x) => x.name),
      );
      throw new UsageError(`unknown command "${about}"${near ? ` (did you mean ${near}?)` : ''}`, `commands: ${COMMANDS.map((x) => x.name).join(', ')}`);
    }
    return { kind: 'help', text: commandHelp(c) };
  }
  delete (values as Record<string, unknown>).help;
  return { kind: 'run', command, values: values as Record<string, string | boolean | string[] | undefined>, positionals };
}
