import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  planPrune,
  pruneDeadline,
  isTemporaryName,
  SIDECAR_SUFFIX,
  EMPTY_KEEP_POLICY,
  type BackupObject,
  type RetentionPolicy,
  type KeepPolicy,
} from '../../src/retention/index.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = new Date('2026-03-10T12:00:00Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);
const obj = (name: string, ageMs: number): BackupObject => ({ name, size: 1, modified: at(-ageMs) });
const policy = (days: number, over: Partial<RetentionPolicy> = {}): RetentionPolicy => ({ days, leewayMs: MIN, prefix: 'backup-', ...over });

interface Case {
  name: string;
  listing: BackupObject[];
  policy: RetentionPolicy;
  justWritten?: string | null;
  remove: string[];
  /** Substrings expected in the warnings (in order); [] = no warnings. */
  warnings?: string[];
}

const cases: Case[] = [
  {
    name: 'negative days disables pruning entirely',
    listing: [obj('backup-1', 100 * DAY), obj('backup-2', 90 * DAY), obj('backup-3', 0)],
    policy: policy(-1),
    remove: [],
  },
  {
    name: 'empty listing',
    listing: [],
    policy: policy(7),
    remove: [],
  },
  {
    name: 'removes backups older than the deadline, oldest first',
    listing: [obj('backup-4', 1 * HOUR), obj('backup-2', 9 * DAY), obj('backup-1', 10 * DAY), obj('backup-3', 2 * DAY)],
    policy: policy(7),
    remove: ['backup-1', 'backup-2'],
  },
  {
    name: 'refuses to delete every backup, with a warning',
    listing: [obj('backup-1', 10 * DAY), obj('backup-2', 9 * DAY), obj('backup-3', 8 * DAY)],
    policy: policy(7),
    remove: [],
    warnings: ['refusing to delete all 3 backup(s) starting with "backup-"'],
  },
  {
    name: 'a single old backup is never deleted',
    listing: [obj('backup-1', 30 * DAY)],
    policy: policy(1),
    remove: [],
    warnings: ['refusing to delete all 1 backup(s)'],
  },
  {
    name: 'the just-written backup keeps the others prunable',
    listing: [obj('backup-1', 10 * DAY), obj('backup-2', 9 * DAY), obj('backup-new', 0)],
    policy: policy(7),
    justWritten: 'backup-new',
    remove: ['backup-1', 'backup-2'],
  },
  {
    name: 'the just-written backup is kept even when the destination clock says it is old',
    listing: [obj('backup-1', 10 * DAY), obj('backup-new', 9 * DAY), obj('backup-3', 1 * DAY)],
    policy: policy(7),
    justWritten: 'backup-new',
    remove: ['backup-1'],
    warnings: ['kept backup-new: it was just written'],
  },
  {
    name: 'exactly at the deadline is kept; one millisecond older is removed',
    listing: [obj('backup-a', 7 * DAY + MIN), obj('backup-b', 7 * DAY + MIN + 1), obj('backup-c', 0)],
    policy: policy(7),
    remove: ['backup-b'],
  },
  {
    name: 'the leeway protects backups just past N days',
    listing: [obj('backup-a', 7 * DAY + 30 * MIN), obj('backup-b', 7 * DAY + 2 * HOUR), obj('backup-c', 0)],
    policy: policy(7, { leewayMs: HOUR }),
    remove: ['backup-b'],
  },
  {
    name: 'days = 0 removes everything older than the leeway except the newest',
    listing: [obj('backup-a', 2 * MIN), obj('backup-b', 30 * 1000), obj('backup-c', 5 * MIN)],
    policy: policy(0),
    remove: ['backup-c', 'backup-a'],
  },
  {
    name: 'names outside the prefix are never touched and are not candidates',
    listing: [obj('backup-1', 10 * DAY), obj('other-1', 20 * DAY), obj('notes.txt', 30 * DAY), obj('xbackup-1', 30 * DAY), obj('other-new', 0)],
    policy: policy(7),
    remove: [],
    warnings: ['refusing to delete all 1 backup(s)'],
  },
  {
    name: 'an empty prefix makes every name a candidate',
    listing: [obj('a', 10 * DAY), obj('b', 9 * DAY), obj('c', 0)],
    policy: policy(7, { prefix: '' }),
    remove: ['a', 'b'],
  },
  {
    name: 'temporary upload names are ignored (never removed, never counted)',
    listing: [
      obj('backup-1.tar.gz', 10 * DAY),
      obj('backup-2.tar.gz.tmp', 20 * DAY),
      obj('backup-3.tar.gz.tmp-8f3a', 20 * DAY),
      obj('backup-4.tar.gz.part', 20 * DAY),
      obj('backup-5.tar.gz', 0),
    ],
    policy: policy(7),
    remove: ['backup-1.tar.gz'],
  },
  {
    name: 'a temporary name newer than every backup does not count as the newest',
    listing: [obj('backup-1', 10 * DAY), obj('backup-2', 9 * DAY), obj('backup-3.tmp', 0)],
    policy: policy(7),
    remove: [],
    warnings: ['refusing to delete all 2 backup(s)'],
  },
  {
    name: 'a removed archive takes its sidecar, even a newer one; a kept archive keeps it',
    listing: [
      obj('backup-1.tar.gz', 10 * DAY),
      obj('backup-1.tar.gz.manifest.json', 1 * DAY),
      obj('backup-2.tar.gz', 0),
      obj('backup-2.tar.gz.manifest.json', 30 * DAY),
    ],
    policy: policy(7),
    remove: ['backup-1.tar.gz', 'backup-1.tar.gz.manifest.json'],
  },
  {
    name: 'sidecars are not candidates: an old archive with fresh sidecar alone is still "all"',
    listing: [obj('backup-1.tar.gz', 10 * DAY), obj('backup-1.tar.gz.manifest.json', 0)],
    policy: policy(7),
    remove: [],
    warnings: ['refusing to delete all 1 backup(s)'],
  },
  {
    name: 'an orphan sidecar is removed only when older than the deadline',
    listing: [
      obj('backup-0.tar.gz.manifest.json', 10 * DAY),
      obj('backup-9.tar.gz.manifest.json', 1 * DAY),
      obj('backup-5.tar.gz', 3 * DAY),
      obj('backup-6.tar.gz', 0),
    ],
    policy: policy(7),
    remove: ['backup-0.tar.gz.manifest.json'],
  },
  {
    name: 'the sidecar of the just-written archive is never removed, even as an orphan',
    listing: [obj('backup-new.tar.gz.manifest.json', 10 * DAY), obj('backup-1.tar.gz', 1 * DAY)],
    policy: policy(7),
    justWritten: 'backup-new.tar.gz',
    remove: [],
  },
  {
    name: 'newest by time, ties broken by name: the larger name is kept',
    listing: [obj('backup-a', 10 * DAY), obj('backup-b', 10 * DAY), obj('backup-c', 10 * DAY), obj('backup-z.tmp', 0)],
    policy: policy(7),
    remove: [],
    warnings: ['refusing to delete all 3'],
  },
  {
    name: 'the newest is kept when only the just-written one is fresh (clock skew)',
    listing: [obj('backup-a', 10 * DAY), obj('backup-b', 9 * DAY), obj('backup-jw', -DAY + 1000)],
    policy: policy(7),
    justWritten: 'backup-jw',
    remove: ['backup-a', 'backup-b'],
  },
  {
    name: 'the newest is kept even when old, as long as it is not "all" (just-written kept too)',
    listing: [obj('backup-a', 10 * DAY), obj('backup-jw', 9 * DAY + HOUR), obj('backup-b', 9 * DAY)],
    policy: policy(7),
    justWritten: 'backup-jw',
    remove: ['backup-a'],
    warnings: ['kept backup-jw: it was just written', 'kept backup-b: it is the newest backup'],
  },
  {
    name: 'an unknown modification time is kept with a warning',
    listing: [{ name: 'backup-x', size: 1, modified: new Date(NaN) }, obj('backup-1', 10 * DAY), obj('backup-2', 0)],
    policy: policy(7),
    remove: ['backup-1'],
    warnings: ['kept backup-x: its modification time is unknown'],
  },
  {
    name: 'a repeated name in the listing is handled once',
    listing: [obj('backup-1', 10 * DAY), obj('backup-1', 10 * DAY), obj('backup-2', 0)],
    policy: policy(7),
    remove: ['backup-1'],
  },
  {
    name: 'prefix may be a path-like or expanded name part',
    listing: [obj('db-prod-1', 10 * DAY), obj('db-prod-2', 0), obj('db-staging-1', 10 * DAY), obj('db-staging-2', 0)],
    policy: policy(7, { prefix: 'db-prod-' }),
    remove: ['db-prod-1'],
  },
];

describe('planPrune table', () => {
  for (const c of cases) {
    test(c.name, () => {
      const d = planPrune(c.listing, c.policy, NOW, c.justWritten ?? null);
      assert.deepEqual(d.remove, c.remove);
      const want = c.warnings ?? [];
      assert.equal(d.warnings.length, want.length, `warnings: ${JSON.stringify(d.warnings)}`);
      want.forEach((w, i) => assert.ok(d.warnings[i]!.includes(w), `warning ${i} ${JSON.stringify(d.warnings[i])} should include ${JSON.stringify(w)}`));
    });
  }

  test('does not mutate its inputs', () => {
    const listing = [obj('backup-2', 0), obj('backup-1', 10 * DAY)];
    const copy = listing.map((o) => ({ ...o }));
    const p = policy(7);
    planPrune(listing, p, NOW, null);
    assert.deepEqual(listing, copy);
    assert.deepEqual(p, policy(7));
  });

  test('pruneDeadline = now - days*24h - leeway', () => {
    assert.equal(pruneDeadline(policy(7, { leewayMs: 5 * MIN }), NOW).getTime(), NOW.getTime() - 7 * DAY - 5 * MIN);
    assert.equal(pruneDeadline(policy(0, { leewayMs: 0 }), NOW).getTime(), NOW.getTime());
  });

  test('isTemporaryName', () => {
    for (const n of ['a.tmp', 'a.tar.gz.tmp', 'a.tmp-1f2e', 'a.tmp.1f2e', 'a.part', 'a.partial', 'A.TMP', 'a.upload']) assert.ok(isTemporaryName(n), n);
    for (const n of ['a.tar.gz', 'tmp', 'a.tmpx', 'backup-tmp.tar.gz', 'a.tar.gz.manifest.json', 'a.tar.zst.age']) assert.ok(!isTemporaryName(n), n);
  });
});

// ---------------------------------------------------------------------------
// Properties over random listings.

const PREFIXES = ['backup-', 'backup-', 'bak', 'other-', '', 'x'];
const SUFFIXES = ['.tar.gz', '.tar.gz', '.tar.zst', '.tar.gz.age', '.tar.gz.tmp', '.tar.gz.tmp-ab12', '.part', SIDECAR_SUFFIX, '.tar.gz' + SIDECAR_SUFFIX];
const nameArb = fc
  .tuple(fc.constantFrom(...PREFIXES), fc.integer({ min: 0, max: 12 }), fc.constantFrom(...SUFFIXES))
  .map(([p, i, s]) => `${p}${String(i).padStart(2, '0')}${s}`);
// Times cluster around interesting points (deadlines of small day counts) to produce ties and boundaries.
const ageArb = fc.oneof(
  fc.integer({ min: -DAY, max: 20 * DAY }),
  fc.constantFrom(0, DAY, 3 * DAY, 3 * DAY + MIN, 7 * DAY, 7 * DAY + MIN, 7 * DAY + MIN + 1, 10 * DAY),
);
const listingArb = fc.uniqueArray(fc.record({ name: nameArb, size: fc.nat(1000), modified: ageArb.map((a) => at(-a)) }), {
  selector: (o) => o.name,
  maxLength: 30,
});
const policyArb: fc.Arbitrary<RetentionPolicy> = fc.record({
  days: fc.integer({ min: -3, max: 12 }),
  leewayMs: fc.constantFrom(0, MIN, HOUR, DAY),
  prefix: fc.constantFrom('backup-', 'backup-0', 'bak', '', 'other-', 'nomatch-'),
});
const scenarioArb = listingArb.chain((listing) =>
  fc.record({
    listing: fc.constant(listing),
    policy: policyArb,
    justWritten: fc.oneof(
      fc.constant(null),
      fc.constant('backup-99.tar.gz'),
      listing.length ? fc.constantFrom(...listing.map((o) => o.name)) : fc.constant(null),
    ),
  }),
);

/** Independent statement of who counts as a backup candidate. */
function candidatesOf(listing: BackupObject[], p: RetentionPolicy): BackupObject[] {
  return listing.filter((o) => o.name.startsWith(p.prefix) && !o.name.endsWith(SIDECAR_SUFFIX) && !isTemporaryName(o.name));
}
function newestOf(c: BackupObject[]): BackupObject | undefined {
  return [...c].sort((a, b) => b.modified.getTime() - a.modified.getTime() || (a.name < b.name ? 1 : -1))[0];
}

const RUNS = { numRuns: 1500 };

describe('planPrune properties', () => {
  test('days < 0 removes nothing', () => {
    fc.assert(
      fc.property(scenarioArb, ({ listing, policy: p, justWritten }) => {
        const d = planPrune(listing, { ...p, days: -1 - Math.abs(p.days) }, NOW, justWritten);
        assert.deepEqual(d.remove, []);
      }),
      RUNS,
    );
  });

  test('only listed names, within the prefix, never temporary, no repeats', () => {
    fc.assert(
      fc.property(scenarioArb, ({ listing, policy: p, justWritten }) => {
        const { remove } = planPrune(listing, p, NOW, justWritten);
        const names = new Set(listing.map((o) => o.name));
        assert.equal(new Set(remove).size, remove.length);
        for (const n of remove) {
          assert.ok(names.has(n), `${n} not listed`);
          assert.ok(n.startsWith(p.prefix), `${n} outside prefix ${p.prefix}`);
          assert.ok(!isTemporaryName(n), `${n} is temporary`);
        }
      }),
      RUNS,
    );
  });

  test('never the just-written archive nor its sidecar', () => {
    fc.assert(
      fc.property(scenarioArb, ({ listing, policy: p, justWritten }) => {
        const { remove } = planPrune(listing, p, NOW, justWritten);
        if (justWritten) {
          assert.ok(!remove.includes(justWritten));
          assert.ok(!remove.includes(justWritten + SIDECAR_SUFFIX));
        }
      }),
      RUNS,
    );
  });

  test('never the newest candidate, never every candidate', () => {
    fc.assert(
      fc.property(scenarioArb, ({ listing, policy: p, justWritten }) => {
        const d = planPrune(listing, p, NOW, justWritten);
        const cands = candidatesOf(listing, p);
        const newest = newestOf(cands);
        if (newest) assert.ok(!d.remove.includes(newest.name), `removed newest ${newest.name}`);
        const removedCands = cands.filter((c) => d.remove.includes(c.name));
        if (cands.length > 0) assert.ok(removedCands.length < cands.length, 'removed every candidate');
      }),
      RUNS,
    );
  });

  test('only what is older than the deadline (a sidecar goes only with its archive)', () => {
    fc.assert(
      fc.property(scenarioArb, ({ listing, policy: p, justWritten }) => {
        const { remove } = planPrune(listing, p, NOW, justWritten);
        const deadline = pruneDeadline(p, NOW).getTime();
        const byName = new Map(listing.map((o) => [o.name, o]));
        for (const n of remove) {
          const o = byName.get(n)!;
          if (n.endsWith(SIDECAR_SUFFIX) && byName.has(n.slice(0, -SIDECAR_SUFFIX.length))) {
            assert.ok(remove.includes(n.slice(0, -SIDECAR_SUFFIX.length)), `sidecar ${n} removed without its archive`);
          } else {
            assert.ok(o.modified.getTime() < deadline, `${n} is not older than the deadline`);
          }
        }
      }),
      RUNS,
    );
  });

  test('a removed archive always takes its listed sidecar', () => {
    fc.assert(
      fc.property(scenarioArb, ({ listing, policy: p, justWritten }) => {
        const { remove } = planPrune(listing, p, NOW, justWritten);
        const names = new Set(listing.map((o) => o.name));
        for (const n of remove) {
          const s = n + SIDECAR_SUFFIX;
          if (names.has(s) && s.startsWith(p.prefix)) assert.ok(remove.includes(s), `${n} removed but not ${s}`);
        }
      }),
      RUNS,
    );
  });

  test('prunes everything it may: every other expired candidate goes unless it refused with a warning', () => {
    fc.assert(
      fc.property(scenarioArb, ({ listing, policy: p, justWritten }) => {
        if (p.days < 0) return;
        const d = planPrune(listing, p, NOW, justWritten);
        const deadline = pruneDeadline(p, NOW).getTime();
        const cands = candidatesOf(listing, p);
        const newest = newestOf(cands);
        const expected = cands.filter((c) => c.modified.getTime() < deadline && c.name !== justWritten && c !== newest);
        const refused = d.warnings.some((w) => w.startsWith('refusing'));
        if (refused) assert.deepEqual(d.remove, []);
        else for (const c of expected) assert.ok(d.remove.includes(c.name), `${c.name} should have been removed`);
      }),
      RUNS,
    );
  });

  test('idempotent: planning again on what remains removes nothing', () => {
    fc.assert(
      fc.property(scenarioArb, ({ listing, policy: p, justWritten }) => {
        const first = planPrune(listing, p, NOW, justWritten);
        const gone = new Set(first.remove);
        const rest = listing.filter((o) => !gone.has(o.name));
        assert.deepEqual(planPrune(rest, p, NOW, justWritten).remove, []);
      }),
      RUNS,
    );
  });

  test('the order of the listing does not matter', () => {
    fc.assert(
      fc.property(scenarioArb, fc.nat(), ({ listing, policy: p, justWritten }, seed) => {
        const shuffled = [...listing];
        let s = seed;
        for (let i = shuffled.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) % 2 ** 31;
          const j = s % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        assert.deepEqual(planPrune(shuffled, p, NOW, justWritten), planPrune(listing, p, NOW, justWritten));
      }),
      RUNS,
    );
  });
});

// ------------------------------------------------------------------ count and calendar rules

const TEMPLATE = 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}';
const NAMES = { template: TEMPLATE, timeZone: 'UTC' };
const keepRules = (k: Partial<KeepPolicy>): RetentionPolicy => ({
  days: -1,
  leewayMs: MIN,
  prefix: 'backup-',
  keep: { ...EMPTY_KEEP_POLICY, ...k },
  names: NAMES,
});
const nameAt = (ms: number, ext = 'tar.gz') => `backup-${new Date(ms).toISOString().slice(0, 19).replace(/:/g, '-')}.${ext}`;
/** 60 daily backups at 02:00 from 2026-01-01 to 2026-03-01, all copied today (the modification times say nothing). */
const SERIES = Array.from({ length: 60 }, (_, i) => Date.parse('2026-01-01T02:00:00Z') + i * DAY);
const copiedToday = (times: number[]): BackupObject[] => times.map((t, i) => ({ name: nameAt(t), size: 1, modified: at(-i * 1000) }));

describe('planPrune with count and calendar rules', () => {
  test('the issue vector: times from the names, not the (copied) modification times', () => {
    const listing = copiedToday(SERIES);
    listing.push({ name: nameAt(SERIES[30]!) + SIDECAR_SUFFIX, size: 1, modified: NOW }); // 2026-01-31's sidecar
    listing.push({ name: nameAt(SERIES[3]!) + SIDECAR_SUFFIX, size: 1, modified: NOW });
    listing.push({ name: 'other-2026-01-01T02-00-00.tar.gz', size: 1, modified: at(-100 * DAY) });
    const d = planPrune(listing, keepRules({ daily: 7, weekly: 4, monthly: 3 }), NOW, null);
    const keptDays = d.backups.filter((b) => b.keep).map((b) => b.name.slice(7, 17));
    assert.deepEqual(keptDays, [
      '2026-03-01',
      '2026-02-28',
      '2026-02-27',
      '2026-02-26',
      '2026-02-25',
      '2026-02-24',
      '2026-02-23',
      '2026-02-22',
      '2026-02-15',
      '2026-02-08',
      '2026-01-31',
    ]);
    assert.equal(d.kept, 11);
    assert.equal(d.backups.length, 60);
    assert.ok(d.backups.every((b) => b.timeFrom === 'name'));
    assert.equal(d.remove.length, 49 + 1, '49 backups and the sidecar of a removed one');
    assert.ok(d.remove.includes(nameAt(SERIES[3]!) + SIDECAR_SUFFIX));
    assert.ok(!d.remove.includes(nameAt(SERIES[30]!) + SIDECAR_SUFFIX), 'the sidecar of a kept backup stays');
    assert.ok(!d.remove.some((n) => n.startsWith('other-')));
    assert.deepEqual(d.backups.find((b) => b.name.includes('2026-01-31'))!.reasons, ['monthly 3/3']);
    assert.deepEqual(d.backups.find((b) => b.name.includes('2026-01-30'))!.reasons, ['no rule keeps it']);
    assert.equal(d.remove[0], nameAt(SERIES[0]!), 'oldest first');
    assert.deepEqual(d.warnings, []);
  });

  test('a name that does not parse falls back to the modification time', () => {
    const listing: BackupObject[] = [
      { name: nameAt(Date.parse('2026-03-09T02:00:00Z')), size: 1, modified: NOW },
      { name: 'backup-manual.tar.gz', size: 1, modified: at(-5 * DAY) },
      { name: 'backup-older.tar.gz', size: 1, modified: at(-6 * DAY) },
    ];
    const d = planPrune(listing, keepRules({ last: 2 }), NOW, null);
    assert.deepEqual(
      d.backups.map((b) => [b.name, b.timeFrom, b.keep]),
      [
        [nameAt(Date.parse('2026-03-09T02:00:00Z')), 'name', true],
        ['backup-manual.tar.gz', 'modified', true],
        ['backup-older.tar.gz', 'modified', false],
      ],
    );
    assert.deepEqual(d.remove, ['backup-older.tar.gz']);
  });

  test('a backup whose time is unknown is kept, with a warning', () => {
    const listing: BackupObject[] = [...copiedToday(SERIES.slice(-3)), { name: 'backup-x.tar.gz', size: 1, modified: new Date(NaN) }];
    const d = planPrune(listing, keepRules({ last: 1 }), NOW, null);
    assert.ok(!d.remove.includes('backup-x.tar.gz'));
    assert.match(d.warnings.join('\n'), /backup-x\.tar\.gz: its time is unknown/);
    assert.equal(d.kept, 2);
  });

  test('the just-written backup stays even when the rules would remove it', () => {
    // its name says it is older than the others (a clock that was wrong): keep last 1 would remove it
    const listing = copiedToday(SERIES.slice(-3));
    const jw = listing[0]!.name;
    const d = planPrune(listing, keepRules({ last: 1 }), NOW, jw);
    assert.ok(!d.remove.includes(jw));
    assert.deepEqual(d.backups.find((b) => b.name === jw)!.reasons, ['just written']);
    assert.match(d.warnings.join(), /just written/);
  });

  test('rules that keep nothing remove nothing', () => {
    const d = planPrune(copiedToday(SERIES), keepRules({}), NOW, null);
    assert.deepEqual(d.remove, []);
    assert.match(d.warnings.join(), /keep nothing/);
  });

  test('a backup dated in the future by its name: kept by within, the window ends at the newest past backup', () => {
    const listing = copiedToday([...SERIES.slice(-5), Date.parse('2027-01-01T00:00:00Z')]);
    const d = planPrune(listing, keepRules({ within: { years: 0, months: 0, days: 2, hours: 0 } }), NOW, null);
    assert.deepEqual(
      d.backups.filter((b) => b.keep).map((b) => b.name.slice(7, 17)),
      ['2027-01-01', '2026-03-01', '2026-02-28'],
    );
  });

  test('orphan sidecars older than every kept backup go; newer ones stay', () => {
    const listing = copiedToday(SERIES.slice(-10));
    listing.push({ name: nameAt(Date.parse('2025-01-01T00:00:00Z')) + SIDECAR_SUFFIX, size: 1, modified: NOW });
    listing.push({ name: nameAt(Date.parse('2026-03-01T01:00:00Z')) + SIDECAR_SUFFIX, size: 1, modified: NOW });
    const d = planPrune(listing, keepRules({ last: 3 }), NOW, null);
    assert.ok(d.remove.includes(nameAt(Date.parse('2025-01-01T00:00:00Z')) + SIDECAR_SUFFIX));
    assert.ok(!d.remove.includes(nameAt(Date.parse('2026-03-01T01:00:00Z')) + SIDECAR_SUFFIX));
  });

  test('a time zone moves the calendar buckets: the name is read in TZ', () => {
    // 23:30 and 00:30 local on consecutive Berlin days; in UTC both are on the same day
    const listing: BackupObject[] = [
      { name: 'backup-2026-01-06T00-30-00.tar.gz', size: 1, modified: NOW },
      { name: 'backup-2026-01-05T23-30-00.tar.gz', size: 1, modified: NOW },
      { name: 'backup-2026-01-05T22-30-00.tar.gz', size: 1, modified: NOW },
    ];
    const d = planPrune(listing, { ...keepRules({ daily: 2 }), names: { template: TEMPLATE, timeZone: 'Europe/Berlin' } }, NOW, null);
    assert.deepEqual(d.remove, ['backup-2026-01-05T22-30-00.tar.gz']);
  });

  test('a 730-backup series is planned (time measured by the benchmark, not asserted)', () => {
    const two = Array.from({ length: 730 }, (_, i) => Date.parse('2024-03-01T02:00:00Z') + i * DAY);
    const d = planPrune(copiedToday(two), keepRules({ daily: 7, weekly: 4, monthly: 12, yearly: 3 }), NOW, null);
    assert.equal(d.backups.length, 730);
    assert.ok(d.kept >= 7 && d.kept <= 7 + 4 + 12 + 3);
  });
});

const keepArb: fc.Arbitrary<KeepPolicy> = fc.record({
  last: fc.constantFrom(0, 0, 1, 3, -1),
  hourly: fc.constantFrom(0, 0, 2, -1),
  daily: fc.constantFrom(0, 0, 1, 7, -1),
  weekly: fc.constantFrom(0, 0, 2, 4),
  monthly: fc.constantFrom(0, 0, 3, -1),
  yearly: fc.constantFrom(0, 0, 1),
  within: fc.option(fc.record({ years: fc.constant(0), months: fc.constantFrom(0, 1), days: fc.constantFrom(0, 2, 9), hours: fc.constantFrom(0, 6) }), {
    nil: null,
  }),
});
const keepScenarioArb = fc
  .record({
    times: fc.uniqueArray(
      fc.integer({ min: Date.parse('2025-06-01T00:00:00Z') / 1000, max: Date.parse('2026-03-10T11:00:00Z') / 1000 }).map((s) => s * 1000),
      { maxLength: 40 },
    ),
    extras: fc.subarray([
      'backup-manual.tar.gz',
      'backup-x.tar.gz.tmp-1',
      'other-2026-01-01T00-00-00.tar.gz',
      'backup-2020-01-01T00-00-00.tar.gz.manifest.json',
      'backup-2026-03-10T11-00-00.tar.gz.manifest.json',
    ]),
    sidecarEvery: fc.integer({ min: 1, max: 4 }),
    keep: keepArb,
    zone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York'),
    justWritten: fc.option(fc.nat(40), { nil: null }),
  })
  .map(({ times, extras, sidecarEvery, keep, zone, justWritten }) => {
    const listing: BackupObject[] = times.map((t, i) => ({ name: nameAt(t), size: 1, modified: at(-i * MIN) }));
    times.forEach((t, i) => {
      if (i % sidecarEvery === 0) listing.push({ name: nameAt(t) + SIDECAR_SUFFIX, size: 1, modified: NOW });
    });
    for (const e of extras) listing.push({ name: e, size: 1, modified: at(-30 * DAY) });
    const policy: RetentionPolicy = { days: -1, leewayMs: MIN, prefix: 'backup-', keep, names: { template: TEMPLATE, timeZone: zone } };
    return { listing, policy, justWritten: justWritten !== null && justWritten < times.length ? nameAt(times[justWritten]!) : null };
  });

describe('planPrune properties with count and calendar rules', () => {
  const R = { numRuns: 300 };
  test('never outside the prefix, never a temporary name, never a kept backup or its sidecar, only listed names', () => {
    fc.assert(
      fc.property(keepScenarioArb, ({ listing, policy, justWritten }) => {
        const d = planPrune(listing, policy, NOW, justWritten);
        const listed = new Set(listing.map((o) => o.name));
        for (const n of d.remove) {
          assert.ok(listed.has(n) && n.startsWith('backup-') && !isTemporaryName(n), n);
        }
        for (const b of d.backups.filter((x) => x.keep)) {
          assert.ok(!d.remove.includes(b.name));
          assert.ok(!d.remove.includes(b.name + SIDECAR_SUFFIX), `sidecar of kept ${b.name} removed`);
        }
        for (const b of d.backups.filter((x) => !x.keep)) {
          assert.ok(d.remove.includes(b.name));
          if (listed.has(b.name + SIDECAR_SUFFIX)) assert.ok(d.remove.includes(b.name + SIDECAR_SUFFIX), `sidecar of removed ${b.name} left`);
        }
        assert.equal(d.kept, d.backups.filter((b) => b.keep).length);
      }),
      R,
    );
  });

  test('never the newest, never everything, never the just-written backup', () => {
    fc.assert(
      fc.property(keepScenarioArb, ({ listing, policy, justWritten }) => {
        const d = planPrune(listing, policy, NOW, justWritten);
        if (d.backups.length === 0) return;
        assert.ok(d.backups[0]!.keep, 'the newest stays');
        assert.ok(d.kept >= 1);
        if (justWritten) assert.ok(!d.remove.includes(justWritten));
        for (const b of d.backups) if (b.keep) assert.ok(b.reasons.length > 0, `${b.name} kept without a reason`);
      }),
      R,
    );
  });

  test('idempotent: pruning twice removes nothing more', () => {
    fc.assert(
      fc.property(keepScenarioArb, ({ listing, policy, justWritten }) => {
        const first = planPrune(listing, policy, NOW, justWritten);
        const gone = new Set(first.remove);
        const rest = listing.filter((o) => !gone.has(o.name));
        assert.deepEqual(planPrune(rest, policy, NOW, justWritten).remove, []);
      }),
      R,
    );
  });
});

describe('planPrune: the just-written name is never removed, whatever it is', () => {
  test('a just-written name that is the sidecar of an expired archive stays (found by the property test)', () => {
    const listing: BackupObject[] = [obj('backup-03.tar.gz', 20 * DAY), obj('backup-03.tar.gz.manifest.json', 20 * DAY), obj('backup-04.tar.gz', 0)];
    const d = planPrune(listing, policy(7), NOW, 'backup-03.tar.gz.manifest.json');
    assert.deepEqual(d.remove, ['backup-03.tar.gz']);
  });
});
