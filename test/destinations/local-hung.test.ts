/**
 * The local destination on a hung mount: BACKUP_ARCHIVE is an sshfs (FUSE) mount whose
 * sshfs process is stopped with SIGSTOP in the middle of an upload, so every file-system
 * call on it blocks in the kernel, like a hung NFS server. The upload (and a listing) must
 * end after BACKUP_DESTINATION_TIMEOUT with a timeout naming the file, not hang; nothing
 * may appear under the final name and the older backup stays intact.
 * Skipped where sshfs or FUSE is missing (.ci/system-packages.sh installs sshfs).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { createLocalDestination } from '../../src/destinations/local.ts';
import { silentLogger } from '../../src/log.ts';
import { startSshd, type SshdServer } from '../servers/sshd.ts';
import { generated } from './streams.ts';

const TIMEOUT = 2000;
const MiB = 1 << 20;

let sshd: SshdServer | null = null;
let sshfs: ChildProcess | null = null;
let mnt = '';
let remoteDir = '';
let skip = '';

function mounted(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === path);
}

before(async () => {
  try {
    execFileSync('which', ['sshfs'], { stdio: 'ignore' });
  } catch {
    skip = 'sshfs is not installed';
    return;
  }
  if (!existsSync('/dev/fuse')) {
    skip = 'no /dev/fuse';
    return;
  }
  sshd = await startSshd();
  const key = sshd.addKey('id_fuse');
  remoteDir = join(sshd.home, `hung-${randomBytes(3).toString('hex')}`);
  mkdirSync(remoteDir);
  const uid = Number(execFileSync('id', ['-u', sshd.user]).toString().trim());
  chownSync(remoteDir, uid, uid);
  mnt = mkdtempSync(join(tmpdir(), 'offsite-hung-mnt-'));
  sshfs = spawn(
    'sshfs',
    [
      '-f',
      '-o',
      `port=${sshd.port},IdentityFile=${key},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes`,
      `${sshd.user}@127.0.0.1:${remoteDir}`,
      mnt,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  sshfs.stderr!.on('data', (d) => {
    err += d;
  });
  for (let i = 0; i < 100 && !mounted(mnt); i++) {
    if (sshfs.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!mounted(mnt)) skip = `sshfs could not mount here: ${err.trim() || `exit ${sshfs.exitCode}`}`;
});

after(async () => {
  if (sshfs?.pid) {
    try {
      process.kill(sshfs.pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
  if (mnt) {
    try {
      execFileSync('fusermount3', ['-u', '-z', mnt], { stdio: 'ignore' });
    } catch {
      try {
        execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
      } catch {
        /* not mounted */
      }
    }
  }
  sshfs?.kill('SIGKILL');
  if (remoteDir) rmSync(remoteDir, { recursive: true, force: true });
  if (mnt) rmSync(mnt, { recursive: true, force: true });
  await sshd?.stop();
});

test('a write that never returns (hung mount) ends after the timeout; nothing under the final name; the older backup intact', async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const d = createLocalDestination({ dir: mnt, latestSymlink: null }, silentLogger(), { timeoutMs: TIMEOUT });
  const old = randomBytes(MiB);
  const { Readable } = await import('node:stream');
  await d.upload('backup-1-older.tar.gz', Readable.from([old]));
  // a slow archive: the mount hangs while the temporary file is being written
  const src = generated(64 * MiB, { chunk: 256 * 1024, delayMs: 20 });
  const started = Date.now();
  const upload = d.upload('backup-2-new.tar.gz', src.stream).then(
    () => null,
    (e: unknown) => e as Error,
  );
  for (let i = 0; i < 200 && !readdirSync(remoteDir).some((n) => n.endsWith('.tmp')); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(
    readdirSync(remoteDir).some((n) => n.endsWith('.tmp')),
    'the upload started writing its temporary file',
  );
  process.kill(sshfs!.pid!, 'SIGSTOP');
  const stoppedAt = Date.now();
  const err = await upload;
  assert.ok(err, 'the upload failed');
  assert.match(err.message, /Local (write|stat|remove|fsync|link) .*: timed out after 2s with no progress/, err.message);
  // the write is abandoned after the timeout; the removal of the temporary file is tried and abandoned after another
  assert.ok(Date.now() - stoppedAt < 3 * TIMEOUT + 3000, `ended ${Date.now() - stoppedAt} ms after the mount hung (started ${Date.now() - started} ms ago)`);
  // a listing on the hung mount ends too
  const listStarted = Date.now();
  await assert.rejects(d.list(''), /Local list .*: timed out after 2s/);
  assert.ok(Date.now() - listStarted < TIMEOUT + 3000);
  // the mount comes back: nothing under the new name, the older backup byte-identical
  process.kill(sshfs!.pid!, 'SIGCONT');
  const names = readdirSync(remoteDir);
  assert.ok(!names.includes('backup-2-new.tar.gz'), `nothing under the final name: ${names.join(', ')}`);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(readFileSync(join(remoteDir, 'backup-1-older.tar.gz'))), sha(old));
});
