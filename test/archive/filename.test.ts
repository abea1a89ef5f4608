import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  strftime,
  backupFilename,
  hasTimeTokens,
  staticPrefix,
  extensionFor,
  zonedParts,
  zonedPartsIntl,
  parseTimeFromName,
  type ExtensionParts,
} from '../../src/archive/filename.ts';

const D = new Date('2026-03-05T07:08:09.123Z'); // a Thursday

describe('strftime tokens (UTC)', () => {
  const tokens: Array<[string, string]> = [
    ['%a', 'Thu'],
    ['%A', 'Thursday'],
    ['%b', 'Mar'],
    ['%h', 'Mar'],
    ['%B', 'March'],
    ['%c', 'Thu Mar 5 07:08:09 2026'],
    ['%d', '05'],
    ['%e', ' 5'],
    ['%f', '123000'],
    ['%F', '2026-03-05'],
    ['%H', '07'],
    ['%I', '07'],
    ['%j', '064'],
    ['%m', '03'],
    ['%M', '08'],
    ['%p', 'AM'],
    ['%s', '1772694489'],
    ['%S', '09'],
    ['%T', '07:08:09'],
    ['%u', '4'],
    ['%U', '09'],
    ['%w', '4'],
    ['%W', '09'],
    ['%x', '03/05/26'],
    ['%X', '07:08:09'],
    ['%y', '26'],
    ['%Y', '2026'],
    ['%z', '+0000'],
    ['%Z', 'UTC'],
    ['%%', '%'],
    ['%Q', '%Q'],
    ['100%', '100%'],
    ['backup-%Y-%m-%dT%H-%M-%S', 'backup-2026-03-05T07-08-09'],
    ['%%Y', '%Y'],
  ];
  for (const [fmt, want] of tokens) test(`${fmt} -> ${JSON.stringify(want)}`, () => assert.equal(strftime(fmt, D), want));
});

describe('strftime calendar edges (checked against C strftime)', () => {
  // date | %a %j %U %W %u %I %p %x
  const rows: Array<[string, string]> = [
    ['2026-01-01T00:00:00Z', 'Thu 001 00 00 4 12 AM 01/01/26'],
    ['2026-12-31T23:59:59Z', 'Thu 365 52 52 4 11 PM 12/31/26'],
    ['2024-02-29T12:00:00Z', 'Thu 060 08 09 4 12 PM 02/29/24'],
    ['2023-01-01T00:30:00Z', 'Sun 001 01 00 7 12 AM 01/01/23'],
    ['2024-12-30T13:05:00Z', 'Mon 365 52 53 1 01 PM 12/30/24'],
    ['2021-01-03T00:00:00Z', 'Sun 003 01 00 7 12 AM 01/03/21'],
  ];
  for (const [iso, want] of rows) test(iso, () => assert.equal(strftime('%a %j %U %W %u %I %p %x', new Date(iso)), want));
});

describe('strftime in time zones', () => {
  const rows: Array<[string, string, string]> = [
    // Europe/Berlin spring forward 2026-03-29 01:00Z: 02:00 CET -> 03:00 CEST
    ['2026-03-29T00:59:59Z', 'Europe/Berlin', '2026-03-29 01:59:59 +0100 CET'],
    ['2026-03-29T01:00:00Z', 'Europe/Berlin', '2026-03-29 03:00:00 +0200 CEST'],
    // fall back 2026-10-25 01:00Z: 02:30 happens twice, told apart by %z / %Z
    ['2026-10-25T00:30:00Z', 'Europe/Berlin', '2026-10-25 02:30:00 +0200 CEST'],
    ['2026-10-25T01:30:00Z', 'Europe/Berlin', '2026-10-25 02:30:00 +0100 CET'],
    // America/New_York spring forward 2026-03-08 07:00Z
    ['2026-03-08T06:59:59Z', 'America/New_York', '2026-03-08 01:59:59 -0500 EST'],
    ['2026-03-08T07:00:00Z', 'America/New_York', '2026-03-08 03:00:00 -0400 EDT'],
    // the local date differs from the UTC date
    ['2026-03-05T23:30:00Z', 'Asia/Tokyo', '2026-03-06 08:30:00 +0900 +09'],
    ['2026-03-05T01:30:00Z', 'America/Los_Angeles', '2026-03-04 17:30:00 -0800 PST'],
    ['2026-01-01T00:00:00Z', 'Pacific/Kiritimati', '2026-01-01 14:00:00 +1400 +14'],
    // non-hour offsets
    ['2026-03-05T00:00:00Z', 'Asia/Kolkata', '2026-03-05 05:30:00 +0530 +0530'],
    ['2026-03-05T00:00:00Z', 'Asia/Kathmandu', '2026-03-05 05:45:00 +0545 +0545'],
    ['2026-07-05T00:00:00Z', 'Pacific/Chatham', '2026-07-05 12:45:00 +1245 +1245'],
    ['2026-03-05T12:00:00Z', 'America/Sao_Paulo', '2026-03-05 09:00:00 -0300 -03'],
    ['2026-03-05T12:00:00Z', 'UTC', '2026-03-05 12:00:00 +0000 UTC'],
  ];
  for (const [iso, tz, want] of rows) {
    test(`${iso} in ${tz}`, () => assert.equal(strftime('%F %T %z %Z', new Date(iso), tz), want));
  }

  test('%j and week numbers follow the local date', () => {
    assert.equal(strftime('%j %a %U', new Date('2026-12-31T23:30:00Z'), 'Europe/Berlin'), '001 Fri 00');
  });

  test('zonedParts matches the offset Intl reports for random instants and zones', () => {
    const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Chatham'];
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }), fc.constantFrom(...zones), (t, tz) => {
        const d = new Date(t);
        const p = zonedParts(d, tz);
        const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) + p.ms;
        assert.equal(wall - t, p.offsetMin * 60_000);
        const long = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' })
          .formatToParts(d)
          .find((x) => x.type === 'timeZoneName')!.value;
        const m = /^GMT(?:([+-])(\d\d):(\d\d))?$/.exec(long)!;
        const expectOffset = m[1] ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
        assert.equal(p.offsetMin, expectOffset);
      }),
      { numRuns: 300 },
    );
  });
});

describe('backup file names', () => {
  const T = 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}';

  test('extensions, with the encryption suffix', () => {
    assert.equal(extensionFor({ compression: 'gz' }), 'tar.gz');
    assert.equal(extensionFor({ compression: 'zst' }), 'tar.zst');
    assert.equal(extensionFor({ compression: 'none' }), 'tar');
    assert.equal(extensionFor({ compression: 'gz', encryption: 'none' }), 'tar.gz');
    assert.equal(extensionFor({ compression: 'gz', encryption: 'gpg' }), 'tar.gz.gpg');
    assert.equal(extensionFor({ compression: 'zst', encryption: 'age' }), 'tar.zst.age');
    assert.equal(extensionFor({ compression: 'none', encryption: 'aes' }), 'tar.aes');
  });

  test('the default template', () => {
    assert.equal(backupFilename(T, D, 'UTC', { compression: 'gz' }), 'backup-2026-03-05T07-08-09.tar.gz');
    assert.equal(backupFilename(T, D, 'UTC', { compression: 'gz', encryption: 'gpg' }), 'backup-2026-03-05T07-08-09.tar.gz.gpg');
    assert.equal(backupFilename(T, D, 'UTC', { compression: 'zst', encryption: 'age' }), 'backup-2026-03-05T07-08-09.tar.zst.age');
    assert.equal(backupFilename(T, D, 'Europe/Berlin', { compression: 'none' }), 'backup-2026-03-05T08-08-09.tar');
  });

  test('{{ .Extension }} spacing variants and repeats', () => {
    assert.equal(backupFilename('a.{{.Extension}}', D, 'UTC', { compression: 'gz' }), 'a.tar.gz');
    assert.equal(backupFilename('a.{{  .Extension  }}', D, 'UTC', { compression: 'zst' }), 'a.tar.zst');
    assert.equal(backupFilename('{{ .Extension }}-%Y.{{ .Extension }}', D, 'UTC', { compression: 'none' }), 'tar-2026.tar');
    assert.equal(backupFilename('fixed-name.tar.gz', D, 'UTC', { compression: 'gz' }), 'fixed-name.tar.gz');
  });

  test('encryption appends .gpg / .age / .aes to whatever name results, as offen does', () => {
    assert.equal(backupFilename('test.tar.gz', D, 'UTC', { compression: 'gz', encryption: 'gpg' }), 'test.tar.gz.gpg');
    assert.equal(backupFilename('test-%Y.tar.zst', D, 'UTC', { compression: 'zst', encryption: 'age' }), 'test-2026.tar.zst.age');
    assert.equal(backupFilename('x.{{ .Extension }}.bak', D, 'UTC', { compression: 'gz', encryption: 'gpg' }), 'x.tar.gz.bak.gpg');
    assert.equal(backupFilename('x.{{ .Extension }}', D, 'UTC', { compression: 'none', encryption: 'aes' }), 'x.tar.aes');
    assert.equal(backupFilename('test.tar.gz', D, 'UTC', { compression: 'gz', encryption: 'none' }), 'test.tar.gz');
    // the time is still read back from a name with the suffix
    assert.equal(
      parseTimeFromName(
        'x-%Y-%m-%d.{{ .Extension }}.bak',
        backupFilename('x-%Y-%m-%d.{{ .Extension }}.bak', D, 'UTC', { compression: 'gz', encryption: 'age' }),
      )
        ?.toISOString()
        .slice(0, 10),
      '2026-03-05',
    );
  });

  test('hasTimeTokens: a name without strftime tokens replaces the previous backup', () => {
    assert.equal(hasTimeTokens(T), true);
    assert.equal(hasTimeTokens('backup-%a.tar.gz'), true);
    assert.equal(hasTimeTokens('backup.{{ .Extension }}'), false);
    assert.equal(hasTimeTokens('fixed-100%%.tar.gz'), false);
    assert.equal(hasTimeTokens('fixed-100%%-%Y.tar.gz'), true);
    assert.equal(hasTimeTokens('trailing%'), false);
  });

  test('staticPrefix', () => {
    assert.equal(staticPrefix(T), 'backup-');
    assert.equal(staticPrefix('%Y-backup.tar.gz'), '');
    assert.equal(staticPrefix('db-100%%-%Y'), 'db-100%-');
    assert.equal(staticPrefix('backup.{{ .Extension }}'), 'backup.');
    assert.equal(staticPrefix('plain.tar.gz'), 'plain.tar.gz');
    assert.equal(staticPrefix('a{b}-%d'), 'a{b}-');
    assert.equal(staticPrefix(''), '');
  });

  test('every name a template produces starts with its static prefix', () => {
    const templates = [T, 'db-%%-%y%j.{{ .Extension }}', 'x{y-%H', 'nightly.{{ .Extension }}', '%Y', 'a%Q-%F', 'site-%c'];
    fc.assert(
      fc.property(
        fc.constantFrom(...templates),
        fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2100, 0, 1) }),
        fc.constantFrom('UTC', 'Europe/Berlin', 'Asia/Kathmandu', 'America/Los_Angeles'),
        fc.constantFrom('gz' as const, 'zst' as const, 'none' as const),
        fc.constantFrom('none' as const, 'gpg' as const, 'age' as const),
        (tpl, t, tz, compression, encryption) => {
          const name = backupFilename(tpl, new Date(t), tz, { compression, encryption });
          assert.ok(name.startsWith(staticPrefix(tpl)), `${name} / ${staticPrefix(tpl)}`);
          assert.ok(!name.includes('{{'));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('parseTimeFromName: the time a backup name was made at', () => {
  const T = 'backup-%Y-%m-%dT%H-%M-%S.{{ .Extension }}';
  const rows: Array<[string, string, string, string | null]> = [
    [T, 'backup-2026-03-05T07-08-09.tar.gz', 'UTC', '2026-03-05T07:08:09.000Z'],
    [T, 'backup-2026-03-05T07-08-09.tar.zst.age', 'UTC', '2026-03-05T07:08:09.000Z'],
    [T, 'backup-2026-03-05T07-08-09.tar.gz.gpg', 'UTC', '2026-03-05T07:08:09.000Z'],
    [T, 'backup-2026-03-05T07-08-09.tar.gz', 'Europe/Berlin', '2026-03-05T06:08:09.000Z'],
    [T, 'backup-2026-07-05T07-08-09.tar.gz', 'America/New_York', '2026-07-05T11:08:09.000Z'],
    // 02:30 happened twice in Berlin on 2026-10-25: the earlier instant (CEST)
    [T, 'backup-2026-10-25T02-30-00.tar.gz', 'Europe/Berlin', '2026-10-25T00:30:00.000Z'],
    // 02:30 never happened in Berlin on 2026-03-29: not a name this template made
    [T, 'backup-2026-03-29T02-30-00.tar.gz', 'Europe/Berlin', null],
    [T, 'backup-2026-13-05T07-08-09.tar.gz', 'UTC', null],
    [T, 'backup-2026-02-30T07-08-09.tar.gz', 'UTC', null],
    [T, 'backup-latest.tar.gz', 'UTC', null],
    [T, 'other-2026-03-05T07-08-09.tar.gz', 'UTC', null],
    [T, 'backup-2026-03-05T07-08-09', 'UTC', null],
    ['db-%s.tar', 'db-1772694489.tar', 'Asia/Tokyo', '2026-03-05T07:08:09.000Z'],
    ['%c.tar', 'Thu Mar 5 07:08:09 2026.tar', 'UTC', '2026-03-05T07:08:09.000Z'],
    ['%c.tar', 'Fri Mar 5 07:08:09 2026.tar', 'UTC', null],
    ['x-%F_%T%z.{{ .Extension }}', 'x-2026-03-05_08:08:09+0100.tar', 'Europe/Berlin', '2026-03-05T07:08:09.000Z'],
    ['x-%y%j-%I%p.tar', 'x-26064-07PM.tar', 'UTC', '2026-03-05T19:00:00.000Z'],
    ['%d.%B.%Y.tar', '05.March.2026.tar', 'UTC', '2026-03-05T00:00:00.000Z'],
    ['no-time.tar', 'no-time.tar', 'UTC', null],
    ['only-%H.tar', 'only-07.tar', 'UTC', null],
    ['100%%-%Y.tar', '100%-2026.tar', 'UTC', '2026-01-01T00:00:00.000Z'],
    ['a.b-%Y(%m).tar', 'a.b-2026(03).tar', 'UTC', '2026-03-01T00:00:00.000Z'],
    ['a.b-%Y(%m).tar', 'aXb-2026(03).tar', 'UTC', null],
  ];
  for (const [tpl, name, tz, want] of rows) {
    test(`${tpl} ${name} ${tz}`, () => assert.equal(parseTimeFromName(tpl, name, tz)?.toISOString() ?? null, want));
  }

  test('property: every name a template makes reads back to a time that makes the same name', () => {
    const templates = [
      T,
      'db-%Y%m%d-%H%M%S-%f.{{ .Extension }}',
      '%F %T %Z %z {{ .Extension }}',
      '%c.{{ .Extension }}',
      '%a-%d-%b-%Y-%I%M%S%p.tar',
      'x-%s.tar',
    ];
    const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham'];
    fc.assert(
      fc.property(
        fc.constantFrom(...templates),
        fc.constantFrom(...zones),
        fc.date({ min: new Date('1971-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }),
        fc.constantFrom<ExtensionParts>({ compression: 'gz' }, { compression: 'zst', encryption: 'age' }, { compression: 'none', encryption: 'gpg' }),
        (tpl, tz, date, ext) => {
          const name = backupFilename(tpl, date, tz, ext);
          const t = parseTimeFromName(tpl, name, tz);
          assert.ok(t, `${name} in ${tz} did not parse`);
          assert.equal(backupFilename(tpl, t, tz, ext), name);
          assert.ok(Math.abs(t.getTime() - date.getTime()) <= 3_600_000 + 1000, 'at most an hour (a repeated hour) and the dropped fraction apart');
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('zonedParts: the cached path agrees with Intl', () => {
  test('property: random instants in zones with odd offsets and changes', () => {
    const zones = [
      'UTC',
      'Europe/Berlin',
      'America/New_York',
      'Australia/Lord_Howe',
      'Asia/Kolkata',
      'Pacific/Chatham',
      'Africa/Monrovia',
      'America/St_Johns',
      'Asia/Kathmandu',
    ];
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.parse('1960-01-01T00:00:00Z'), max: Date.parse('2060-01-01T00:00:00Z') }), (tz, t) => {
        assert.deepEqual(zonedParts(new Date(t), tz), zonedPartsIntl(new Date(t), tz));
      }),
      { numRuns: 3000 },
    );
  });
  test('around changes: every minute of the days Berlin and Monrovia changed', () => {
    for (const [tz, from] of [
      ['Europe/Berlin', '2026-03-29T00:00:00Z'],
      ['Europe/Berlin', '2026-10-25T00:00:00Z'],
      ['Africa/Monrovia', '1972-01-06T23:00:00Z'],
    ] as const) {
      for (let t = Date.parse(from); t < Date.parse(from) + 3 * 3_600_000; t += 30_000)
        assert.deepEqual(zonedParts(new Date(t), tz), zonedPartsIntl(new Date(t), tz), `${tz} ${new Date(t).toISOString()}`);
    }
  });
});
