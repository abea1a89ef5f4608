/**
 * The read-side commands through the real CLI: list, verify, restore, export,
 * import; and VERIFY_CRON_EXPRESSION in the daemon notifying a real webhook
 * server when the newest backup fails verification.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync, rmSync, utimesSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { once } from 'node:events';
import { makeTree, describeTree } from '../helpers/tree.ts';
import { isolatedEnv, runCli, startCli } from '../helpers/cli.ts';
import { archiveNameOf } from '../../src/archive/layout.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const KEY = '7e'.repeat(32);

function setup() {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const src = join(dir, 'volumes', 'app');
  makeTree(src);
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  return { dir, src, archiveDir, env: { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_ENCRYPTION_KEY: KEY } };
}

test('backup, list, verify, restore, export and import through the CLI', () => {
  const { dir, src, archiveDir, env } = setup();
  const b = runCli(['backup'], env);
  assert.equal(b.code, 0, b.stdout + b.stderr);

  const l = runCli(['list', '--json'], env);
  assert.equal(l.code, 0, l.stderr);
  const rows = JSON.parse(l.stdout) as Array<{ name: string; destination: string; encryption: string; files: number; sha256: string }>;
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.destination, 'Local');
  assert.equal(rows[0]!.encryption, 'aes');
  assert.match(rows[0]!.name, /\.tar\.gz\.aes$/);
  const table = runCli(['list'], env);
  assert.match(table.stdout, /^DESTINATION +NAME +SIZE +MODIFIED +ENCRYPTION +FILES +LAST VERIFIED\nLocal +backup-.*\.tar\.gz\.aes +.* aes +9 +never\n$/);
  assert.equal((rows[0] as { lastVerified?: unknown }).lastVerified, null);

  const v = runCli(['verify'], env);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /^OK +Local/);
  assert.match(v.stdout, /SHA-256 [0-9a-f]{64} and size \d+ match the manifest/);

  // the verification is remembered (OFFSITE_STATE_DIR) and shown by list
  const after = JSON.parse(runCli(['list', '--json'], env).stdout) as Array<{
    name: string;
    lastVerified: { at: string; ok: boolean; contentChecked: boolean } | null;
  }>;
  assert.equal(after[0]!.name, rows[0]!.name);
  assert.equal(after[0]!.lastVerified?.ok, true);
  assert.equal(after[0]!.lastVerified?.contentChecked, true);
  assert.ok(Date.now() - Date.parse(after[0]!.lastVerified!.at) < 120_000);
  assert.match(runCli(['list'], env).stdout, /aes +9 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ ok\n$/);

  const target = join(dir, 'restored');
  const r = runCli(['restore', 'latest', '--from', 'local', '--to', target], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(describeTree(join(target, archiveNameOf(src)), false), describeTree(src, false));

  // a non-empty target needs --force; --include restores a part
  const again = runCli(['restore', '--to', target], env);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /error: the target directory .* is not empty\nhint: .*--force/);
  const part = join(dir, 'part');
  const p = runCli(['restore', rows[0]!.name, '--to', part, '--include', `${src}/ünïcödé`], env);
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(readdirSync(join(part, archiveNameOf(src))), ['ünïcödé']);

  // wrong key: a clear error, nothing restored
  const bad = runCli(['restore', '--to', join(dir, 'bad')], { ...env, BACKUP_ENCRYPTION_KEY: '11'.repeat(32) });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /BACKUP_ENCRYPTION_KEY is not the key it was encrypted with/);
  assert.ok(!bad.stderr.includes('11'.repeat(32)), 'the key is never printed');
  assert.ok(!existsSync(join(dir, 'bad')), 'the target this restore created is removed again');

  // export, then import into another local directory
  const file = join(dir, 'copy.tar.gz.aes');
  const e = runCli(['export', 'latest', file], env);
  assert.equal(e.code, 0, e.stderr);
  assert.ok(existsSync(`${file}.manifest.json`));
  const other = join(dir, 'archive2');
  mkdirSync(other);
  const i = runCli(['import', file], { ...env, BACKUP_ARCHIVE: other });
  assert.equal(i.code, 0, i.stderr);
  assert.deepEqual(readdirSync(other).sort(), ['copy.tar.gz.aes', 'copy.tar.gz.aes.manifest.json']);
  assert.equal(runCli(['verify', 'copy.tar.gz.aes'], { ...env, BACKUP_ARCHIVE: other }).code, 0);

  // a damaged archive fails verify with exit code 1
  const name = readdirSync(archiveDir).find((n) => n.endsWith('.aes'))!;
  const data = readFileSync(join(archiveDir, name));
  data[100]! ^= 1;
  writeFileSync(join(archiveDir, name), data);
  const v2 = runCli(['verify', '--json'], env);
  assert.equal(v2.code, 1);
  const rep = JSON.parse(v2.stdout) as Array<{ ok: boolean; problems: string[] }>;
  assert.equal(rep[0]!.ok, false);
  assert.match(rep[0]!.problems.join('\n'), /does not match its manifest/);
});

test('list goes on when one destination cannot be reached, and exits 1', async () => {
  const { env } = setup();
  assert.equal(runCli(['backup'], env).code, 0);
  const dead = createServer();
  dead.listen(0, '127.0.0.1');
  await once(dead, 'listening');
  const port = (dead.address() as { port: number }).port;
  dead.close();
  const r = runCli(['list'], {
    ...env,
    AWS_S3_BUCKET_NAME: 'b',
    AWS_ACCESS_KEY_ID: 'k',
    AWS_SECRET_ACCESS_KEY: 's',
    AWS_ENDPOINT: `127.0.0.1:${port}`,
    AWS_ENDPOINT_PROTO: 'http',
    BACKUP_RETRY_ATTEMPTS: '1',
    BACKUP_DESTINATION_TIMEOUT: '2s',
  });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^Local +backup-/m);
  assert.match(r.stderr, /error: cannot list S3 \(s3:\/\/b/);
});

test('retention removes a sidecar with its archive', () => {
  const { archiveDir, env } = setup();
  const old = new Date(Date.now() - 10 * 86_400_000);
  for (const n of ['backup-2000-01-01T00-00-00.tar.gz.aes', 'backup-2000-01-01T00-00-00.tar.gz.aes.manifest.json']) {
    writeFileSync(join(archiveDir, n), 'x');
    utimesSync(join(archiveDir, n), old, old);
  }
  const r = runCli(['backup'], { ...env, BACKUP_RETENTION_DAYS: '7' });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const left = readdirSync(archiveDir).sort();
  assert.equal(left.length, 2, left.join(', '));
  assert.ok(left[1]!.endsWith('.tar.gz.aes.manifest.json') && left[1]!.startsWith(left[0]!), left.join(', '));
});

test('usage mistakes are clear', () => {
  const { env } = setup();
  const r1 = runCli(['restore'], env);
  assert.equal(r1.code, 5);
  assert.match(r1.stderr, /restore needs --to DIR/);
  const r2 = runCli(['list', '--destination', 'S3'], env);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /--destination S3: no such destination is configured\nhint: configured: Local/);
  const r3 = runCli(['verify', '--bogus'], env);
  assert.equal(r3.code, 5);
  assert.match(r3.stderr, /verify: unknown option --bogus/);
  const r4 = runCli(['restore', '--to', '/tmp/x'], env);
  assert.equal(r4.code, 1);
  assert.match(r4.stderr, /Local \(.*\) holds no backup/);
});

test('VERIFY_CRON_EXPRESSION: the daemon verifies the newest backup and notifies on failure', async () => {
  const { archiveDir, env } = setup();
  assert.equal(runCli(['backup'], env).code, 0);
  const name = readdirSync(archiveDir).find((n) => n.endsWith('.aes'))!;
  const data = readFileSync(join(archiveDir, name));
  data[data.length - 20]! ^= 1;
  writeFileSync(join(archiveDir, name), data);

  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      bodies.push(body);
      res.end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const child = startCli(['daemon'], {
    ...env,
    BACKUP_CRON_EXPRESSION: '0 0 1 1 *',
    VERIFY_CRON_EXPRESSION: '@every 1s',
    NOTIFICATION_URLS: `generic+http://127.0.0.1:${port}/hook`,
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  try {
    const deadline = Date.now() + 60_000;
    while (bodies.length === 0 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    assert.ok(bodies.length > 0, `no notification arrived:\n${out}`);
    assert.match(bodies[0]!, /could not be verified/);
    assert.match(bodies[0]!, new RegExp(name.replace(/\./g, '\\.')));
    assert.match(out, /"msg":"verification failed"/);
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    server.close();
  }
});
