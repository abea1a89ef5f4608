// `offsite backup` (by hand or from cron) pings the push monitors too; a monitor answering 500
// leaves the backup's exit code 0.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startRecorder } from '../servers/http-recorder.ts';

const rec = await startRecorder();
after(() => rec.close());

test('offsite backup: /start and success pings with one rid; a failing monitor does not fail the backup', async () => {
  const { dir, env } = isolatedEnv();
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'archive'));
  writeFileSync(join(dir, 'src', 'x'), 'x');
  const e = {
    ...env,
    BACKUP_SOURCES: join(dir, 'src'),
    BACKUP_ARCHIVE: join(dir, 'archive'),
    OFFSITE_HEALTHCHECKS_URL: `${rec.url}/ping/abcdef012345`,
    OFFSITE_UPTIME_KUMA_URL: `${rec.url}/api/push/pushtoken99`,
  };
  const r = await runCliAsync(['backup'], e);
  assert.equal(r.code, 0, r.out);
  const start = rec.requests.find((q) => q.path === '/ping/abcdef012345/start');
  const done = rec.requests.find((q) => q.path === '/ping/abcdef012345');
  assert.ok(start && done, JSON.stringify(rec.requests.map((q) => q.path)));
  assert.equal(start.query.get('rid'), done.query.get('rid'));
  assert.match(done.body, /status: success/);
  assert.equal(rec.requests.find((q) => q.path === '/api/push/pushtoken99')?.query.get('status'), 'up');

  rec.reset();
  rec.handle(() => ({ status: 500, body: 'down for maintenance' }));
  const failing = await runCliAsync(['backup'], e);
  assert.equal(failing.code, 0, failing.out);
  assert.match(failing.out, /the healthchecks ping failed \(HTTP 500\); the backup itself is not affected/);
  assert.ok(!failing.out.includes('abcdef012345') && !failing.out.includes('pushtoken99'), 'a ping URL token in the output');
});
