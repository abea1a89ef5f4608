import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  applyKeepPolicy,
  parseCalendarDuration,
  formatCalendarDuration,
  formatReason,
  describePolicy,
  isoWeekKey,
  subtractCalendar,
  isEmptyPolicy,
  EMPTY_KEEP_POLICY,
  COUNT_RULES,
  type KeepPolicy,
  type KeepReason,
} from '../../src/retention/policy.ts';

const DAY = 86_400_000;
const FUTURE = Date.parse('2100-01-01T00:00:00Z');
const keepPolicy = (p: Partial<KeepPolicy>): KeepPolicy => ({ ...EMPTY_KEEP_POLICY, ...p });
const apply = (times: number[], p: Partial<KeepPolicy>, timeZone = 'UTC', now = FUTURE) => applyKeepPolicy(times, (t) => t, keepPolicy(p), { timeZone, now });
const kept = (times: number[], p: Partial<KeepPolicy>, timeZone = 'UTC') =>
  apply(times, p, timeZone)
    .filter((d) => d.keep)
    .map((d) => new Date(d.item).toISOString());

/** 60 daily backups at 02:00 from 2026-01-01 to 2026-03-01. */
const sixtyDays = Array.from({ length: 60 }, (_, i) => Date.parse('2026-01-01T02:00:00Z') + i * DAY);

describe('the issue test vector', () => {
  test('daily 7, weekly 4, monthly 3 keep Jan 31, Feb 8, 15, 22 and Feb 23 to Mar 1', () => {
    const days = kept(sixtyDays, { daily: 7, weekly: 4, monthly: 3 })
      .map((s) => s.slice(0, 10))
      .sort();
    assert.deepEqual(days, [
      '2026-01-31',
      '2026-02-08',
      '2026-02-15',
      '2026-02-22',
      '2026-02-23',
      '2026-02-24',
      '2026-02-25',
      '2026-02-26',
      '2026-02-27',
      '2026-02-28',
      '2026-03-01',
    ]);
  });

  test('the reasons name each rule and its count', () => {
    const d = apply(sixtyDays, { daily: 7, weekly: 4, monthly: 3 });
    const why = (day: string) =>
      d
        .find((x) => new Date(x.item).toISOString().startsWith(day))!
        .reasons.map(formatReason)
        .join(', ');
    assert.equal(why('2026-03-01'), 'daily 1/7, weekly 1/4, monthly 1/3');
    assert.equal(why('2026-02-28'), 'daily 2/7, monthly 2/3');
    assert.equal(why('2026-02-23'), 'daily 7/7');
    assert.equal(why('2026-02-22'), 'weekly 2/4');
    assert.equal(why('2026-02-08'), 'weekly 4/4');
    assert.equal(why('2026-01-31'), 'monthly 3/3');
    assert.equal(why('2026-01-30'), '');
  });

  test('the same series in Europe/Berlin (02:00 UTC is 03:00 there) gives the same days', () => {
    const days = kept(sixtyDays, { daily: 7, weekly: 4, monthly: 3 }, 'Europe/Berlin')
      .map((s) => s.slice(0, 10))
      .sort();
    assert.equal(days.length, 11);
    assert.ok(days.includes('2026-01-31') && days.includes('2026-02-08'));
  });

  test('a rule with count left keeps the oldest backup too (restic >= 0.16)', () => {
    const d = apply(sixtyDays, { monthly: 12 });
    const keptDays = d.filter((x) => x.keep).map((x) => new Date(x.item).toISOString().slice(0, 10));
    assert.deepEqual(keptDays, ['2026-03-01', '2026-02-28', '2026-01-31', '2026-01-01']);
    assert.equal(formatReason(d.at(-1)!.reasons[0]!), 'oldest monthly 4/12');
  });

  test('time zones decide the bucket: 23:30 UTC is the next day in Berlin', () => {
    const t = [Date.parse('2026-01-05T23:30:00Z'), Date.parse('2026-01-05T22:30:00Z')];
    assert.equal(kept(t, { daily: 5 }, 'UTC').length, 2); // same UTC day, but the older is the oldest: kept
    assert.equal(apply(t, { daily: 5 }, 'UTC')[1]!.reasons.map(formatReason).join(), 'oldest daily 2/5');
    assert.equal(apply(t, { daily: 5 }, 'Europe/Berlin')[1]!.reasons.map(formatReason).join(), 'daily 2/5');
  });
});

interface GoldenCase {
  index: number;
  policy: { last?: number; hourly?: number; daily?: number; weekly?: number; monthly?: number; yearly?: number; within?: string };
  keep: Array<{ time: string; matches: string[]; counters: Record<string, number> }>;
  skip?: string;
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/restic-policy.json', import.meta.url), 'utf8')) as { snapshots: string[]; cases: GoldenCase[] };

/** restic's match text for a reason. */
function resticMatch(r: KeepReason): string {
  if (r.rule === 'within') return `within ${formatCalendarDuration(r.within)}`;
  return `${r.oldest ? 'oldest ' : ''}${r.rule === 'last' ? 'last' : r.rule} snapshot`;
}

describe("restic's golden cases (ported from restic, BSD-2-Clause; see fixtures/restic-LICENSE)", () => {
  const times = golden.snapshots.map((s) => Date.parse(`${s.replace(' ', 'T')}Z`));
  for (const c of golden.cases) {
    test(`policy_keep_snapshots_${c.index} ${JSON.stringify(c.policy)}`, { skip: c.skip }, () => {
      const within = c.policy.within ? parseCalendarDuration(c.policy.within) : null;
      assert.ok(!c.policy.within || within);
      const decisions = applyKeepPolicy(times, (t) => t, keepPolicy({ ...c.policy, within }), { timeZone: 'UTC', now: Date.now() });
      assert.equal(decisions.length, times.length);
      const got = decisions
        .filter((d) => d.keep)
        .map((d) => {
          const counters: Record<string, number> = {};
          for (const r of COUNT_RULES) {
            const v = c.policy[r] ?? 0;
            if (v === 0) continue;
            // restic's counters after this snapshot: the count left (-1 stays -1)
            const used = Math.max(
              0,
              ...decisions
                .slice(0, decisions.indexOf(d) + 1)
                .flatMap((x) => x.reasons)
                .filter((x) => x.rule === r)
                .map((x) => (x as { n: number }).n),
            );
            const left = v < 0 ? -1 : v - used;
            if (left !== 0) counters[r] = left;
          }
          return {
            time: new Date(d.item)
              .toISOString()
              .replace('.000Z', 'Z')
              .replace(/\.(\d)00Z$/, '.$1Z'),
            matches: d.reasons.map(resticMatch),
            counters,
          };
        });
      assert.deepEqual(got, c.keep);
    });
  }
});

describe('calendar durations (restic spelling)', () => {
  const ok: Array<[string, string]> = [
    ['1y2m3d4h', '1y2m3d4h'],
    ['14d', '14d'],
    ['36h', '36h'],
    ['1d1y', '1y1d'],
    [' 2m ', '2m'],
    ['0d', '0h'],
  ];
  for (const [s, f] of ok) test(`${JSON.stringify(s)} -> ${f}`, () => assert.equal(formatCalendarDuration(parseCalendarDuration(s)!), f));
  for (const bad of ['', '1', 'd', '1w', '1d1d', '-1d', '1.5d', '1 d', '1d x', '1D']) {
    test(`${JSON.stringify(bad)} is invalid`, () => assert.equal(parseCalendarDuration(bad), null));
  }
  test('subtracting months normalises overflow like Go AddDate (Mar 31 - 1m = Mar 3)', () => {
    assert.equal(
      new Date(subtractCalendar(Date.parse('2026-03-31T10:00:00Z'), { years: 0, months: 1, days: 0, hours: 0 }, 'UTC')).toISOString(),
      '2026-03-03T10:00:00.000Z',
    );
  });
  test('days are calendar days across a DST change; hours are elapsed hours', () => {
    // Berlin springs forward on 2026-03-29: 1 day before 2026-03-30 12:00 CEST is 2026-03-29 12:00 CEST (23h)
    const t = Date.parse('2026-03-30T10:00:00Z');
    assert.equal(new Date(subtractCalendar(t, { years: 0, months: 0, days: 1, hours: 0 }, 'Europe/Berlin')).toISOString(), '2026-03-29T10:00:00.000Z');
    assert.equal(new Date(subtractCalendar(t, { years: 0, months: 0, days: 2, hours: 0 }, 'Europe/Berlin')).toISOString(), '2026-03-28T11:00:00.000Z');
    assert.equal(new Date(subtractCalendar(t, { years: 0, months: 0, days: 0, hours: 48 }, 'Europe/Berlin')).toISOString(), '2026-03-28T10:00:00.000Z');
  });
});

describe('ISO weeks', () => {
  const rows: Array<[string, number]> = [
    ['2026-01-01', 202601],
    ['2025-12-29', 202601],
    ['2025-12-28', 202552],
    ['2021-01-03', 202053],
    ['2021-01-04', 202101],
    ['2020-12-31', 202053],
    ['2024-12-30', 202501],
    ['2026-03-01', 202609],
    ['2026-02-23', 202609],
    ['2026-02-22', 202608],
  ];
  for (const [d, w] of rows)
    test(`${d} is in ${w}`, () => {
      const [y, m, dd] = d.split('-').map(Number);
      assert.equal(isoWeekKey(y!, m!, dd!), w);
    });
});

describe('within', () => {
  test('keeps everything newer than the newest backup minus the duration, and nothing at the boundary', () => {
    const newest = Date.parse('2026-03-01T02:00:00Z');
    const d = apply([newest, newest - 7 * DAY, newest - 7 * DAY + 1], { within: { years: 0, months: 0, days: 7, hours: 0 } });
    assert.deepEqual(
      d.map((x) => x.keep),
      [true, true, false],
    );
    assert.equal(formatReason(d[0]!.reasons[0]!), 'within 7d');
  });
  test('a backup dated in the future is kept and does not move the window', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    const times = [
      Date.parse('2027-01-01T00:00:00Z'),
      Date.parse('2026-03-01T02:00:00Z'),
      Date.parse('2026-02-27T02:00:00Z'),
      Date.parse('2026-02-20T02:00:00Z'),
    ];
    const d = apply(times, { within: { years: 0, months: 0, days: 3, hours: 0 } }, 'UTC', now);
    assert.deepEqual(
      d.map((x) => x.keep),
      [true, true, true, false],
    );
  });
});

describe('descriptions', () => {
  test('policy', () => {
    assert.equal(
      describePolicy(keepPolicy({ last: 10, daily: 7, monthly: -1, within: { years: 1, months: 0, days: 0, hours: 0 } })),
      'last 10, daily 7, monthly unlimited, within 1y',
    );
    assert.equal(describePolicy(EMPTY_KEEP_POLICY), 'nothing');
    assert.ok(isEmptyPolicy(keepPolicy({ within: { years: 0, months: 0, days: 0, hours: 0 } })));
    assert.ok(!isEmptyPolicy(keepPolicy({ yearly: -1 })));
  });
  test('reasons', () => {
    assert.equal(formatReason({ rule: 'last', n: 3, of: -1, oldest: false }), 'last 3/unlimited');
  });
});

describe('properties of the policy', () => {
  const policyArb = fc.record({
    last: fc.constantFrom(0, 0, 1, 3, 10, -1),
    hourly: fc.constantFrom(0, 0, 2, 24, -1),
    daily: fc.constantFrom(0, 0, 1, 7, -1),
    weekly: fc.constantFrom(0, 0, 4, -1),
    monthly: fc.constantFrom(0, 0, 3, 12, -1),
    yearly: fc.constantFrom(0, 0, 2, -1),
    within: fc.option(
      fc.record({ years: fc.constantFrom(0, 1), months: fc.constantFrom(0, 2), days: fc.constantFrom(0, 3, 10), hours: fc.constantFrom(0, 5) }),
      { nil: null },
    ),
  });
  const timesArb = fc.array(fc.integer({ min: Date.parse('2024-01-01T00:00:00Z'), max: Date.parse('2026-12-31T00:00:00Z') }), { minLength: 1, maxLength: 80 });
  const zoneArb = fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata');

  test('a policy that keeps anything keeps the newest; applying it to what it kept keeps all of it (idempotent)', () => {
    fc.assert(
      fc.property(timesArb, policyArb, zoneArb, (times, policy, tz) => {
        const d = applyKeepPolicy(times, (t) => t, policy, { timeZone: tz, now: FUTURE });
        assert.equal(d.length, times.length);
        if (!isEmptyPolicy(policy)) assert.ok(d[0]!.keep, 'the newest is kept');
        const keptTimes = d.filter((x) => x.keep).map((x) => x.item);
        const again = applyKeepPolicy(keptTimes, (t) => t, policy, { timeZone: tz, now: FUTURE });
        assert.ok(
          again.every((x) => x.keep),
          'a second pass removes nothing more',
        );
      }),
      { numRuns: 300 },
    );
  });

  test('a count rule keeps at most its count (the oldest, too, uses one)', () => {
    fc.assert(
      fc.property(
        timesArb,
        fc.constantFrom('hourly', 'daily', 'weekly', 'monthly', 'yearly', 'last'),
        fc.integer({ min: 1, max: 10 }),
        (times, rule, count) => {
          const d = applyKeepPolicy(times, (t) => t, keepPolicy({ [rule]: count }), { timeZone: 'UTC', now: FUTURE });
          const k = d.filter((x) => x.keep);
          assert.ok(k.length <= count);
          assert.ok(k.length >= 1);
          assert.ok(k.every((x) => x.reasons.every((r) => r.rule === rule)));
        },
      ),
      { numRuns: 200 },
    );
  });
});
