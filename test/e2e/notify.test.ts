import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startRecorder } from '../servers/http-recorder.ts';

test('offsite backup notifies: none on success at level error, one at level info, one naming the failure', async (t) => {
  const rec = await startRecorder();
  t.after(() => rec.close());
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a'), 'a');
  const archiveDir = join(dir, 'archive');
  mkdirSync(archiveDir);
  const url = `generic+${rec.url.replace(/\/$/, '')}/hook?template=json`;
  const base = { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, NOTIFICATION_URLS: url };

  // each run gets its own file name: runs in the same second would otherwise collide (the local destination never overwrites)
  let r = await runCliAsync(['backup'], base);
  assert.equal(r.code, 0, r.out);
  assert.equal(rec.requests.length, 0, 'no notification for a successful run at level error');

  r = await runCliAsync(['backup'], { ...base, NOTIFICATION_LEVEL: 'info', BACKUP_FILENAME: 'second-%Y-%m-%dT%H-%M-%S.{{ .Extension }}' });
  assert.equal(r.code, 0, r.out);
  assert.equal(rec.requests.length, 1);
  assert.match(JSON.parse(rec.requests[0]!.body).title, /success|succeeded|ok/i);

  r = await runCliAsync(['backup'], { ...base, BACKUP_SOURCES: join(dir, 'missing-source'), BACKUP_FILENAME: 'failing-%Y-%m-%dT%H-%M-%S.{{ .Extension }}' });
  assert.equal(r.code, 1, r.out);
  assert.equal(rec.requests.length, 2);
  const body = JSON.parse(rec.requests[1]!.body);
  assert.match(`${body.title}\n${body.message}`, /fail/i);
  assert.match(body.message, /missing-source/);
});
