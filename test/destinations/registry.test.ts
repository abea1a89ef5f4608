import { existsSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJob } from '../../src/config/index.ts';
import { createDestinations } from '../../src/destinations/registry.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';

const log = silentLogger();

test('builds every destination whose trigger is set, local included', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'offsite-reg-'));
  try {
    const issues: ConfigIssue[] = [];
    const job = parseJob(
      'default',
      'environment',
      {
        BACKUP_ARCHIVE: dir,
        BACKUP_SOURCES: '/tmp',
        AWS_S3_BUCKET_NAME: 'b',
        AWS_S3_PATH: 'p',
        AWS_ACCESS_KEY_ID: 'k',
        AWS_SECRET_ACCESS_KEY: 's',
        AZURE_STORAGE_ACCOUNT_NAME: 'acct',
        AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: 'a2V5',
        AZURE_STORAGE_CONTAINER_NAME: 'c',
        BACKUP_RETRY_ATTEMPTS: '5',
      },
      issues,
    );
    assert.deepEqual(issues, []);
    assert.equal(job!.retry.attempts, 5);
    const ds = await createDestinations(job!, log);
    assert.deepEqual(
      ds.map((d) => [d.name, d.location]),
      [
        ['Local', dir],
        ['S3', 's3://b/p/'],
        ['Azure', 'azure://acct/c/'],
      ],
    );
    for (const d of ds) await d.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('nothing set: no destination (the default /archive may be absent)', async () => {
  const issues: ConfigIssue[] = [];
  assert.ok(!existsSync('/archive'), 'this test needs a machine without /archive');
  const job = parseJob('default', 'environment', {}, issues);
  assert.deepEqual(issues, []);
  assert.deepEqual(await createDestinations(job!, log), []);
});

test('BACKUP_ARCHIVE set explicitly to a missing path or a file is a configuration error naming it', () => {
  for (const path of ['/nonexistent-offsite-dir', '/etc/hostname']) {
    const issues: ConfigIssue[] = [];
    assert.equal(parseJob('default', 'environment', { BACKUP_ARCHIVE: path }, issues), null);
    assert.deepEqual(
      issues.map((i) => i.variable),
      ['BACKUP_ARCHIVE'],
    );
    assert.match(issues[0]!.message, /does not exist or is not a directory/);
  }
});

test('destination config errors reach the job issues', () => {
  const issues: ConfigIssue[] = [];
  assert.equal(
    parseJob('default', 'environment', { AWS_S3_BUCKET_NAME: 'b', AWS_PART_SIZE: '1', AZURE_STORAGE_ACCOUNT_NAME: 'a', BACKUP_RETRY_ATTEMPTS: 'x' }, issues),
    null,
  );
  assert.deepEqual(issues.map((i) => i.variable).sort(), ['AWS_PART_SIZE', 'AZURE_STORAGE_CONTAINER_NAME', 'BACKUP_RETRY_ATTEMPTS']);
});
