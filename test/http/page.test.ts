// The status page in real headless Chromium (Debian `chromium`, driven by playwright-core)
// against one running daemon with a local destination: sign in (keyboard), see a finished run,
// start a run and watch it finish live, verify, download with and without the backup key,
// a POST without the CSRF token refused, sign out; the session cookie is HttpOnly and
// SameSite=Strict and no secret reaches the browser. Screenshots go to docs/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { isolatedEnv, runCliAsync, startDaemon, waitFor } from '../helpers/cli.ts';
import { acquireLock } from '../../src/run/lock.ts';
import { silentLogger } from '../../src/log.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && !process.env.CI ? `${CHROMIUM} is missing (Debian package chromium; .ci/system-packages.sh installs it)` : false;
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const BACKUP_KEY = 'page-test-backup-key-0123456789';

let env: Record<string, string>;
let dir: string;
let url = '';
let output: () => string = () => '';
let stopDaemon = () => {};
let browser: Browser | undefined;
let ctx: BrowserContext;
let page: Page;
const tokens: Record<string, string> = {};
const seen: string[] = [];

const cli = (args: string[]) => runCliAsync(args, env);

/** The page's HTML, kept for the no-secret check at the end. */
async function html(): Promise<string> {
  const s = await page.content();
  seen.push(s);
  return s;
}

async function cookieHeader(): Promise<string> {
  return (await ctx.cookies(url)).map((c) => `${c.name}=${c.value}`).join('; ');
}

before(async () => {
  if (skip) return;
  const iso = isolatedEnv();
  dir = iso.dir;
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'archive'));
  writeFileSync(join(dir, 'src', 'hello.txt'), 'hello from the page test\n');
  writeFileSync(join(dir, 'src', 'noise.bin'), randomBytes(2 << 20));
  env = {
    ...iso.env,
    BACKUP_SOURCES: join(dir, 'src'),
    BACKUP_ARCHIVE: join(dir, 'archive'),
    BACKUP_CRON_EXPRESSION: '0 3 * * *',
    BACKUP_COMPRESSION: 'gz',
    BACKUP_RETENTION_DAYS: '7',
    OFFSITE_HTTP_ADDR: '127.0.0.1:0',
    OFFSITE_TRUSTED_PROXIES: '127.0.0.1',
    BACKUP_KEY,
  };
  for (const [name, scopes] of [
    ['admin', 'read,run,download'],
    ['viewer', 'read'],
  ] as const) {
    const r = await cli(['token', 'create', name, '--scopes', scopes]);
    assert.equal(r.code, 0, r.stderr);
    tokens[name] = r.stdout.trim();
  }
  const { chromium } = await import('playwright-core');
  const launching = chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const daemon = await startDaemon(env);
  ({ url, output } = daemon);
  stopDaemon = () => {
    daemon.child.kill('SIGTERM');
  };
  // one finished run before the browser looks
  const r = await fetch(`${url}/api/v1/runs?wait=true`, { method: 'POST', headers: { authorization: `Bearer ${tokens.admin}` } });
  assert.equal(r.status, 200, await r.clone().text());
  assert.equal(((await r.json()) as { status: string }).status, 'success');
  browser = await launching;
  ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page = await ctx.newPage();
});

after(async () => {
  await browser?.close();
  stopDaemon();
});

test('sign-in: a wrong token is refused, the right one (typed, Enter) opens a session in an HttpOnly SameSite=Strict cookie', { skip }, async () => {
  await page.goto(url);
  assert.match(await page.title(), /Sign in/);
  await page.getByLabel('API token').fill('ofs_not-a-token');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[role=alert]');
  assert.match(await page.locator('[role=alert]').innerText(), /unknown or revoked token/);
  assert.equal((await ctx.cookies(url)).length, 0);

  // keyboard only: the token field has focus, Enter submits
  await page.getByLabel('API token').focus();
  await page.keyboard.type(tokens.admin!);
  await page.keyboard.press('Enter');
  await page.waitForSelector('h1:text("Dashboard")');
  const cookies = await ctx.cookies(url);
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0]!.name, 'offsite_session');
  assert.equal(cookies[0]!.httpOnly, true);
  assert.equal(cookies[0]!.sameSite, 'Strict');
  assert.ok(!cookies[0]!.value.includes(tokens.admin!));
  // nothing script-visible holds the token
  const visible = await page.evaluate('JSON.stringify({ cookie: document.cookie, local: { ...localStorage }, session: { ...sessionStorage } })');
  assert.equal(visible, '{"cookie":"","local":{},"session":{}}');
});

test('dashboard: the finished run, health, next run, 30-day strip, destination totals, settings redacted', { skip }, async () => {
  await page.goto(url);
  const text = await page.locator('main').innerText();
  await html();
  assert.match(text, /Health:\s*ok/);
  assert.match(text, /Last success\s*\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  assert.match(text, /Next run\s*\d{4}-\d\d-\d\d 03:00 UTC/);
  assert.match(text, /Last run\s*success/);
  assert.equal(await page.locator('.strip li').count(), 30);
  assert.match((await page.locator('.strip li').last().getAttribute('title')) ?? '', /1 run, worst success/);
  const local = page.locator('tr', { has: page.locator('th', { hasText: 'Local' }) }).first();
  const cells = await local.locator('td').allInnerTexts();
  assert.equal(cells[0], '1', cells.join(' | '));
  assert.match(cells[1]!, /^2\.\d MiB$/);
  await page.locator('summary', { hasText: 'Settings' }).click();
  const settings = await page.locator('details.settings').innerText();
  assert.match(settings, /BACKUP_KEY\s*\*\*\*/);
  assert.ok(!settings.includes(BACKUP_KEY));
  await page.locator('details.settings summary').click();
  mkdirSync(DOCS, { recursive: true });
  await page.screenshot({ path: join(DOCS, 'status-dashboard.png'), fullPage: true });

  // readable at 390 px: nothing wider than the screen but the scrollable tables
  await page.setViewportSize({ width: 390, height: 844 });
  assert.ok(await page.evaluate('document.documentElement.scrollWidth <= 390'), 'the page scrolls sideways at 390 px');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('run now: the run page updates live until the run finishes, with phases, destinations and log', { skip }, async () => {
  // hold the lock: the run waits in its lock phase while the page shows it running
  // a large sparse file (zeros, compressed to little): the archive phase lasts long enough for progress events
  const zeros = join(dir, 'src', 'zeros.bin');
  writeFileSync(zeros, '');
  truncateSync(zeros, 1 << 30);
  const lock = await acquireLock(env.OFFSITE_LOCK_FILE!, { timeoutMs: 5000, log: silentLogger(), owner: 'page-test' });
  let released = false;
  let progress: Record<string, string>;
  try {
    await page.goto(url);
    await page.getByRole('button', { name: 'Run default now' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    assert.match(await page.locator('main').innerText(), /running/);
    assert.equal(await page.locator('#live').count(), 1);
    await lock.release();
    released = true;
    // no reload by the test: the page's script follows the event stream
    await page.waitForFunction(
      () => {
        const d = (globalThis as any).document;
        return d.getElementById('p-eta')?.textContent !== '–' && / of /.test(d.getElementById('p-bytes')?.textContent ?? '');
      },
      undefined,
      { timeout: 120_000 },
    );
    progress = await page.evaluate(() =>
      Object.fromEntries(['p-files', 'p-bytes', 'p-rate', 'p-eta'].map((id) => [id, (globalThis as any).document.getElementById(id).textContent as string])),
    );
    // and reloads itself when the run ends
    await page.waitForSelector('h2:text("Phases")', { timeout: 120_000 });
  } finally {
    if (!released) await lock.release();
    rmSync(zeros, { force: true });
  }
  assert.match(progress['p-files']!, /^\d+ of 3$/, JSON.stringify(progress));
  assert.match(progress['p-bytes']!, /^[\d.]+ (B|KiB|MiB|GiB) of 1\.0 GiB$/, JSON.stringify(progress));
  assert.match(progress['p-rate']!, /^[\d.]+ (B|KiB|MiB|GiB)\/s$/, JSON.stringify(progress));
  assert.match(progress['p-eta']!, /^(\d+ s|less than a second)$/, JSON.stringify(progress));
  const runPath = new URL(page.url()).pathname;
  const text = await page.locator('main').innerText();
  await html();
  assert.match(text, /success/);
  assert.match(text, /archive\s*done\s*3 files/);
  assert.match(text, /upload\s*done\s*1 of 1 destinations/);
  assert.match(text, /Local[\s\S]*ok/);
  assert.match(text, /backup finished/);
  await page.screenshot({ path: join(DOCS, 'status-run.png'), fullPage: true });

  await page.goto(`${url}/runs`);
  assert.equal(await page.locator('tbody tr').count(), 2);

  // readable at 390 px: only the scrollable tables may be wider than the screen
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['/runs', runPath, '/backups']) {
    await page.goto(`${url}${path}`);
    assert.ok(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth <= 390), `${path} scrolls sideways at 390 px`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('backups: verify, download refused without the right key, download with it', { skip }, async () => {
  await page.goto(`${url}/backups`);
  const files = readdirSync(join(dir, 'archive'))
    .filter((f) => f.endsWith('.tar.gz'))
    .sort();
  assert.equal(files.length, 2);
  const name = files[0]!;
  assert.equal(await page.locator('tbody tr').count(), 2);
  await page.getByRole('button', { name: `Verify ${name}` }).click();
  await page.waitForSelector('#verify-result');
  assert.match(await page.locator('#verify-result').innerText(), /ok\s+The backup is readable on Local/);
  await page.goto(`${url}/backups`);
  const row = page.locator('tr', { hasText: name });
  assert.match(await row.locator('td').nth(2).innerText(), /ok/, 'the verification is listed');
  assert.equal(await row.locator('.retention').innerText(), 'kept: newer than 7 day(s)', 'the retention decision is shown');
  assert.match(await row.locator('td').nth(1).innerText(), /\b\d+ files?\b/, 'the file count from the manifest is shown');

  // the key field is required: an empty form is not sent
  await page.getByRole('button', { name: `Download ${name}` }).click();
  assert.match(page.url(), /\/backups$/);
  await page.getByLabel(`Backup key for ${name}`).fill('wrong-key-wrong-key-wrong-key');
  await page.getByRole('button', { name: `Download ${name}` }).click();
  await page.waitForSelector('h1:text("Download refused")');
  assert.match(await page.locator('[role=alert]').innerText(), /403: wrong backup key/);
  // no key at all (sent past the form): the API's refusal
  const csrf = await page.locator('meta[name=csrf-token]').getAttribute('content');
  const nokey = await fetch(`${url}/download`, {
    method: 'POST',
    headers: { cookie: await cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf!, job: 'default', destination: 'Local', name }),
  });
  assert.equal(nokey.status, 403);
  assert.match(await nokey.text(), /needs the backup key/);

  await page.goto(`${url}/backups`);
  await page.getByLabel(`Backup key for ${name}`).fill(BACKUP_KEY);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Download ${name}` }).click()]);
  assert.equal(download.suggestedFilename(), name);
  const saved = join(dir, 'downloaded.tar.gz');
  await download.saveAs(saved);
  assert.ok(readFileSync(saved).equals(readFileSync(join(dir, 'archive', name))));
  await waitFor(() => /backup downloaded/.test(output()) && /"token":"admin"/.test(output()), 10_000, 'the download logged with the token', output);
});

test('a POST without the CSRF token, or from another site, is refused', { skip }, async () => {
  const cookie = await cookieHeader();
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const runsBefore = ((await (await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${tokens.admin}` } })).json()) as { runs: unknown[] }).runs
    .length;
  const none = await fetch(`${url}/run`, { method: 'POST', headers: { cookie, ...form }, body: 'job=default', redirect: 'manual' });
  assert.equal(none.status, 403);
  assert.match(await none.text(), /CSRF token/);
  const wrong = await fetch(`${url}/run`, { method: 'POST', headers: { cookie, ...form, 'x-csrf-token': 'guess' }, body: 'job=default', redirect: 'manual' });
  assert.equal(wrong.status, 403);
  await page.goto(url);
  const csrf = await page.locator('meta[name=csrf-token]').getAttribute('content');
  const foreign = await fetch(`${url}/run`, {
    method: 'POST',
    headers: { cookie, ...form, origin: 'http://evil.example' },
    body: `job=default&_csrf=${csrf}`,
    redirect: 'manual',
  });
  assert.equal(foreign.status, 403);
  const runsAfter = ((await (await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${tokens.admin}` } })).json()) as { runs: unknown[] }).runs
    .length;
  assert.equal(runsAfter, runsBefore, 'a refused POST started a run');
  // the same request with the token goes through (the refusals above were the CSRF check)
  const ok = await fetch(`${url}/signout`, {
    method: 'POST',
    headers: { cookie: 'offsite_session=unknown', ...form },
    body: `_csrf=${csrf}`,
    redirect: 'manual',
  });
  assert.equal(ok.status, 401, 'an unknown session is not signed in');
});

test('a read-only token sees the actions disabled; the API refuses them anyway', { skip }, async () => {
  const other = await browser!.newContext();
  const p = await other.newPage();
  await p.goto(url);
  await p.getByLabel('API token').fill(tokens.viewer!);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.waitForSelector('h1:text("Dashboard")');
  assert.equal(await p.getByRole('button', { name: 'Run default now' }).isDisabled(), true);
  const csrf = await p.locator('meta[name=csrf-token]').getAttribute('content');
  const cookie = (await other.cookies(url)).map((c) => `${c.name}=${c.value}`).join('; ');
  const r = await fetch(`${url}/run`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: `job=default&_csrf=${csrf}`,
    redirect: 'manual',
  });
  assert.equal(r.status, 403);
  assert.match(await r.text(), /lacks the run scope/);
  // the CSRF token as a header works as well: the API's scope check is what refuses
  const h = await fetch(`${url}/run`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': csrf! },
    body: 'job=default',
    redirect: 'manual',
  });
  assert.equal(h.status, 403);
  assert.match(await h.text(), /lacks the run scope/);
  await other.close();
});

test("failed sign-ins count in the API's per-address limiter (429)", { skip }, async () => {
  const signin = (token: string) =>
    fetch(`${url}/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '10.7.7.7' },
      body: `token=${encodeURIComponent(token)}`,
      redirect: 'manual',
    });
  for (let i = 0; i < 10; i++) assert.equal((await signin('ofs_wrong')).status, 401);
  const blocked = await signin(tokens.admin!);
  assert.equal(blocked.status, 429, 'even the right token waits');
  assert.ok(Number(blocked.headers.get('retry-after')) > 0);
  // and the API itself refuses that address too: one limiter
  assert.equal((await fetch(`${url}/api/v1/status`, { headers: { authorization: `Bearer ${tokens.admin}`, 'x-forwarded-for': '10.7.7.7' } })).status, 429);
});

test('sign out ends the session on the server', { skip }, async () => {
  const old = await cookieHeader();
  await page.goto(url);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForSelector('h1:text("Sign in")');
  assert.equal((await ctx.cookies(url)).length, 0);
  const again = await fetch(`${url}/runs`, { headers: { cookie: old }, redirect: 'manual' });
  assert.equal(again.status, 303, 'the old cookie still opens pages');
});

test('no secret in any page', { skip }, () => {
  const all = seen.join('\n');
  for (const s of [BACKUP_KEY, ...Object.values(tokens)]) assert.ok(!all.includes(s), `a secret reached the browser: ${s.slice(0, 6)}...`);
});
