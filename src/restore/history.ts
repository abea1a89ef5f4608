/**
 * Verification history: the outcome of every `offsite verify` and scheduled
 * verification, kept in OFFSITE_STATE_DIR/verifications.json so `offsite list`
 * can show when each backup was last verified. Best effort: a state directory
 * that cannot be written is logged, never fails a verification.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';

export interface VerificationRecord {
  location: string;
  name: string;
  /** ISO time the verification finished. */
  at: string;
  ok: boolean;
  /** False when only the hash could be checked (no decryption key). */
  contentChecked: boolean;
}

/** Most records kept (oldest dropped first). */
const MAX_RECORDS = 5000;

const fileOf = (stateDir: string) => join(stateDir, 'verifications.json');
const keyOf = (r: { location: string; name: string }) => `${r.location}\n${r.name}`;

export async function readVerifications(stateDir: string): Promise<Map<string, VerificationRecord>> {
  const out = new Map<string, VerificationRecord>();
  let text: string;
  try {
    text = await readFile(fileOf(stateDir), 'utf8');
  } catch {
    return out;
  }
  try {
    const list = JSON.parse(text) as VerificationRecord[];
    if (Array.isArray(list)) for (const r of list) if (r && typeof r.name === 'string' && typeof r.location === 'string') out.set(keyOf(r), r);
  } catch {
    /* a damaged history is treated as empty; the next record rewrites it */
  }
  return out;
}

/** The last verification of `name` at `location`, if any. */
export function lastVerification(history: Map<string, VerificationRecord>, location: string, name: string): VerificationRecord | undefined {
  return history.get(keyOf({ location, name }));
}

/** Record one verification (atomic replace of the history file). */
export async function recordVerification(stateDir: string, record: VerificationRecord, log?: Logger): Promise<void> {
  try {
    await mkdir(stateDir, { recursive: true });
    const history = await readVerifications(stateDir);
    history.delete(keyOf(record));
    history.set(keyOf(record), record);
    const list = [...history.values()].slice(-MAX_RECORDS);
    const tmp = `${fileOf(stateDir)}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(list));
    await rename(tmp, fileOf(stateDir));
  } catch (e) {
    log?.warn({ stateDir }, `cannot record the verification in OFFSITE_STATE_DIR: ${errorMessage(e)}`);
  }
}
