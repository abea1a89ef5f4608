// Interim lock (replaced by the policy branch's implementation).
import { open, unlink } from 'node:fs/promises';
import type { Logger } from '../log.ts';
import { UserError } from '../errors.ts';

export interface LockHandle { release(): Promise<void>; waitedMs: number }

export async function acquireLock(path: string, opts: { timeoutMs: number; signal?: AbortSignal; log: Logger; pollMs?: number }): Promise<LockHandle> {
  const start = Date.now();
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return { waitedMs: Date.now() - start, release: async () => { await unlink(path).catch(() => {}); } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (Date.now() - start > opts.timeoutMs) throw new UserError(`another backup run holds the lock ${path}`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
  }
}
