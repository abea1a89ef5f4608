/**
 * The typed errors of destinations. Each carries what the retry layer judges a failure by
 * (the service's HTTP status, its error code, and whether trying again can help), so no
 * error is given extra fields after it was made; a UserError's hint says what to check.
 */
import { UserError } from '../errors.ts';

export interface FailureFacts {
  /** HTTP status of the service's answer. */
  status?: number;
  /** The service's error code (`ENOENT` when the file does not exist). */
  code?: string | number;
  /** Whether trying again can help; unset: the retry layer judges by status and code. */
  transient?: boolean;
  cause?: unknown;
}

function assign(err: Error, facts: FailureFacts): void {
  const target = err as unknown as Record<string, unknown>;
  if (facts.status !== undefined) target.status = facts.status;
  if (facts.code !== undefined) target.code = facts.code;
  if (facts.transient !== undefined) target.transient = facts.transient;
}

/** An operation on a destination failed; the message says which operation, where, and why. */
export class DestinationError extends Error {
  declare readonly status?: number;
  declare readonly code?: string | number;
  declare readonly transient?: boolean;
  constructor(message: string, facts: FailureFacts = {}) {
    super(message, facts.cause === undefined ? undefined : { cause: facts.cause });
    this.name = 'DestinationError';
    assign(this, facts);
  }
}

/** A destination refused something the user can fix (credentials, path, permissions, a name taken): never retried by default. */
export class DestinationUserError extends UserError {
  declare readonly status?: number;
  declare readonly code?: string | number;
  declare readonly transient?: boolean;
  constructor(message: string, hint: string | undefined, facts: FailureFacts = {}) {
    super(message, hint, facts.cause === undefined ? undefined : { cause: facts.cause });
    assign(this, facts);
  }
}

/**
 * The upload cannot go on without the archive's size (more parts than the service allows
 * at the configured part size): the upload is tried again with the size once the archive is complete.
 */
export class NeedsSizeError extends DestinationUserError {
  constructor(message: string, hint: string, facts: FailureFacts = {}) {
    super(message, hint, facts);
    this.name = 'NeedsSizeError';
  }
}

/** The named file is not there. */
export class NotFoundError extends DestinationError {
  constructor(message: string, facts: Omit<FailureFacts, 'code' | 'transient'> = {}) {
    super(message, { ...facts, code: 'ENOENT', transient: false });
    this.name = 'NotFoundError';
  }
}
