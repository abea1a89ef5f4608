/**
 * The backup side of manifests and encryption, for the run: prepares the
 * archive's `encrypt` and `header` hooks, and uploads the sidecar beside the
 * archive on every destination that took the archive.
 */
import { Readable, type Transform } from 'node:stream';
import type { JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Destination } from '../destinations/types.ts';
import type { ArchiveHeaderEntry, ArchiveResult, ArchiveScan } from '../archive/index.ts';
import type { DestinationResult } from '../run/stats.ts';
import { prepareEncryption, type EncryptionMethod } from '../crypto/index.ts';
import { errorMessage } from '../errors.ts';
import { MANIFEST_ENTRY, buildManifest, buildSidecar, encodeManifest, sidecarName, type Manifest, type Sidecar } from './index.ts';

export interface BackupPlan {
  encryption: EncryptionMethod;
  encrypt: (() => Transform) | undefined;
  /** createArchive's `header` hook: the manifest as the archive's first entry. */
  header: (scan: ArchiveScan) => ArchiveHeaderEntry;
  /** The manifest written into the archive (null until the header hook ran). */
  manifest(): Manifest | null;
  /** The sidecar for the finished archive. */
  sidecar(name: string, result: ArchiveResult): Sidecar;
}

/** Check the encryption keys (a GPG key ring is parsed here, so a bad one fails before anything is stopped) and build the hooks. */
export async function planBackup(job: JobConfig, created: Date): Promise<BackupPlan> {
  const enc = await prepareEncryption(job.encryption);
  let manifest: Manifest | null = null;
  const make = (scan: ArchiveScan | null): Manifest =>
    buildManifest({
      job: job.name,
      created,
      sources: job.archive.sources,
      counts: { files: scan?.files ?? 0, directories: scan?.directories ?? 0, symlinks: scan?.symlinks ?? 0 },
      bytes: scan?.bytes ?? 0,
      compression: job.archive.compression,
      encryption: enc.method,
    });
  return {
    encryption: enc.method,
    encrypt: enc.encrypt,
    header(scan) {
      manifest = make(scan);
      return { name: MANIFEST_ENTRY, data: encodeManifest(manifest) };
    },
    manifest: () => manifest,
    sidecar(name, r) {
      return buildSidecar(
        manifest ?? make(null),
        { name, size: r.size, sha256: r.sha256 },
        {
          files: r.files,
          directories: r.directories,
          symlinks: r.symlinks,
          bytes: r.bytesRead,
          skipped: r.skipped,
          unreadable: r.unreadable,
        },
      );
    },
  };
}

/**
 * Upload `<name>.manifest.json` to every destination whose archive upload
 * succeeded (after the archive, so a listed sidecar always has its archive).
 * Returns warnings; a missing sidecar never fails a backup (restore falls
 * back to the manifest inside the archive).
 */
export async function uploadSidecars(
  destinations: Destination[],
  results: DestinationResult[],
  sidecar: Sidecar,
  log: Logger,
  signal?: AbortSignal,
  replace = false,
): Promise<string[]> {
  const body = encodeManifest(sidecar);
  const name = sidecarName(sidecar.archive.name);
  const warnings: string[] = [];
  await Promise.all(
    destinations.map(async (d) => {
      const r = results.find((x) => x.destination === d.name);
      if (!r?.ok) return;
      try {
        await d.upload(name, Readable.from([body]), { size: body.length, signal, ...(replace ? { replace: true } : {}) });
        log.debug({ destination: d.name, sidecar: name }, 'manifest uploaded');
      } catch (e) {
        let w = `${d.name}: the manifest ${name} could not be uploaded (${errorMessage(e)}); verify will check this backup without it`;
        if (replace) {
          // the previous backup's manifest would not match the archive that replaced it
          try {
            await d.remove([name]);
          } catch (re) {
            w += `; the previous backup's manifest could not be removed either (${errorMessage(re)}): restore will report a mismatch until the next run`;
          }
        }
        warnings.push(w);
        log.warn(w);
      }
    }),
  );
  return warnings;
}
