/** One problem with one configuration variable or file. */
export interface ConfigIssue {
  /** The variable or file at fault, e.g. `BACKUP_CRON_EXPRESSION` or `/etc/dockervolumebackup/conf.d/a.env`. */
  variable: string;
  /** What was wrong and what was expected. Never contains the secret value. */
  message: string;
}

/** Invalid configuration: printed as a list, exit code EXIT.config, no stack trace. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.variable}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * A failure the user can act on (bad credentials, missing path, refused host key, ...):
 * printed as one clear line without a stack trace.
 */
export class UserError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
    this.hint = hint;
  }
}

/** Message of any thrown value, never undefined. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const msg = err.message || err.name || String(err);
    return code && !msg.includes(code) ? `${msg} (${code})` : msg;
  }
  return String(err);
}

/** A mistake on the command line (unknown command or option, missing argument): exit code EXIT.usage. */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = 'UsageError';
  }
}
