/**
 * backup -> list -> verify -> restore for every encryption method, and the
 * restored tree equals the source (contents, modes, mtimes, link targets).
 * Also: hash mismatches, newer format versions, export/import, hash-only
 * verification without a private key.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, readdirSync, readFileSync, writeFileSync, linkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { parseJob, type JobConfig } from '../../src/config/index.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { runJob } from '../../src/run/run.ts';
import { silentLogger } from '../../src/log.ts';
import { createDestinations } from '../../src/destinations/registry.ts';
import type { Destination } from '../../src/destinations/types.ts';
import { verifyBackup, restoreBackup } from '../../src/restore/index.ts';
import { listBackups } from '../../src/restore/list.ts';
import { exportBackup, importBackup } from '../../src/restore/transfer.ts';
import { makeTree, describeTree } from '../helpers/tree.ts';
import { archiveNameOf } from '../../src/archive/layout.ts';

const log = silentLogger();
let base: string;
let src: string;
let keys: { gpgPublic: string; gpgPrivate: string; ageId: string; ageRecipient: string };

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'offsite-roundtrip-'));
  src = join(base, 'volumes', 'app');
  makeTree(src);
  writeFileSync(join(src, 'hard-a'), 'same inode');
  linkSync(join(src, 'hard-a'), join(src, 'hard-b'));
  const k = await openpgp.generateKey({ userIDs: [{ email: 'roundtrip@example.invalid' }], format: 'armored' });
  const ageId = await generateX25519Identity();
  keys = { gpgPublic: k.publicKey, gpgPrivate: k.privateKey, ageId, ageRecipient: await identityToRecipient(ageId) };
});
after(() => {
  rmSync(base, { recursive: true, force: true });
});

function job(name: string, env: Record<string, string>): JobConfig {
  const issues: ConfigIssue[] = [];
  const j = parseJob('default', 'environment', { BACKUP_SOURCES: src, ...env }, issues);
  assert.deepEqual(issues, []);
  return j!;
}

/** Make one backup into a fresh local destination and return the job and its destinations. */
async function backup(name: string, env: Record<string, string>): Promise<{ j: JobConfig; dests: Destination[]; archiveDir: string }> {
  const archiveDir = join(base, `archive-${name}`);
  mkdirSync(archiveDir);
  const j = job(name, { BACKUP_ARCHIVE: archiveDir, ...env });
  const stats = await runJob(j, { log, lockFile: join(base, `${name}.lock`) });
  assert.equal(stats.status, 'success', JSON.stringify(stats.error));
  return { j, dests: await createDestinations(j, log), archiveDir };
}

const methods: Record<string, { env: () => Record<string, string>; decrypt?: () => Record<string, string>; ext: string }> = {
  none: { env: () => ({}), ext: '.tar.gz' },
  'gpg passphrase': { env: () => ({ GPG_PASSPHRASE: 'round trip pass' }), ext: '.tar.gz.gpg' },
  'gpg public key': { env: () => ({ GPG_PUBLIC_KEY_RING: keys.gpgPublic, GPG_PRIVATE_KEY: keys.gpgPrivate }), ext: '.tar.gz.gpg' },
  'age passphrase': { env: () => ({ AGE_PASSPHRASE: 'round trip pass', BACKUP_COMPRESSION: 'zst' }), ext: '.tar.zst.age' },
  'age recipients': { env: () => ({ AGE_PUBLIC_KEYS: keys.ageRecipient, AGE_SECRET_KEYS: keys.ageId, BACKUP_COMPRESSION: 'none' }), ext: '.tar.age' },
  aes: { env: () => ({ BACKUP_ENCRYPTION_KEY: 'c0ffee'.repeat(10) + 'beef' }), ext: '.tar.gz.aes' },
};

for (const [method, m] of Object.entries(methods)) {
  test(`round trip (Local, ${method}): backup, list, verify, restore`, async () => {
    const tag = method.replace(/\W+/g, '-');
    const { j, dests } = await backup(tag, m.env());
    const listed = await listBackups(dests, j.retention.prefix);
    assert.equal(listed.length, 1);
    const b = listed[0]!;
    assert.ok(b.name.endsWith(m.ext), `${b.name} should end with ${m.ext}`);
    assert.ok(b.manifest, 'the sidecar is listed with the backup');
    assert.equal(b.manifest!.encryption, method === 'none' ? 'none' : method.split(' ')[0]);
    assert.equal(b.manifest!.archive.size, b.size);
    assert.equal(b.manifest!.archived.files, 11);
    assert.ok(!JSON.stringify(b.manifest).match(/round trip pass|PRIVATE|AGE-SECRET|c0ffee/), 'no secret in the manifest');

    const v = await verifyBackup({ destination: dests[0]!, prefix: j.retention.prefix, keys: j.encryption.keys, log });
    assert.ok(v.ok, JSON.stringify(v.problems));
    assert.ok(v.contentChecked);
    assert.ok(v.checks.some((c) => /SHA-256 .* match the manifest/.test(c)));

    const target = join(base, `restored-${tag}`);
    const r = await restoreBackup({ destination: dests[0]!, name: 'latest', prefix: j.retention.prefix, target, keys: j.encryption.keys, log });
    assert.equal(r.name, b.name);
    assert.deepEqual(readdirSync(target), [archiveNameOf(src).split('/')[0]], 'the manifest entry is not written');
    // the source under its path without the leading slash, as offen stores it
    assert.deepEqual(describeTree(join(target, archiveNameOf(src)), false), describeTree(src, false));
  });
}

test('verify without the private key checks the hash only; with a wrong key it fails', async () => {
  const { j, dests } = await backup('pubonly', { AGE_PUBLIC_KEYS: keys.ageRecipient });
  const v = await verifyBackup({ destination: dests[0]!, prefix: j.retention.prefix, keys: j.encryption.keys, log });
  assert.ok(v.ok);
  assert.equal(v.contentChecked, false);
  assert.match(v.warnings.join('\n'), /contents not decrypted.*AGE_PASSPHRASE or AGE_SECRET_KEYS is not set/);
  const wrong = await verifyBackup({ destination: dests[0]!, prefix: j.retention.prefix, keys: { ageIdentities: [await generateX25519Identity()] }, log });
  assert.equal(wrong.ok, false);
  assert.match(wrong.problems.join('\n'), /wrong passphrase or key/);
});

test('a changed archive fails verify and restore (SHA-256), and nothing is restored', async () => {
  const { j, dests, archiveDir } = await backup('tampered', {});
  const name = readdirSync(archiveDir).find((n) => n.endsWith('.tar.gz'))!;
  const p = join(archiveDir, name);
  const data = readFileSync(p);
  // a change gzip cannot see: replace the file with another valid archive of the same size is hard, so flip a bit
  data[Math.floor(data.length / 2)]! ^= 0x01;
  writeFileSync(p, data);
  const v = await verifyBackup({ destination: dests[0]!, keys: j.encryption.keys, log });
  assert.equal(v.ok, false);
  const target = join(base, 'restored-tampered');
  await assert.rejects(restoreBackup({ destination: dests[0]!, target, keys: j.encryption.keys, log }), /does not match its manifest|corrupted/);
  assert.ok(!existsSync(target), 'nothing restored: the target this restore created is removed');
  // damage early in a large archive: verify still reads the rest to tell storage damage from a bad backup
  const big = join(base, 'volumes', 'big');
  mkdirSync(big, { recursive: true });
  writeFileSync(join(big, 'random.bin'), randomBytes(4 << 20));
  const { j: jb, dests: db, archiveDir: ab } = await backup('tampered-big', { BACKUP_SOURCES: big, BACKUP_ENCRYPTION_KEY: '3c'.repeat(32) });
  const bigName = readdirSync(ab).find((n) => n.endsWith('.aes'))!;
  const bigData = readFileSync(join(ab, bigName));
  bigData[1000]! ^= 0x01;
  writeFileSync(join(ab, bigName), bigData);
  const vb = await verifyBackup({ destination: db[0]!, keys: jb.encryption.keys, log });
  assert.equal(vb.ok, false);
  assert.match(vb.problems.join('\n'), /does not match its manifest .*changed or damaged after the backup/);
  assert.match(vb.problems.join('\n'), /encrypted chunk 0 failed authentication/);
  // and a sidecar that disagrees while the archive is intact
  const { j: j2, dests: d2, archiveDir: a2 } = await backup('badsidecar', {});
  const sc = readdirSync(a2).find((n) => n.endsWith('.manifest.json'))!;
  const side = JSON.parse(readFileSync(join(a2, sc), 'utf8'));
  side.archive.sha256 = '0'.repeat(64);
  writeFileSync(join(a2, sc), JSON.stringify(side));
  const t2 = join(base, 'restored-badsidecar');
  await assert.rejects(restoreBackup({ destination: d2[0]!, target: t2, keys: j2.encryption.keys, log }), /does not match its manifest: SHA-256/);
  assert.ok(!existsSync(t2), 'nothing restored: the target this restore created is removed');
});

test('an unreadable sidecar only loses the hash check: restore goes on, verify reports it', async () => {
  const { j, dests, archiveDir } = await backup('garbled', {});
  const sc = readdirSync(archiveDir).find((n) => n.endsWith('.manifest.json'))!;
  writeFileSync(join(archiveDir, sc), '{ not json');
  const target = join(base, 'restored-garbled');
  const r = await restoreBackup({ destination: dests[0]!, target, keys: j.encryption.keys, log });
  assert.equal(r.sidecar, null);
  assert.deepEqual(describeTree(join(target, archiveNameOf(src)), false), describeTree(src, false));
  const v = await verifyBackup({ destination: dests[0]!, keys: j.encryption.keys, log });
  assert.equal(v.ok, false);
  assert.match(v.problems.join('\n'), /is not a valid offsite manifest: not JSON/);
});

test('a sidecar from a newer format version is refused with a clear message', async () => {
  const { j, dests, archiveDir } = await backup('newer', {});
  const sc = readdirSync(archiveDir).find((n) => n.endsWith('.manifest.json'))!;
  const side = JSON.parse(readFileSync(join(archiveDir, sc), 'utf8'));
  side.formatVersion = 99;
  side.offsiteVersion = '9.0.0';
  writeFileSync(join(archiveDir, sc), JSON.stringify(side));
  const target = join(base, 'restored-newer');
  await assert.rejects(
    restoreBackup({ destination: dests[0]!, target, keys: j.encryption.keys, log }),
    /written by offsite 9\.0\.0 in backup format version 99; this offsite \(.*\) reads format versions up to 1/,
  );
  assert.ok(!existsSync(target) || readdirSync(target).length === 0);
  const v = await verifyBackup({ destination: dests[0]!, keys: j.encryption.keys, log });
  assert.equal(v.ok, false);
});

test('export to a file and import into another destination', async () => {
  const { j, dests } = await backup('export', { BACKUP_ENCRYPTION_KEY: 'ab'.repeat(32) });
  const file = join(base, 'exported.tar.gz.aes');
  const e = await exportBackup({ destination: dests[0]!, name: 'latest', file, log });
  assert.ok(e.sidecar);
  assert.ok(existsSync(`${file}.manifest.json`));
  const other = join(base, 'archive-import');
  mkdirSync(other);
  const j2 = job('import', { BACKUP_ARCHIVE: other, BACKUP_ENCRYPTION_KEY: 'ab'.repeat(32) });
  const d2 = await createDestinations(j2, log);
  const r = await importBackup({ destinations: d2, file, keys: j2.encryption.keys, log });
  assert.deepEqual(r.destinations, ['Local']);
  await assert.rejects(importBackup({ destinations: d2, file, keys: j2.encryption.keys, log }), /already holds a backup named/);
  const v = await verifyBackup({ destination: d2[0]!, name: 'exported.tar.gz.aes', keys: j2.encryption.keys, log });
  assert.ok(v.ok, v.problems.join('\n'));
  // without the sidecar file, import decodes the archive to build one
  rmSync(`${file}.manifest.json`);
  const third = join(base, 'archive-import2');
  mkdirSync(third);
  const d3 = await createDestinations(job('import2', { BACKUP_ARCHIVE: third }), log);
  await importBackup({ destinations: d3, file, keys: j.encryption.keys, log });
  const v3 = await verifyBackup({ destination: d3[0]!, keys: j.encryption.keys, log });
  assert.ok(v3.ok, v3.problems.join('\n'));
  assert.equal(v3.sidecar?.job, 'default');
});
