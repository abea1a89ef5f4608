import type { ArchiveOptions, ArchiveStream } from './index.ts';

/** Streaming tar + compression + hashing. (Implemented by the archive work.) */
export function createArchive(_opts: ArchiveOptions): ArchiveStream {
  throw new Error('createArchive: not implemented yet');
}
