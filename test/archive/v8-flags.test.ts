import { test } from 'node:test';
import assert from 'node:assert/strict';
import { v8FlagsFor } from '../../src/main.ts';
import { incompressible } from '../../src/archive/gzip-parallel.ts';

// `offsite backup` keeps V8's optimizing compiler to the gzip codec's histogram (memory: see
// main.ts); the filter names the function, so a rename must move the flag with it.
test('a backup limits TurboFan to the gzip histogram; other commands keep V8 as it is', () => {
  assert.equal(v8FlagsFor(['backup']), `--turbo-filter=${incompressible.name}`);
  assert.equal(v8FlagsFor(['backup', '--job', 'a']), '--turbo-filter=incompressible');
  assert.equal(v8FlagsFor(['restore', 'x']), null);
  assert.equal(v8FlagsFor(['backup', 'print-config']), null);
  assert.equal(v8FlagsFor(['config']), null);
});
