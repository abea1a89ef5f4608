/**
 * Google Drive through the CLI, configured only by its variables (the registry's one line):
 * `offsite backup`, `list` and `restore` against the local Drive v3 server, the key given
 * as GOOGLE_DRIVE_CREDENTIALS_JSON_FILE; `GoogleDrive` in BACKUP_SKIP_BACKENDS_FROM_PRUNE;
 * configuration errors named by variable, the key never printed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startDriveFake, type DriveFake } from '../servers/gdrive-fake.ts';
import { parseGoogleDrive } from '../../src/destinations/gdrive.def.ts';
import type { ConfigIssue } from '../../src/errors.ts';

const SUBJECT = 'owner@example.com';
let fake: DriveFake;
const dirs: string[] = [];
before(async () => {
  fake = await startDriveFake({ subjects: [SUBJECT] });
});
after(async () => {
  await fake?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(extra: Record<string, string> = {}) {
  const iso = isolatedEnv();
  dirs.push(iso.dir);
  const src = join(iso.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'data.txt'), 'kept in Drive');
  const keyFile = join(iso.dir, 'sa.json');
  writeFileSync(keyFile, fake.account.json);
  const folder = fake.mkdir(`cli-${dirs.length}`);
  const env = {
    ...iso.env,
    BACKUP_SOURCES: src,
    BACKUP_ARCHIVE: '',
    GOOGLE_DRIVE_CREDENTIALS_JSON_FILE: keyFile,
    GOOGLE_DRIVE_FOLDER_ID: folder,
    GOOGLE_DRIVE_IMPERSONATE_SUBJECT: SUBJECT,
    GOOGLE_DRIVE_ENDPOINT: fake.endpoint,
    GOOGLE_DRIVE_TOKEN_URL: fake.tokenUrl,
    ...extra,
  };
  return { env, folder, dir: iso.dir };
}

test('backup, list and restore through the registered Google Drive destination; the key never printed', async () => {
  const { env, folder, dir } = setup();
  const b = await runCliAsync(['backup'], env);
  assert.equal(b.code, 0, b.out);
  const names = fake.namesIn(folder);
  assert.equal(names.filter((n) => /^backup-.*\.tar\.gz$/.test(n)).length, 1, names.join(', '));
  const l = await runCliAsync(['list'], env);
  assert.equal(l.code, 0, l.out);
  assert.match(l.stdout, /GoogleDrive +backup-.*\.tar\.gz/);
  const into = join(dir, 'restored');
  const r = await runCliAsync(['restore', '--from', 'GoogleDrive', '--to', into], env);
  assert.equal(r.code, 0, r.out);
  const restored = (readdirSync(into, { recursive: true }) as string[]).filter((p) => p.endsWith('data.txt'));
  assert.equal(restored.length, 1, `restored: ${restored.join(', ')}`);
  assert.equal(readFileSync(join(into, restored[0]!), 'utf8'), 'kept in Drive', 'restored from Drive');
  const c = await runCliAsync(['config'], env);
  assert.equal(c.code, 0, c.out);
  assert.match(c.stdout, /"GOOGLE_DRIVE_CREDENTIALS_JSON": "\*\*\*"/);
  const key = JSON.parse(fake.account.json).private_key as string;
  for (const out of [b.out, l.out, r.out, c.out]) {
    assert.ok(!out.includes(key.split('\n')[1]!), 'no line of the private key in any output');
  }
});

test('GoogleDrive in BACKUP_SKIP_BACKENDS_FROM_PRUNE is accepted; a misspelt kind is refused naming the kinds', async () => {
  const ok = await runCliAsync(['config'], setup({ BACKUP_RETENTION_DAYS: '7', BACKUP_SKIP_BACKENDS_FROM_PRUNE: 'GoogleDrive' }).env);
  assert.equal(ok.code, 0, ok.out);
  const bad = await runCliAsync(['config'], setup({ BACKUP_SKIP_BACKENDS_FROM_PRUNE: 'GDrive' }).env);
  assert.equal(bad.code, 2, bad.out);
  assert.match(bad.out, /BACKUP_SKIP_BACKENDS_FROM_PRUNE.*GoogleDrive/);
});

test('a key that is not a service account key is a configuration error naming the variable, without its content', async () => {
  const r = await runCliAsync(
    ['config'],
    setup({ GOOGLE_DRIVE_CREDENTIALS_JSON_FILE: '', GOOGLE_DRIVE_CREDENTIALS_JSON: '{"type":"authorized_user","refresh_token":"rt-secret-123"}' }).env,
  );
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /GOOGLE_DRIVE_CREDENTIALS_JSON: is a key of type "authorized_user"/);
  assert.ok(!r.out.includes('rt-secret-123'));
});

test("parse: defaults, the key file named in the variable (as offen's tests do), endpoints, ids", () => {
  const parse = (env: Record<string, string>) => {
    const issues: ConfigIssue[] = [];
    return { cfg: parseGoogleDrive(env, issues), issues };
  };
  assert.deepEqual(parse({ GOOGLE_DRIVE_FOLDER_ID: 'x' }), { cfg: null, issues: [] });
  const { cfg } = parse({ GOOGLE_DRIVE_CREDENTIALS_JSON: fake.account.json });
  assert.deepEqual(
    { ...cfg, credentialsJson: '' },
    { credentialsJson: '', folderId: '', impersonateSubject: '', endpoint: 'https://www.googleapis.com/', tokenUrl: '', teamDriveId: '' },
  );
  const { dir } = setup();
  const path = join(dir, 'key.json');
  writeFileSync(path, fake.account.json);
  const byPath = parse({
    GOOGLE_DRIVE_CREDENTIALS_JSON: path,
    GOOGLE_DRIVE_ENDPOINT: 'http://127.0.0.1:8080/drive/v3/',
    GOOGLE_DRIVE_TEAM_DRIVE_ID: '0AbCd_-9',
  });
  assert.deepEqual(byPath.issues, []);
  assert.equal(byPath.cfg?.credentialsJson, readFileSync(path, 'utf8'));
  assert.equal(byPath.cfg?.endpoint, 'http://127.0.0.1:8080/');
  assert.equal(byPath.cfg?.teamDriveId, '0AbCd_-9');
  const bad = parse({ GOOGLE_DRIVE_CREDENTIALS_JSON: '/nonexistent/key.json', GOOGLE_DRIVE_TOKEN_URL: 'not a url', GOOGLE_DRIVE_FOLDER_ID: 'a/b' });
  assert.equal(bad.cfg, null);
  assert.deepEqual(
    bad.issues.map((i) => i.variable),
    ['GOOGLE_DRIVE_CREDENTIALS_JSON'],
  );
  const bad2 = parse({ GOOGLE_DRIVE_CREDENTIALS_JSON: fake.account.json, GOOGLE_DRIVE_TOKEN_URL: 'not a url', GOOGLE_DRIVE_FOLDER_ID: 'a/b' });
  assert.deepEqual(bad2.issues.map((i) => i.variable).sort(), ['GOOGLE_DRIVE_FOLDER_ID', 'GOOGLE_DRIVE_TOKEN_URL']);
});
