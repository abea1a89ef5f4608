import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandVars } from '../../src/config/expand.ts';

// Expected values follow Go's os.Expand (offen expands with os.ExpandEnv).
const env = { NAME: 'db', HOST_NAME: 'web1', EMPTY: '', '1': 'one', '-': 'dash', 'A B': 'spaced', $: 'dollar' };
const cases: Array<[string, string]> = [
  ['backup-$NAME', 'backup-db'],
  ['backup-${NAME}-x', 'backup-db-x'],
  ['$NAME$NAME', 'dbdb'],
  ['$HOST_NAME-%Y', 'web1-%Y'],
  ['$NAME-x', 'db-x'],
  ['$NAMEx', ''],
  ['${NAME}x', 'dbx'],
  ['a-$UNSET-b', 'a--b'],
  ['a-${UNSET}-b', 'a--b'],
  ['$EMPTY', ''],
  ['no variables here', 'no variables here'],
  ['100%', '100%'],
  ['$', '$'],
  ['a$', 'a$'],
  ['$ x', '$ x'],
  ['a$.b', 'a$.b'],
  ['$1x', 'onex'],
  ['${1}', 'one'],
  ['$-', 'dash'],
  ['$$', 'dollar'],
  ['${A B}', 'spaced'],
  ['x${}y', 'xy'],
  ['x${y', 'xy'],
  ['{{ .Extension }}', '{{ .Extension }}'],
  ['backup-%Y-%m-%d.{{ .Extension }}', 'backup-%Y-%m-%d.{{ .Extension }}'],
];
for (const [input, want] of cases) {
  test(`expandVars(${JSON.stringify(input)}) = ${JSON.stringify(want)}`, () => {
    assert.equal(expandVars(input, env), want);
  });
}
