/**
 * An in-memory destination for fast run tests: it meets the destination contract
 * (memory.test.ts runs it) and can be told to fail the way real destinations do:
 * a refused upload, a refused remove, an upload that stalls (never progresses until
 * aborted), a server that breaks after some bytes.
 */
import { Readable } from 'node:stream';
import type { BackupObject, Destination, UploadOptions } from '../../src/destinations/types.ts';
import { assertPlainName } from '../../src/destinations/names.ts';

export interface MemoryFaults {
  /** upload rejects with this error (before anything is stored). */
  upload?: Error;
  /** remove rejects with this error (nothing is removed). */
  remove?: Error;
  /** list rejects with this error. */
  list?: Error;
  /** upload reads nothing more and waits until its signal aborts (or forever without one). */
  stallUpload?: boolean;
  /** upload fails once this many bytes were received (a connection reset). */
  breakAfterBytes?: number;
}

export interface MemoryDestination extends Destination {
  /** The stored objects by name (what a server's storage holds; no temporary objects are ever kept). */
  readonly objects: Map<string, { data: Buffer; modified: Date }>;
  faults: MemoryFaults;
  /** How many uploads were started (tries included). */
  uploads: number;
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('the upload was aborted'), { name: 'AbortError' });
}

export function createMemoryDestination(name = 'Memory', location = 'memory://test/'): MemoryDestination {
  const objects = new Map<string, { data: Buffer; modified: Date }>();
  const d: MemoryDestination = {
    name,
    location,
    objects,
    faults: {},
    uploads: 0,

    async upload(objectName: string, source: Readable, options: UploadOptions = {}): Promise<void> {
      assertPlainName(objectName, name);
      d.uploads++;
      const { signal } = options;
      if (signal?.aborted) throw abortError(signal);
      if (d.faults.upload) {
        source.destroy();
        throw d.faults.upload;
      }
      const replace = options.replace === true;
      if (!replace && objects.has(objectName)) {
        source.destroy();
        throw new Error(`${name}: ${location}${objectName} already exists; refusing to overwrite it`);
      }
      if (d.faults.stallUpload) {
        await new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(abortError(signal)), { once: true }));
      }
      const chunks: Buffer[] = [];
      let received = 0;
      const onAbort = () => source.destroy(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const chunk of source) {
          const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
          received += b.length;
          if (d.faults.breakAfterBytes !== undefined && received > d.faults.breakAfterBytes) {
            throw Object.assign(new Error(`${name}: connection reset after ${received} bytes`), { code: 'ECONNRESET' });
          }
          chunks.push(b);
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      if (signal?.aborted) throw abortError(signal);
      // atomic: visible only once complete; never over an existing object unless replacing
      if (!replace && objects.has(objectName)) throw new Error(`${name}: ${location}${objectName} already exists; refusing to overwrite it`);
      objects.set(objectName, { data: Buffer.concat(chunks), modified: new Date() });
    },

    async list(prefix: string): Promise<BackupObject[]> {
      if (d.faults.list) throw d.faults.list;
      return [...objects.entries()]
        .filter(([n]) => n.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([n, o]) => ({ name: n, size: o.data.length, modified: o.modified }));
    },

    async remove(names: string[]): Promise<void> {
      for (const n of names) assertPlainName(n, name);
      if (d.faults.remove) throw d.faults.remove;
      for (const n of names) objects.delete(n);
    },

    async download(objectName: string): Promise<Readable> {
      assertPlainName(objectName, name);
      const o = objects.get(objectName);
      if (!o) throw Object.assign(new Error(`${name}: ${location}${objectName} does not exist`), { code: 'ENOENT' });
      return Readable.from([o.data]);
    },

    async close(): Promise<void> {
      /* nothing to release */
    },
  };
  return d;
}
