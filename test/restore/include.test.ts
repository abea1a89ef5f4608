/** restore --include patterns: paths as `ls` lists them, and globs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Includes } from '../../src/archive/include.ts';

test('a path as listed takes itself and what is below it; a trailing slash or ./ does not matter', () => {
  const inc = new Includes(['./app/config/', 'app/a[1].txt']);
  assert.ok(inc.includes('app/config'));
  assert.ok(inc.includes('app/config/x/y.yml'));
  assert.ok(!inc.includes('app/configs'));
  assert.ok(inc.includes('app/a[1].txt'), 'a listed name holding glob characters matches itself');
  assert.ok(!inc.includes('app/b.txt'));
  assert.deepEqual(inc.unmatched(), []);
});

test('globs match an entry or a directory above it; every pattern that matched is recorded', () => {
  const inc = new Includes(['app/**/*.yml', 'app/{db,cache}', 'app/*', 'nothing/*']);
  assert.ok(inc.includes('app/x/y/z.yml'));
  assert.ok(inc.includes('app/db/data/file'), 'below a directory the glob matched');
  assert.ok(inc.includes('app/z.yml'));
  assert.ok(!inc.includes('other/z.yml'));
  assert.deepEqual(inc.unmatched(), ['nothing/*']);
  assert.ok(inc.isAncestor('app'));
  assert.ok(!inc.isAncestor('other'));
});

test('a pattern with .. is refused', () => {
  assert.throws(() => new Includes(['app/../etc']), /must not contain "\.\."/);
});
