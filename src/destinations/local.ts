// Interim local destination (replaced by the dest-core branch's implementation).
import { createWriteStream, createReadStream } from 'node:fs';
import { readdir, rename, stat, unlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Destination, BackupObject, UploadOptions } from './types.ts';
import type { Logger } from '../log.ts';

export function createLocalDestination(cfg: { dir: string; latestSymlink: string | null }, _log: Logger): Destination {
  return {
    name: 'Local',
    location: cfg.dir,
    async upload(name: string, source: Readable, options?: UploadOptions) {
      const tmp = join(cfg.dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
      try {
        await pipeline(source, createWriteStream(tmp, { flags: 'wx', flush: true }), { signal: options?.signal });
        await rename(tmp, join(cfg.dir, name));
      } catch (e) {
        await unlink(tmp).catch(() => {});
        throw e;
      }
      if (cfg.latestSymlink && !name.endsWith('.manifest.json')) {
        const t = join(cfg.dir, `.${cfg.latestSymlink}.tmp`);
        await unlink(t).catch(() => {});
        await symlink(name, t);
        await rename(t, join(cfg.dir, cfg.latestSymlink));
      }
    },
    async list(prefix: string): Promise<BackupObject[]> {
      let names: string[] = [];
      try { names = await readdir(cfg.dir); } catch { return []; }
      const out: BackupObject[] = [];
      for (const n of names) {
        if (!n.startsWith(prefix) || n.startsWith('.')) continue;
        const s = await stat(join(cfg.dir, n)).catch(() => null);
        if (s?.isFile()) out.push({ name: n, size: s.size, modified: s.mtime });
      }
      return out;
    },
    async remove(names: string[]) { for (const n of names) await unlink(join(cfg.dir, n)).catch(() => {}); },
    async download(name: string) { return createReadStream(join(cfg.dir, name)); },
    async close() {},
  };
}
