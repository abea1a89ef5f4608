// A failed start-up is notified (offen does it): exit 2 and silence would leave a sidecar in a
// restart loop unnoticed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startRecorder, type HttpRecorder } from '../servers/http-recorder.ts';

let rec: HttpRecorder;
before(async () => {
  rec = await startRecorder();
});
after(async () => {
  await rec.close();
});

describe('failed start-up', () => {
  test('a configuration error is notified to the URLs that parse, saying what is wrong', async () => {
    rec.reset();
    const { env } = isolatedEnv({
      NOTIFICATION_URLS: `generic+http://${rec.host}/hook?template=json`,
      BACKUP_CRON_EXPRESSION: 'every day',
      AWS_S3_BUCKET_NAME: 'b',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY_FILE: '/nonexistent/secret',
    });
    const r = await runCliAsync(['backup'], env);
    assert.equal(r.code, 2, r.out);
    assert.equal(rec.requests.length, 1, r.out);
    const body = rec.requests[0]!.json as { title: string; message: string };
    assert.match(body.title, /start-up FAILED/);
    assert.match(body.message, /BACKUP_CRON_EXPRESSION: "every day"/);
    assert.match(body.message, /AWS_SECRET_ACCESS_KEY_FILE: the file .* does not exist/);
    assert.match(r.out, /the failure was notified to 1 of 1 notification URL/);
  });

  test('the daemon notifies too; URLs from conf.d files count; a URL that does not parse is skipped', async () => {
    rec.reset();
    const { dir, env } = isolatedEnv({ NOTIFICATION_URLS: 'nosuchscheme://x' });
    writeFileSync(join(dir, 'conf.d', 'a.env'), `NOTIFICATION_URLS=generic+http://${rec.host}/from-confd?template=json\nBACKUP_RETENTION_DAYS=seven\n`);
    const r = await runCliAsync(['daemon'], env);
    assert.equal(r.code, 2, r.out);
    assert.deepEqual(
      rec.requests.map((q) => q.path),
      ['/from-confd'],
    );
    assert.match((rec.requests[0]!.json as { message: string }).message, /BACKUP_RETENTION_DAYS/);
  });

  test('commands that only read (config) do not notify', async () => {
    rec.reset();
    const { env } = isolatedEnv({ NOTIFICATION_URLS: `generic+http://${rec.host}/hook?template=json`, BACKUP_CRON_EXPRESSION: 'bad' });
    const r = await runCliAsync(['config'], env);
    assert.equal(r.code, 2, r.out);
    assert.equal(rec.requests.length, 0);
  });

  test('secrets stay out of the notification', async () => {
    rec.reset();
    const { env } = isolatedEnv({
      NOTIFICATION_URLS: `generic+http://${rec.host}/hook?template=json`,
      GPG_PASSPHRASE: 'hunter2-very-secret',
      AGE_PASSPHRASE: 'another-secret-value',
    });
    const r = await runCliAsync(['backup'], env);
    assert.equal(r.code, 2, r.out);
    assert.equal(rec.requests.length, 1, r.out);
    assert.ok(!rec.requests[0]!.body.includes('hunter2-very-secret'));
    assert.ok(!rec.requests[0]!.body.includes('another-secret-value'));
  });
});
