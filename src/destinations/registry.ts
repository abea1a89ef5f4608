// Interim registry (replaced by the dest-core branch's implementation).
import type { JobConfig } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { Destination } from './types.ts';
import { createLocalDestination } from './local.ts';

export function createDestinations(job: JobConfig, log: Logger): Destination[] {
  const out: Destination[] = [];
  if (job.local) out.push(createLocalDestination(job.local, log));
  return out;
}
