// A wrong passphrase on a passphrase-only OpenPGP message sometimes decrypts to noise that fails
// as a parse error rather than a key error (seen as a flaky "wrong passphrase" test): the user is
// told it may be the passphrase, not only that the archive is corrupted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyGpgError } from '../../src/crypto/gpg.ts';

const PARSE = new Error('Error during parsing. This message / key probably does not conform to a valid OpenPGP format.');

test('a parse error while decrypting with a passphrase names the passphrase and the damage', () => {
  const e = classifyGpgError(PARSE, true);
  assert.match(e.message, /wrong passphrase or key, or the archive is corrupted/);
});

test('a parse error while decrypting with a key is damage', () => {
  assert.match(classifyGpgError(PARSE, false).message, /the archive is corrupted or truncated/);
});

test('a session key error is a wrong passphrase or key either way', () => {
  for (const symmetric of [true, false])
    assert.match(classifyGpgError(new Error('Error decrypting message: Session key decryption failed.'), symmetric).message, /wrong passphrase or key \(/);
});
