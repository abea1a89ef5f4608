import { redact } from './redact.ts';

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
    // a last guard for text that did not go through quote(): no raw control characters, no endless lines
    const safe = issues.map((i) => ({ variable: capMessage(escapeControls(i.variable)), message: capMessage(escapeControls(i.message)) }));
    super(safe.map((i) => `${i.variable}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = safe;
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

/** How many characters of a value a message quotes before cutting it. */
export const QUOTE_MAX_CHARS = 80;

/**
 * A user's value as error messages quote it: secrets masked, cut to the first
 * QUOTE_MAX_CHARS characters (`… (N bytes)` tells the full size) and escaped
 * JSON-style, so a control character (`\n`, `\x1b`) can neither break a log line
 * nor drive a terminal. Every configuration message quotes values through this.
 */
export function quote(value: string | undefined): string {
  const raw = value ?? '';
  const masked = redact(raw);
  const chars = Array.from(masked);
  const cut = chars.length > QUOTE_MAX_CHARS ? chars.slice(0, QUOTE_MAX_CHARS).join('') : masked;
  const escaped = JSON.stringify(cut)
    .replace(/\\u001b/g, '\\x1b')
    // JSON leaves DEL, C1 controls, line/paragraph separators and bidi overrides raw
    .replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut === masked ? escaped : `${escaped}… (${Buffer.byteLength(raw)} bytes)`;
}

/** Escape control characters in a whole message (a last guard for text that did not go through quote()). */
export function escapeControls(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
      const code = c.charCodeAt(0);
      return code === 0x1b ? '\\x1b' : code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    })
    .replace(/\n/g, '\\n');
}

/** The longest message a configuration issue prints; quote() keeps values far shorter. */
const MESSAGE_MAX_CHARS = 1000;

function capMessage(text: string): string {
  return text.length > MESSAGE_MAX_CHARS ? `${text.slice(0, MESSAGE_MAX_CHARS)}… (${text.length} characters)` : text;
}
