/** URL parsing: a table of valid and invalid URLs per service, and redaction. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNotificationUrl, redactNotificationUrl } from '../../src/notify/router.ts';
import { invalid, redactionCases, valid } from './url-table.ts';

describe('URL parsing table', () => {
  for (const [service, rows] of Object.entries(valid)) {
    for (const [url, check] of rows) {
      it(`${service}: accepts ${url}`, () => {
        const out = parseNotificationUrl(url);
        assert.ok(out.ok, out.ok ? '' : out.issue);
        assert.equal(out.target.service, service);
        const cfg = out.target.config as unknown as Record<string, unknown>;
        for (const [k, v] of Object.entries(check ?? {})) assert.deepEqual(cfg[k], v, `${k}`);
      });
    }
  }
  for (const [service, rows] of Object.entries(invalid)) {
    for (const [url, why] of rows) {
      it(`${service}: refuses ${url}`, () => {
        const out = parseNotificationUrl(url);
        assert.equal(out.ok, false);
        if (!out.ok) assert.match(out.issue, why);
      });
    }
  }
  it('the googlechat alias hangouts maps to googlechat', () => {
    const out = parseNotificationUrl('hangouts://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T');
    assert.ok(out.ok && out.target.service === 'googlechat');
  });
});

describe('redactNotificationUrl', () => {
  const cases = redactionCases;
  for (const [url, secrets, expected] of cases) {
    it(`masks ${url.split(':')[0]} secrets`, () => {
      const red = redactNotificationUrl(url);
      for (const s of secrets) assert.ok(!red.includes(s), `${red} still shows ${s}`);
      if (expected) assert.equal(red, expected);
      assert.match(red, /\*\*\*/);
    });
  }
});
