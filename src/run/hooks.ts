import type { RunStats } from './stats.ts';

/**
 * Things that happen around a run's phases: stopping containers, exec labels,
 * BACKUP_PRE_COMMAND / BACKUP_POST_COMMAND. Every hook may throw; a throw in a
 * `*Pre` hook fails the run before that phase. `restore` is called whatever
 * happened (success, failure, abort) and must not throw.
 */
export interface RunHooks {
  /** Before the archive is made (containers stopped, archive-pre commands). */
  archivePre(ctx: HookContext): Promise<void>;
  /** Right after the archive is written, before upload (containers restarted, archive-post). */
  archivePost(ctx: HookContext): Promise<void>;
  processPre(ctx: HookContext): Promise<void>;
  processPost(ctx: HookContext): Promise<void>;
  copyPre(ctx: HookContext): Promise<void>;
  copyPost(ctx: HookContext): Promise<void>;
  prunePre(ctx: HookContext): Promise<void>;
  prunePost(ctx: HookContext): Promise<void>;
  /** Always called at the end (finally): restarts anything still stopped. Records failures in stats. */
  finish(ctx: HookContext): Promise<void>;
  /**
   * False when no hook before the archive can change the sources (no BACKUP_PRE_COMMAND, no
   * Docker: no exec labels, no containers to stop): the run may then scan them while it sets up.
   * Unset counts as true.
   */
  preArchive?: boolean;
}

export interface HookContext {
  stats: RunStats;
  /** Path of the archive file when one exists locally (COMMAND_RUNTIME_ARCHIVE_FILEPATH), else ''. */
  archivePath: string;
  signal: AbortSignal;
}

export const noHooks: RunHooks = {
  async archivePre() {},
  async archivePost() {},
  async processPre() {},
  async processPost() {},
  async copyPre() {},
  async copyPost() {},
  async prunePre() {},
  async prunePost() {},
  async finish() {},
  preArchive: false,
};
