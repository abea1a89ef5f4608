/**
 * The archive worker thread's start, and one started ahead of its archive (a "spare"): a worker
 * is a second Node environment whose start costs 0.1-0.4 s, so `offsite backup` starts it first
 * thing (src/main.ts, before the rest of the command loads) and a run starts it before its hooks,
 * lock and destinations (run/backup.ts). Kept apart from create.ts so that starting it loads
 * nothing else (no streams, no codecs).
 */
import { Worker } from 'node:worker_threads';
import { basename, dirname } from 'node:path';
import { getCompileCacheDir } from 'node:module';
import type { PrescanRequest } from './tar-worker.ts';
import type { SourceRoot } from './walk.ts';

/**
 * NODE_COMPILE_CACHE for the archive worker: the directory the process was given. Node's
 * getCompileCacheDir() names the version subdirectory inside it (`v24.x-x64-...`); given that, the
 * worker would cache into a second one nested in it, apart from what the main thread (and the
 * image build) cached.
 */
function compileCacheRoot(): string | undefined {
  const dir = getCompileCacheDir();
  return dir && /^v\d+\./.test(basename(dir)) ? dirname(dir) : dir;
}

export function startWorker(): Worker {
  // With the process's compile cache on, the worker uses it too: it then
  // loads the already type-stripped modules and never instantiates the
  // TypeScript stripper (about 30 MiB less memory, faster start).
  const compileCache = compileCacheRoot();
  // it waits for its job (TarWorkerData) as its first message
  return new Worker(new URL('./tar-worker.ts', import.meta.url), {
    ...(compileCache ? { env: { ...process.env, NODE_COMPILE_CACHE: compileCache } } : {}),
    // it only makes short-lived garbage (stats, names): a small young generation is enough
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
}

/** A started archive worker no archive has taken yet (prestartArchiveWorker). */
interface Spare {
  worker: Worker;
  failed: boolean;
  taken: boolean;
  onFailure: () => void;
  /** Resolves when a pre-scan asked for by prescanOnSpare ended (or the worker went away). */
  prescan: Promise<void> | null;
  onMessage: ((m: { t?: string }) => void) | null;
}
let spare: Spare | null = null;

export interface PrestartedWorker {
  /** Whether an archive took the worker (tests). */
  readonly taken: boolean;
  /** Ends the worker if no archive took it (a run that failed before archiving): the daemon keeps no idle worker between runs. */
  end(): void;
}

/**
 * Starts an archive worker now (a second Node environment: its start takes 0.1-0.4 s),
 * so that its start overlaps what a run does before archiving (hooks, lock, destinations,
 * source checks); the next createArchive() takes it. It does not keep the process alive.
 * When one is already waiting (started by src/main.ts as the command began), that one is
 * returned: the caller's `end()` then ends it if no archive took it.
 */
export function prestartArchiveWorker(): PrestartedWorker {
  if (spare) return handle(spare);
  const worker = startWorker();
  worker.unref();
  const s: Spare = {
    worker,
    failed: false,
    taken: false,
    onFailure: () => {
      s.failed = true;
    },
    prescan: null,
    onMessage: null,
  };
  // a failure before it was taken: the archive starts a fresh worker, which reports its own
  worker.on('error', s.onFailure);
  worker.on('exit', s.onFailure);
  spare = s;
  return handle(s);
}

function handle(s: Spare): PrestartedWorker {
  return {
    get taken() {
      return s.taken;
    },
    end() {
      if (spare !== s) return;
      spare = null;
      detach(s);
      void s.worker.terminate();
    },
  };
}

/**
 * Has the waiting worker (prestartArchiveWorker) pre-scan `roots` now, while the run sets up:
 * the archive that takes it then reuses the counts when asked to (ArchiveOptions.reuseScan).
 * False when no worker waits.
 */
export function prescanOnSpare(roots: SourceRoot[], exclude: { source: string } | null): boolean {
  const s = spare;
  if (!s || s.failed || s.prescan) return false;
  s.prescan = new Promise((resolve) => {
    s.onMessage = (m) => {
      if (m?.t === 'prescanned') resolve();
    };
    s.worker.on('message', s.onMessage);
    s.worker.once('exit', () => resolve());
  });
  s.worker.postMessage({ t: 'prescan', roots, exclude } satisfies PrescanRequest);
  return true;
}

/** Resolves when the waiting worker's pre-scan ended; null without one (tests). */
export function sparePrescanned(): Promise<void> | null {
  return spare?.prescan ?? null;
}

function detach(s: Spare): void {
  s.worker.off('error', s.onFailure);
  s.worker.off('exit', s.onFailure);
  if (s.onMessage) s.worker.off('message', s.onMessage);
}

export function takeSpareWorker(): Worker | null {
  const s = spare;
  if (!s) return null;
  spare = null;
  detach(s);
  if (s.failed) {
    void s.worker.terminate();
    return null;
  }
  s.taken = true;
  s.worker.ref();
  return s.worker;
}
