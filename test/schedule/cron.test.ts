import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCron, nextFirings, startSchedule } from '../../src/schedule/cron.ts';

const iso = (ds: Date[]) => ds.map((d) => d.toISOString());
const FROM = new Date('2026-01-01T00:00:00Z'); // a Thursday

describe("cron: robfig/cron's dialect (offen's)", () => {
  test('offen\'s "never" (0 0 5 31 2 ?) is valid and never fires', () => {
    const s = parseCron('0 0 5 31 2 ?', 'UTC');
    assert.equal(s.kind, 'never');
    assert.equal(s.next(FROM), null);
    assert.deepEqual(nextFirings('0 0 5 31 2 ?', 'UTC', 8, FROM), []);
    let fired = 0;
    const r = startSchedule(s, () => {
      fired++;
    });
    assert.equal(r.next(), null);
    r.stop();
    assert.equal(fired, 0);
  });

  test('? in the day fields means any', () => {
    assert.deepEqual(iso(nextFirings('0 0 ? * 1', 'UTC', 2, FROM)), ['2026-01-05T00:00:00.000Z', '2026-01-12T00:00:00.000Z']);
    assert.deepEqual(iso(nextFirings('0 30 2 1 * ?', 'UTC', 2, FROM)), ['2026-01-01T02:30:00.000Z', '2026-02-01T02:30:00.000Z']);
  });

  test('5 fields, and 6 with seconds first', () => {
    assert.deepEqual(iso(nextFirings('*/15 * * * *', 'UTC', 2, FROM)), ['2026-01-01T00:15:00.000Z', '2026-01-01T00:30:00.000Z']);
    assert.deepEqual(iso(nextFirings('*/20 * * * * *', 'UTC', 2, FROM)), ['2026-01-01T00:00:20.000Z', '2026-01-01T00:00:40.000Z']);
  });

  test('day of month and day of week are ORed when both are restricted (Vixie/robfig)', () => {
    // the 10th OR a Monday
    assert.deepEqual(iso(nextFirings('0 0 10 * MON', 'UTC', 3, FROM)), ['2026-01-05T00:00:00.000Z', '2026-01-10T00:00:00.000Z', '2026-01-12T00:00:00.000Z']);
  });

  test('CRON_TZ= and TZ= prefixes set the zone', () => {
    const berlin = parseCron('CRON_TZ=Europe/Berlin 0 2 * * *', 'UTC');
    assert.equal(berlin.timezone, 'Europe/Berlin');
    assert.deepEqual(iso(berlin.nextRuns(1, FROM)), ['2026-01-01T01:00:00.000Z']);
    assert.deepEqual(iso(nextFirings('TZ=America/New_York 0 2 * * *', 'UTC', 1, FROM)), ['2026-01-01T07:00:00.000Z']);
    // without a prefix, the job's zone (TZ) applies
    assert.deepEqual(iso(nextFirings('0 2 * * *', 'Europe/Berlin', 1, FROM)), ['2026-01-01T01:00:00.000Z']);
    assert.throws(() => parseCron('CRON_TZ=Mars/Olympus 0 2 * * *', 'UTC'), /unknown time zone "Mars\/Olympus"/);
  });

  test('descriptors', () => {
    const first = (d: string) => nextFirings(d, 'UTC', 1, new Date('2026-03-04T05:06:07Z'))[0]!.toISOString();
    assert.equal(first('@yearly'), '2027-01-01T00:00:00.000Z');
    assert.equal(first('@annually'), '2027-01-01T00:00:00.000Z');
    assert.equal(first('@monthly'), '2026-04-01T00:00:00.000Z');
    assert.equal(first('@weekly'), '2026-03-08T00:00:00.000Z'); // Sunday
    assert.equal(first('@daily'), '2026-03-05T00:00:00.000Z');
    assert.equal(first('@midnight'), '2026-03-05T00:00:00.000Z');
    assert.equal(first('@hourly'), '2026-03-04T06:00:00.000Z');
    assert.equal(first('CRON_TZ=Europe/Berlin @daily'), '2026-03-04T23:00:00.000Z');
  });

  test('@every <Go duration>, truncated to whole seconds; less than 1s is refused (robfig would run every second)', () => {
    assert.deepEqual(iso(nextFirings('@every 1h30m', 'UTC', 2, FROM)), ['2026-01-01T01:30:00.000Z', '2026-01-01T03:00:00.000Z']);
    assert.equal(parseCron('@every 1500ms', 'UTC').everyMs, 1000);
    assert.throws(() => parseCron('@every 10ms', 'UTC'), /at least 1s/);
    assert.throws(() => parseCron('@every often', 'UTC'), /at least 1s/);
  });

  test('nextRuns gives the next N firings (for the largest-gap health rule)', () => {
    const runs = nextFirings('0 3 * * 1,4', 'UTC', 8, FROM);
    assert.equal(runs.length, 8);
    const gaps = runs.slice(1).map((d, i) => d.getTime() - runs[i]!.getTime());
    assert.equal(Math.max(...gaps), 4 * 86_400_000);
  });

  test('bad expressions are refused with a message', () => {
    assert.throws(() => parseCron('0 0 * * * * 2026', 'UTC'), /expected 5 fields/);
    assert.throws(() => parseCron('0 0 *', 'UTC'), /expected 5 fields/);
    assert.throws(() => parseCron('61 * * * *', 'UTC'), /not a valid cron expression/);
    assert.throws(() => parseCron('@fortnightly', 'UTC'), /unknown descriptor/);
  });
});

describe('BACKUP_CRON_EXPRESSION in the configuration', () => {
  test("offen's forms are accepted", async () => {
    const { loadConfig } = await import('../../src/config/index.ts');
    const { mkdtempSync, mkdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'offsite-cron-'));
    mkdirSync(join(dir, 'conf.d'));
    for (const cron of ['0 0 5 31 2 ?', '0 0 ? * MON', 'CRON_TZ=Europe/Berlin 0 2 * * *', 'TZ=UTC @daily', '@midnight', '@annually', '@every 1h30m']) {
      const c = loadConfig({ env: { OFFSITE_CONF_DIR: join(dir, 'conf.d'), BACKUP_CRON_EXPRESSION: cron, VERIFY_CRON_EXPRESSION: cron }, cwd: dir });
      assert.equal(c.jobs[0]!.schedule.cron, cron);
    }
  });
});
