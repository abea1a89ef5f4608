/**
 * A fresh archive of a job's sources, streamed to a caller instead of the destinations:
 * SysReptor's `POST /api/v1/utils/backup/` and `offsite backup --stdout`. Nothing is stored,
 * no container is stopped, no retention runs. The archive is the job's compression (a
 * `.tar.gz` by default, which `tar -xzf` reads) with the manifest as its first entry, and
 * AES-256-GCM in offsite's format (src/crypto/aes.ts) when a 64-hex key is given.
 */
import type { JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { createArchive, type ArchiveStream } from '../archive/index.ts';
import { aesEncryptor, parseAesKey } from '../crypto/aes.ts';
import { buildManifest, encodeManifest, MANIFEST_ENTRY } from '../manifest/index.ts';
import { UsageError } from '../errors.ts';

export function parseKeyArgument(hex: string | undefined, what: string): Buffer | null {
  if (hex === undefined || hex === '') return null;
  const key = parseAesKey(hex);
  if (!key) throw new UsageError(`${what} is not a key: expected 64 hexadecimal characters (256 bits)`, 'make one with `openssl rand -hex 32`');
  return key;
}

export function freshArchive(
  job: JobConfig,
  opts: { log: Logger; signal?: AbortSignal; aesKey?: Buffer | null; now?: Date },
): { archive: ArchiveStream; extension: string } {
  const created = opts.now ?? new Date();
  const aesKey = opts.aesKey ?? null;
  const compression = job.archive.compression;
  const archive = createArchive({
    sources: job.archive.sources,
    exclude: job.archive.exclude,
    compression,
    parallelism: job.archive.gzipParallelism,
    log: opts.log,
    signal: opts.signal,
    encrypt: aesKey ? () => aesEncryptor(aesKey) : undefined,
    header: (scan) => ({
      name: MANIFEST_ENTRY,
      data: encodeManifest(
        buildManifest({
          job: job.name,
          created,
          sources: job.archive.sources,
          counts: { files: scan.files, directories: scan.directories, symlinks: scan.symlinks },
          bytes: scan.bytes,
          compression,
          encryption: aesKey ? 'aes' : 'none',
        }),
      ),
    }),
  });
  const ext = compression === 'gz' ? 'tar.gz' : compression === 'zst' ? 'tar.zst' : 'tar';
  return { archive, extension: aesKey ? `${ext}.aes` : ext };
}
