/**
 * Builds every destination whose trigger variable is set, in a fixed order:
 * Local (BACKUP_ARCHIVE exists), S3 (AWS_S3_BUCKET_NAME), WebDAV (WEBDAV_URL),
 * SSH (SSH_HOST_NAME), Azure (AZURE_STORAGE_ACCOUNT_NAME), Dropbox (DROPBOX_REFRESH_TOKEN,
 * DROPBOX_APP_KEY and DROPBOX_APP_SECRET).
 * Destinations do no network I/O when created; failures surface on first use.
 */
import type { JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Destination } from './types.ts';
import { createLocalDestination } from './local.ts';
import { createS3Destination } from './s3.ts';
import { createAzureDestination } from './azure.ts';
import { createWebdavDestination } from './webdav.ts';
import { createSftpDestination } from './sftp.ts';
import { createDropboxDestination } from './dropbox.ts';

export function createDestinations(job: JobConfig, log: Logger): Destination[] {
  const out: Destination[] = [];
  const retry = job.retry;
  const timeoutMs = retry.timeoutMs;
  if (job.local) out.push(createLocalDestination(job.local, log, { timeoutMs }));
  if (job.s3) out.push(createS3Destination(job.s3, { retry }, log));
  if (job.webdav) out.push(createWebdavDestination(job.webdav, log, { requestTimeoutMs: timeoutMs }));
  if (job.ssh) out.push(createSftpDestination(job.ssh, log, { timeoutMs }));
  if (job.azure) out.push(createAzureDestination(job.azure, { retry }, log));
  if (job.dropbox) out.push(createDropboxDestination(job.dropbox, log, { requestTimeoutMs: timeoutMs }));
  return out;
}
