/**
 * Every notification service offsite registers is covered by the shared URL tables
 * (url-table.ts): URLs it accepts, URLs it refuses, and redaction of its secrets; every
 * scheme (aliases too) appears in an accepted URL. A service added without its rows fails here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { knownSchemes } from '../../src/notify/router.ts';
import { SERVICES } from '../../src/notify/services/index.ts';
import { invalid, redactionCases, valid } from './url-table.ts';

/** Services whose URLs hold no secret. */
const NO_SECRETS = new Set(['stdout', 'logger']);

test('every registered service has accepted and refused URLs in the table', () => {
  for (const s of SERVICES) {
    const name = s.schemes[0]!;
    assert.ok((valid[name] ?? []).length > 0, `${name}: no accepted URL in url-table.ts valid`);
    assert.ok((invalid[name] ?? []).length > 0, `${name}: no refused URL in url-table.ts invalid`);
  }
  const names = new Set(SERVICES.map((s) => s.schemes[0]!));
  for (const key of [...Object.keys(valid), ...Object.keys(invalid)]) {
    if (key !== 'other') assert.ok(names.has(key), `url-table.ts names "${key}", which is not a registered service`);
  }
});

test('every scheme, aliases included, appears in an accepted URL', () => {
  const used = new Set(
    Object.values(valid)
      .flat()
      .map(([url]) => url.slice(0, url.indexOf('://')).toLowerCase()),
  );
  for (const scheme of knownSchemes()) assert.ok(used.has(scheme), `${scheme}:// has no accepted URL in url-table.ts`);
});

test('every service whose URLs hold secrets has a redaction case', () => {
  const covered = new Set(redactionCases.map(([url]) => url.slice(0, url.indexOf('://')).toLowerCase()));
  for (const s of SERVICES) {
    const name = s.schemes[0]!;
    if (NO_SECRETS.has(name)) continue;
    assert.ok(
      s.schemes.some((sc) => covered.has(sc)),
      `${name}: no redaction case in url-table.ts redactionCases`,
    );
  }
});
