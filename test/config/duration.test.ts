import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDuration, formatDuration } from '../../src/config/duration.ts';

const valid: Array<[string, number]> = [
  ['0', 0],
  ['0s', 0],
  ['-0', 0],
  ['+0s', 0],
  ['1m', 60_000],
  ['60m', 3_600_000],
  ['1h', 3_600_000],
  ['1h30m', 5_400_000],
  ['1.5h', 5_400_000],
  ['500ms', 500],
  ['1.5s', 1500],
  ['2h45m30s', 9_930_000],
  ['1h0m0s', 3_600_000],
  ['90s', 90_000],
  ['1us', 0.001],
  ['1µs', 0.001],
  ['1μs', 0.001],
  ['1000ns', 0.001],
  ['1ms500us', 1.5],
  ['-1m', -60_000],
  ['+5s', 5000],
  ['.5h', 1_800_000],
  ['1.h', 3_600_000],
  ['100h', 360_000_000],
  [' 5m ', 300_000],
];
for (const [input, ms] of valid) {
  test(`parseDuration(${JSON.stringify(input)}) = ${ms}`, () => {
    const got = parseDuration(input);
    assert.ok(got !== null);
    assert.ok(Math.abs(got - ms) < 1e-9, `${got} != ${ms}`);
  });
}

const invalid = [
  '',
  ' ',
  '1',
  '42',
  '1d',
  '1w',
  'h',
  'm5',
  '1h 30m',
  '1hh',
  '-',
  '+',
  '--1s',
  '1e3s',
  '1,5h',
  'abc',
  '5 m',
  '1H',
  '1M',
  '.s',
  '1.5.5h',
  '1s-',
  'forever',
  '9999999h',
  '1h+1m',
];
for (const input of invalid) {
  test(`parseDuration(${JSON.stringify(input)}) is invalid`, () => {
    assert.equal(parseDuration(input), null);
  });
}

test('formatDuration prints Go forms', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(500), '0.5s');
  assert.equal(formatDuration(150), '0.15s');
  assert.equal(formatDuration(60_000), '1m');
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(3_600_000), '1h');
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(3_601_000), '1h1s');
  assert.equal(formatDuration(-60_000), '-1m');
});

test('formatDuration output parses back to the same value', () => {
  fc.assert(
    fc.property(fc.integer({ min: -1e10, max: 1e10 }), (ms) => {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }),
    { numRuns: 500 },
  );
});
