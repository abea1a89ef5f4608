import assert from 'node:assert/strict';

/** Signs in to the status page with `token`; asserts the session cookie's form and flags; returns the cookie (name=value). */
export async function signIn(url: string, token: string): Promise<string> {
  const r = await fetch(`${url}/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `token=${encodeURIComponent(token)}`,
    redirect: 'manual',
  });
  assert.equal(r.status, 303, await r.text());
  const set = r.headers.get('set-cookie') ?? '';
  assert.match(set, /^offsite_session=[A-Za-z0-9_-]{43};/);
  assert.match(set, /HttpOnly/);
  assert.match(set, /SameSite=Strict/);
  return set.split(';')[0]!;
}
