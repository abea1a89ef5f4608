// Interim registry (replaced by the dest-core branch's implementation).
import type { JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Destination } from './types.ts';
import { createLocalDestination } from './local.ts';
import { createWebdavDestination } from './webdav.ts';
import { createSftpDestination } from './sftp.ts';
import { createDropboxDestination } from './dropbox.ts';

export function createDestinations(job: JobConfig, log: Logger): Destination[] {
  const out: Destination[] = [];
  if (job.local) out.push(createLocalDestination(job.local, log));
  const timeoutMs = job.retry.timeoutMs;
  if (job.webdav) out.push(createWebdavDestination(job.webdav, log, { requestTimeoutMs: timeoutMs, stallTimeoutMs: timeoutMs }));
  if (job.ssh) out.push(createSftpDestination(job.ssh, log, { readyTimeoutMs: timeoutMs }));
  if (job.dropbox) out.push(createDropboxDestination(job.dropbox, log, { requestTimeoutMs: timeoutMs }));
  return out;
}
