/**
 * The status page (issue 17), served at `/` next to the API: plain server-rendered HTML
 * (Hono's html helper escapes every value) with small inline scripts; no build step.
 *
 * Sign-in: an API token with read scope, checked by sending it to the API itself
 * (GET /api/v1/status), so a wrong token counts in the same per-address limiter and gets the
 * same 429. The token then lives only in this process's memory, in a session named by an
 * opaque random id in an HttpOnly, SameSite=Strict cookie; the browser's scripts never see it.
 * Every page reads its data through the API's own handlers with the session's token, and every
 * action (run now, verify, download) is the API's handler too: the same scopes, the same
 * backup key check, the same daily download limit and notification. A revoked token ends its
 * sessions at the next request. Every POST needs the session's CSRF token (form field
 * `_csrf` or header `X-CSRF-Token`), and a foreign Origin is refused.
 */
import type { Hono, Context } from 'hono';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { randomBytes } from 'node:crypto';
import type { DaemonControl } from '../schedule/daemon.ts';
import type { RunSummaryJson as RunJson, RunDetailJson } from './server.ts';
import { isOffsiteVariable, type JobConfig } from '../config/index.ts';
import type { TokenStore, Scope } from '../tokens/store.ts';
import { secretEquals } from '../tokens/store.ts';
import { formatInterval, GRACE_FACTOR } from '../health/rule.ts';
import { isSecretName, redact } from '../redact.ts';

/** A session ends after this long without a request... */
export const SESSION_IDLE_MS = 60 * 60_000;
/** ...and at the latest this long after sign-in. */
export const SESSION_MAX_MS = 12 * 60 * 60_000;
/** Sessions held at once (the oldest goes first). */
export const MAX_SESSIONS = 1000;
export const SESSION_COOKIE = 'offsite_session';

interface Session {
  id: string;
  /** The API token, only ever in this process's memory. */
  token: string;
  csrf: string;
  name: string;
  scopes: readonly Scope[];
  created: number;
  seen: number;
}

export interface PageDeps {
  control: DaemonControl;
  tokens: TokenStore;
  now: () => Date;
}

type H = HtmlEscapedString;
/** html`` never gets a promise here, so it is always synchronous. */
const h = html as unknown as (strings: TemplateStringsArray, ...values: unknown[]) => H;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function mountPage(app: Hono<any>, deps: PageDeps): void {
  const { control, tokens, now } = deps;
  const sessions = new Map<string, Session>();

  const sessionOf = (c: Context): Session | null => {
    const id = getCookie(c, SESSION_COOKIE);
    if (!id) return null;
    const s = sessions.get(id);
    if (!s) return null;
    const t = now().getTime();
    if (t - s.seen > SESSION_IDLE_MS || t - s.created > SESSION_MAX_MS) {
      sessions.delete(id);
      return null;
    }
    s.seen = t;
    return s;
  };
  const newSession = (token: string, name: string, scopes: readonly Scope[]): Session => {
    const t = now().getTime();
    for (const [id, s] of sessions) if (t - s.seen > SESSION_IDLE_MS || t - s.created > SESSION_MAX_MS) sessions.delete(id);
    while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
    const s: Session = { id: randomBytes(32).toString('base64url'), token, csrf: randomBytes(32).toString('base64url'), name, scopes, created: t, seen: t };
    sessions.set(s.id, s);
    return s;
  };
  const cookieOpts = (c: Context) => ({ httpOnly: true, sameSite: 'Strict' as const, path: '/', secure: new URL(c.req.url).protocol === 'https:' });

  /** A request to the API's own handlers, as the session's token, from the same client. */
  const api = (
    c: Context,
    token: string | null,
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Response> => {
    const headers = new Headers(opts.headers ?? {});
    if (token) headers.set('authorization', `Bearer ${token}`);
    const xff = c.req.header('x-forwarded-for');
    if (xff) headers.set('x-forwarded-for', xff);
    if (opts.body !== undefined) headers.set('content-type', 'application/json');
    const req = new Request(new URL(path, 'http://offsite.invalid'), {
      method,
      headers,
      signal: c.req.raw.signal,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    return Promise.resolve(app.fetch(req, c.env));
  };
  /** JSON from the API, or the page to answer instead (sign-in again, or the API's error). */
  const read = async <T>(c: Context, s: Session, path: string): Promise<T | Response> => {
    const r = await api(c, s.token, 'GET', path);
    if (r.status === 401 || r.status === 404) {
      sessions.delete(s.id);
      deleteCookie(c, SESSION_COOKIE, cookieOpts(c));
      return c.redirect('/', 303);
    }
    if (!r.ok) return page(c, s, 'Error', errorBox(`${r.status}: ${await apiError(r)}`), r.status as 403);
    return (await r.json()) as T;
  };

  const page = (c: Context, s: Session | null, title: string, body: H, status = 200): Response => {
    const nonce = randomBytes(16).toString('base64');
    const doc = h`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · offsite</title>
${s ? h`<meta name="csrf-token" content="${s.csrf}">` : ''}
<style nonce="${nonce}">${raw(CSS)}</style></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Main"><span class="brand">offsite</span>
${
  s
    ? h`<a href="/">Dashboard</a><a href="/runs">Runs</a><a href="/backups">Backups</a>
<span class="who">signed in as <strong>${s.name}</strong></span>
<form method="post" action="/signout" class="inline"><input type="hidden" name="_csrf" value="${s.csrf}"><button type="submit">Sign out</button></form>`
    : ''
}
</nav></header>
<main id="main" tabindex="-1"><h1>${title}</h1>${body}</main>
${raw(`<script nonce="${nonce}">`)}${raw(SCRIPT)}${raw('</script>')}
</body></html>`;
    return c.html(doc.toString(), status as 200, {
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    });
  };

  /** Same-origin check on every POST (a foreign Origin is refused even before the CSRF token). */
  const foreign = (c: Context): boolean => {
    const origin = c.req.header('origin');
    if (!origin || origin === 'null') return false;
    try {
      return new URL(origin).host !== (c.req.header('host') ?? new URL(c.req.url).host);
    } catch {
      return true;
    }
  };
  /** A POST action: the session and its CSRF token (form field `_csrf` or X-CSRF-Token), or the refusal. */
  const action = async (c: Context): Promise<{ s: Session; form: Record<string, string> } | Response> => {
    const s = sessionOf(c);
    if (foreign(c)) return page(c, s, 'Refused', errorBox('This request came from another site.'), 403);
    if (!s) return page(c, null, 'Signed out', h`<p>Your session ended. <a href="/">Sign in</a> again.</p>`, 401);
    const type = c.req.header('content-type') ?? '';
    const form: Record<string, string> = {};
    if (type.includes('form')) {
      for (const [k, v] of Object.entries(await c.req.parseBody())) if (typeof v === 'string') form[k] = v;
    }
    const given = c.req.header('x-csrf-token') ?? form._csrf;
    if (!given || !secretEquals(given, s.csrf))
      return page(c, s, 'Refused', errorBox('The form is missing its CSRF token or it is wrong: reload the page and try again.'), 403);
    return { s, form };
  };

  // --- sign-in and sign-out ---
  app.post('/signin', async (c) => {
    if (foreign(c)) return page(c, null, 'Refused', errorBox('This request came from another site.'), 403);
    const body = await c.req.parseBody();
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    const r = await api(c, token || null, 'GET', '/api/v1/status');
    if (r.ok) {
      const check = tokens.check(token, now());
      if (!check.ok) return signIn(c, 401, 'unknown or revoked token');
      const s = newSession(token, check.token.name, check.token.scopes);
      setCookie(c, SESSION_COOKIE, s.id, { ...cookieOpts(c), maxAge: Math.floor(SESSION_MAX_MS / 1000) });
      return c.redirect('/', 303);
    }
    if (r.status === 404) return signIn(c, 404, 'The API is disabled: no token exists yet (offsite token create NAME --scopes read).');
    const why = await apiError(r);
    if (r.status === 429) c.header('Retry-After', r.headers.get('retry-after') ?? '60');
    return signIn(c, r.status, why);
  });
  const signIn = (c: Context, status: number, error?: string): Response =>
    page(
      c,
      null,
      'Sign in',
      h`
${error ? errorBox(error) : ''}
<form method="post" action="/signin" class="card signin">
<label for="token">API token <span class="hint">(read scope; from <code>offsite token create</code>)</span></label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus spellcheck="false">
<button type="submit">Sign in</button>
<p class="hint">The token stays on the server; the browser keeps only a session cookie.</p>
</form>`,
      status,
    );

  app.post('/signout', async (c) => {
    const a = await action(c);
    if (a instanceof Response) return a;
    sessions.delete(a.s.id);
    deleteCookie(c, SESSION_COOKIE, cookieOpts(c));
    return c.redirect('/', 303);
  });

  // --- dashboard ---
  app.get('/', async (c) => {
    const s = sessionOf(c);
    if (!s) return signIn(c, 200);
    const status = await read<StatusJson>(c, s, '/api/v1/status');
    if (status instanceof Response) return status;
    const runs = await read<{ runs: RunJson[] }>(c, s, '/api/v1/runs');
    if (runs instanceof Response) return runs;
    const backups = await read<{ destinations: DestJson[] }>(c, s, '/api/v1/backups');
    if (backups instanceof Response) return backups;
    const t = now();
    const cards = status.jobs.map((job) => {
      const cfg = control.config.jobs.find((j) => j.name === job.name);
      const dests = backups.destinations.filter((d) => d.job === job.name);
      const jobRuns = runs.runs.filter((r) => r.job === job.name);
      const intervalMs = job.expectedIntervalSeconds ? job.expectedIntervalSeconds * 1000 : null;
      const age = job.lastSuccess ? t.getTime() - Date.parse(job.lastSuccess) : null;
      return h`<section class="card job" aria-labelledby="job-${job.name}">
<h2 id="job-${job.name}">${job.name} ${badge(job.health)}</h2>
<dl class="facts">
<dt>Last success</dt><dd>${job.lastSuccess ? h`${when(job.lastSuccess)} <span class="age">(${formatInterval(age!)} ago${intervalMs ? h`, allowed ${formatInterval(intervalMs * GRACE_FACTOR)}` : ''})</span>` : 'none yet'}</dd>
<dt>Expected</dt><dd>${intervalMs ? `every ${formatInterval(intervalMs)}` : 'not scheduled again'} <span class="hint">(${job.schedule}${job.timezone ? `, ${job.timezone}` : ''})</span></dd>
<dt>Next run</dt><dd>${job.next ? when(job.next) : 'none'}</dd>
<dt>Last run</dt><dd>${job.lastRun ? h`${statusBadge(job.lastRun.status)} ${when(job.lastRun.at)} ${job.lastRun.id ? h`<a href="/runs/${job.lastRun.id}">details</a>` : ''}` : 'none yet'}</dd>
${job.running ? h`<dt>Running</dt><dd><a href="/runs/${job.running.id}">a run started ${when(job.running.started)}</a></dd>` : ''}
</dl>
${runNowForm(s, job.name, Boolean(job.running))}
<h3>Last 30 days</h3>${strip(t, job.days ?? null, jobRuns, dests)}
<h3>Destinations</h3>
<div class="scroll" role="region" aria-label="Destinations of ${job.name}" tabindex="0"><table>
<thead><tr><th scope="col">Destination</th><th scope="col">Backups</th><th scope="col">Bytes</th><th scope="col">Oldest</th><th scope="col">Newest</th></tr></thead>
<tbody>${dests.map((d) => {
        const times = d.backups.map((b) => Date.parse(b.time)).filter((x) => !Number.isNaN(x));
        const oldest = times.length ? new Date(Math.min(...times)).toISOString() : null;
        const newest = times.length ? new Date(Math.max(...times)).toISOString() : null;
        return h`<tr><th scope="row">${d.destination}<div class="hint">${d.location}</div></th>
${d.error ? h`<td colspan="4" class="bad">cannot list: ${d.error}</td>` : h`<td>${d.backups.length}</td><td>${bytes(d.backups.reduce((n, b) => n + b.size, 0))}</td><td>${oldest ? when(oldest) : '–'}</td><td>${newest ? when(newest) : '–'}</td>`}</tr>`;
      })}</tbody></table></div>
${cfg ? settings(cfg) : ''}
</section>`;
    });
    return page(
      c,
      s,
      'Dashboard',
      h`<p>Health: ${badge(status.health)} <span class="hint">version ${status.version}, daemon started ${when(status.startedAt)}</span></p>
<div class="jobs">${cards}</div>`,
    );
  });

  const runNowForm = (s: Session, job: string, running: boolean): H => {
    const why = !s.scopes.includes('run') ? 'your token lacks the run scope' : running ? 'a run is going' : '';
    return h`<form method="post" action="/run" class="inline"><input type="hidden" name="_csrf" value="${s.csrf}"><input type="hidden" name="job" value="${job}">
<button type="submit" ${why ? raw('disabled aria-disabled="true"') : ''} aria-label="Run ${job} now">Run now</button>${why ? h` <span class="hint">(${why})</span>` : ''}</form>`;
  };

  // --- runs ---
  app.get('/runs', async (c) => {
    const s = sessionOf(c);
    if (!s) return c.redirect('/', 303);
    const runs = await read<{ runs: RunJson[] }>(c, s, '/api/v1/runs');
    if (runs instanceof Response) return runs;
    return page(
      c,
      s,
      'Runs',
      runs.runs.length === 0
        ? h`<p>No run recorded yet.</p>`
        : h`
<div class="scroll" role="region" aria-label="Runs" tabindex="0"><table>
<thead><tr><th scope="col">Started</th><th scope="col">Job</th><th scope="col">Result</th><th scope="col">Duration</th><th scope="col">Archive</th><th scope="col">Trigger</th></tr></thead>
<tbody>${runs.runs.map(
            (
              r,
            ) => h`<tr><td><a href="/runs/${r.id}">${when(r.started)}</a></td><td>${r.job}</td><td>${r.state === 'running' ? badge('running') : statusBadge(r.status ?? 'unknown')}</td>
<td>${r.finished ? formatInterval(Date.parse(r.finished) - Date.parse(r.started)) : '–'}</td><td>${r.archive ? h`${bytes(r.archive.size)}, ${r.archive.files} files` : '–'}</td><td>${TRIGGERS[r.trigger] ?? r.trigger}</td></tr>`,
          )}</tbody></table></div>`,
    );
  });

  app.get('/runs/:id', async (c) => {
    const s = sessionOf(c);
    if (!s) return c.redirect('/', 303);
    const r = await read<RunDetailJson>(c, s, `/api/v1/runs/${encodeURIComponent(c.req.param('id'))}`);
    if (r instanceof Response) return r;
    const st = r.stats;
    const live = r.state === 'running';
    const p = r.progress;
    return page(
      c,
      s,
      `Run of ${r.job}`,
      h`
<p>${live ? badge('running') : statusBadge(r.status ?? 'unknown')} started ${when(r.started)}${r.finished ? h`, finished ${when(r.finished)} (${formatInterval(Date.parse(r.finished) - Date.parse(r.started))})` : ''} · ${TRIGGERS[r.trigger] ?? r.trigger}</p>
${
  live
    ? h`<section class="card" id="live" data-run="${r.id}" aria-live="polite"><h2>Progress</h2>
<dl class="facts"><dt>Files</dt><dd id="p-files">${p ? `${p.files}${p.total ? ` of ${p.total.files}` : ''}` : '–'}</dd>
<dt>Bytes</dt><dd id="p-bytes">${p ? `${bytes(p.bytes)}${p.total ? ` of ${bytes(p.total.bytes)}` : ''}` : '–'}</dd>
<dt>Rate</dt><dd id="p-rate">${p?.bytesPerSecond ? `${bytes(p.bytesPerSecond)}/s` : '–'}</dd>
<dt>ETA</dt><dd id="p-eta">–</dd></dl>
<progress id="p-bar" max="1" aria-label="Progress"></progress></section>`
    : ''
}
${
  st
    ? h`
${st.error ? errorBox(`${st.error.phase}: ${st.error.message}`) : ''}
<section class="card"><h2>Phases</h2><ol class="phases">${phases(st).map(([name, state, note]) => h`<li class="${state}"><strong>${name}</strong> <span class="badge ${state}">${state}</span> ${note}</li>`)}</ol></section>
<section class="card"><h2>Destinations</h2><div class="scroll" role="region" aria-label="Destination results" tabindex="0"><table>
<thead><tr><th scope="col">Destination</th><th scope="col">Result</th><th scope="col">Bytes</th><th scope="col">Time</th><th scope="col">Attempts</th><th scope="col">Pruned</th></tr></thead>
<tbody>${st.destinations.map(
        (
          d,
        ) => h`<tr><th scope="row">${d.destination}<div class="hint">${redact(d.location)}</div></th><td>${d.ok ? badge('ok') : h`${badge('failure')} ${redact(d.error ?? '')}`}</td>
<td>${bytes(d.bytes)}</td><td>${formatInterval(d.durationMs)}</td><td>${d.attempts}</td><td>${d.pruned}${d.pruneNote ? h` <span class="hint">${redact(d.pruneNote)}</span>` : ''}</td></tr>`,
      )}</tbody></table></div></section>
${st.warnings.length ? h`<section class="card"><h2>Warnings</h2><ul>${st.warnings.map((w) => h`<li>${redact(w)}</li>`)}</ul></section>` : ''}`
    : r.source === 'history'
      ? h`
${r.error ? errorBox(redact(r.error)) : ''}
<section class="card"><h2>Destinations</h2><div class="scroll" role="region" aria-label="Destination results" tabindex="0"><table>
<thead><tr><th scope="col">Destination</th><th scope="col">Result</th><th scope="col">Bytes</th></tr></thead>
<tbody>${(r.destinations ?? []).map(
          (d) =>
            h`<tr><th scope="row">${d.destination}<div class="hint">${redact(d.location)}</div></th><td>${d.ok ? badge('ok') : h`${badge('failure')} ${redact(d.error ?? '')}`}</td><td>${bytes(d.bytes)}</td></tr>`,
        )}</tbody></table></div></section>`
      : ''
}
<section class="card"><h2>Log</h2>${
        r.logs.length === 0
          ? h`<p>${r.source === 'history' ? "From the run history: its phases and log were kept only by the process that ran it (see that process's log)." : 'No log lines.'}</p>`
          : h`<div class="scroll" role="region" aria-label="Log" tabindex="0"><table class="log">
<thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Message</th></tr></thead>
<tbody>${r.logs.map((l) => h`<tr class="lvl-${l.level}"><td>${l.time.slice(11, 19)}</td><td>${l.level}</td><td>${redact(l.msg)}${l.fields ? h` <code>${redact(JSON.stringify(l.fields))}</code>` : ''}</td></tr>`)}</tbody></table></div>`
      }
${r.droppedLines ? h`<p class="hint">${r.droppedLines} more lines were dropped.</p>` : ''}</section>`,
    );
  });

  // live updates: the API's event stream, as the session's token
  app.get('/events', async (c) => {
    const s = sessionOf(c);
    if (!s) return c.text('signed out', 401);
    return api(c, s.token, 'GET', '/api/v1/events');
  });

  // --- backups ---
  app.get('/backups', async (c) => {
    const s = sessionOf(c);
    if (!s) return c.redirect('/', 303);
    const inv = await read<{ destinations: DestJson[] }>(c, s, '/api/v1/backups');
    if (inv instanceof Response) return inv;
    const keySet = Boolean(control.config.http.backupKey);
    const canDownload = s.scopes.includes('download');
    const canVerify = s.scopes.includes('run');
    const downloadWhy = !keySet ? 'downloads are disabled: BACKUP_KEY is not set' : !canDownload ? 'your token lacks the download scope' : '';
    return page(
      c,
      s,
      'Backups',
      h`
${downloadWhy ? h`<p class="note">Download: ${downloadWhy}.</p>` : ''}
${inv.destinations.map(
  (d) => h`<section class="card"><h2>${d.destination} <span class="hint">job ${d.job} · ${d.location}</span></h2>
${
  d.error
    ? errorBox(`cannot list: ${d.error}`)
    : d.backups.length === 0
      ? h`<p>No backups.</p>`
      : h`<div class="scroll" role="region" aria-label="Backups on ${d.destination}" tabindex="0"><table>
<thead><tr><th scope="col">Backup</th><th scope="col">Time</th><th scope="col">Size</th><th scope="col">Last verification</th><th scope="col">Actions</th></tr></thead>
<tbody>${[...d.backups]
          .sort((a, b) => b.time.localeCompare(a.time))
          .map((b, i) => {
            const id = `${d.job}-${d.destination}-${i}`.replace(/[^A-Za-z0-9_-]/g, '_');
            return h`<tr><th scope="row"><code>${b.name}</code><div class="hint retention">${b.retention ? (b.retention.keep ? h`kept: ${b.retention.reasons.join(', ')}` : h`removed at the next prune (${b.retention.reasons.join(', ')})`) : 'retention off'}</div></th><td>${when(b.time)}</td><td>${bytes(b.size)}${b.files !== null && b.files !== undefined ? h`<div class="hint">${b.files} file${b.files === 1 ? '' : 's'}</div>` : ''}</td>
<td>${b.lastVerification ? h`${b.lastVerification.ok ? badge('ok') : badge('failure')} ${when(b.lastVerification.at)}${b.lastVerification.contentChecked ? '' : ' (not decrypted)'}` : 'never'}</td>
<td class="actions">
<form method="post" action="/verify" class="inline"><input type="hidden" name="_csrf" value="${s.csrf}"><input type="hidden" name="job" value="${d.job}"><input type="hidden" name="destination" value="${d.destination}"><input type="hidden" name="name" value="${b.name}">
<button type="submit" ${canVerify ? '' : raw('disabled aria-disabled="true" title="your token lacks the run scope"')} aria-label="Verify ${b.name}">Verify</button></form>
<form method="post" action="/download" class="inline download"><input type="hidden" name="_csrf" value="${s.csrf}"><input type="hidden" name="job" value="${d.job}"><input type="hidden" name="destination" value="${d.destination}"><input type="hidden" name="name" value="${b.name}">
<label for="key-${id}" class="sr">Backup key for ${b.name}</label><input id="key-${id}" name="key" type="password" placeholder="backup key" autocomplete="off" ${downloadWhy ? raw('disabled') : raw('required')}>
<button type="submit" ${downloadWhy ? raw(`disabled aria-disabled="true"`) : ''} aria-label="Download ${b.name}">Download</button></form>
</td></tr>`;
          })}</tbody></table></div>`
}</section>`,
)}`,
    );
  });

  // --- actions: each is the API's handler, as the session's token ---
  app.post('/run', async (c) => {
    const a = await action(c);
    if (a instanceof Response) return a;
    const r = await api(c, a.s.token, 'POST', '/api/v1/runs', { body: { job: a.form.job } });
    if (r.status === 202) return c.redirect(`/runs/${((await r.json()) as { id: string }).id}`, 303);
    const err = await apiError(r);
    return page(c, a.s, 'Run not started', h`${errorBox(`${r.status}: ${err}`)}<p><a href="/">Back to the dashboard</a></p>`, r.status as 403);
  });

  app.post('/verify', async (c) => {
    const a = await action(c);
    if (a instanceof Response) return a;
    const { job = '', destination = '', name = '' } = a.form;
    const r = await api(
      c,
      a.s.token,
      'POST',
      `/api/v1/backups/${encodeURIComponent(destination)}/${encodeURIComponent(name)}/verify?job=${encodeURIComponent(job)}`,
    );
    if (!r.ok)
      return page(
        c,
        a.s,
        'Verification failed',
        h`${errorBox(`${r.status}: ${await apiError(r)}`)}<p><a href="/backups">Back to the backups</a></p>`,
        r.status as 403,
      );
    const v = (await r.json()) as { ok: boolean; contentChecked: boolean; problems: string[]; warnings: string[]; checks?: unknown };
    return page(
      c,
      a.s,
      `Verification of ${name}`,
      h`
<p id="verify-result">${v.ok ? badge('ok') : badge('failure')} ${v.ok ? 'The backup is readable' : 'The backup has problems'} on ${destination}${v.contentChecked ? ' (decrypted and read through)' : ' (not decrypted: no key)'}.</p>
${v.problems.length ? h`<h2>Problems</h2><ul>${v.problems.map((p) => h`<li>${p}</li>`)}</ul>` : ''}
${v.warnings.length ? h`<h2>Warnings</h2><ul>${v.warnings.map((p) => h`<li>${p}</li>`)}</ul>` : ''}
<p><a href="/backups">Back to the backups</a></p>`,
    );
  });

  app.post('/download', async (c) => {
    const a = await action(c);
    if (a instanceof Response) return a;
    const { job = '', destination = '', name = '', key = '' } = a.form;
    const r = await api(c, a.s.token, 'GET', `/api/v1/backups/${encodeURIComponent(destination)}/${encodeURIComponent(name)}?job=${encodeURIComponent(job)}`, {
      headers: key ? { 'x-backup-key': key } : {},
    });
    if (r.ok) return r;
    return page(
      c,
      a.s,
      'Download refused',
      h`${errorBox(`${r.status}: ${await apiError(r)}`)}<p><a href="/backups">Back to the backups</a></p>`,
      r.status as 403,
    );
  });
}

// --- the API's JSON, as the page reads it ---
interface StatusJson {
  version: string;
  startedAt: string;
  health: string;
  jobs: Array<{
    name: string;
    schedule: string;
    timezone?: string;
    next: string | null;
    expectedIntervalSeconds: number | null;
    health: string;
    lastRun: { at: string; status: string; id?: string } | null;
    lastSuccess: string | null;
    running: RunJson | null;
    /** Runs per UTC day by result, oldest first (the run history's counts). */
    days?: Array<{ day: string; success: number; degraded: number; partial: number; failure: number }>;
  }>;
}
interface DestJson {
  job: string;
  destination: string;
  location: string;
  error: string | null;
  backups: Array<{
    name: string;
    size: number;
    time: string;
    lastVerification: { at: string; ok: boolean; contentChecked: boolean } | null;
    files?: number | null;
    retention?: { keep: boolean; reasons: string[] } | null;
  }>;
}

async function apiError(r: Response): Promise<string> {
  try {
    const j = (await r.json()) as { error?: string };
    return redact(j.error ?? r.statusText);
  } catch {
    return r.statusText || String(r.status);
  }
}

const PHASES = ['config', 'lock', 'pre', 'archive', 'upload', 'prune', 'post', 'notify'] as const;

/** What each phase did, from the run's stats: done, failed, or not reached. */
function phases(st: NonNullable<RunDetailJson['stats']>): Array<[string, string, string]> {
  const failedAt = st.error ? PHASES.indexOf(st.error.phase as (typeof PHASES)[number]) : -1;
  const note: Record<string, string> = {
    config: '',
    lock: st.lockWaitMs ? `waited ${formatInterval(st.lockWaitMs)}` : '',
    pre: st.containersStopped ? `${st.containersStopped} containers stopped` : '',
    archive: st.archive ? `${st.archive.files} files, ${bytes(st.archive.size)}` : '',
    upload: `${st.destinations.filter((d) => d.ok).length} of ${st.destinations.length} destinations`,
    prune: `${st.destinations.reduce((n, d) => n + d.pruned, 0)} removed`,
    post: '',
    notify: st.notifications ? `${st.notifications.filter((n) => n.ok).length} of ${st.notifications.length} sent` : '',
  };
  return PHASES.map((p, i) => [p, failedAt === -1 || i < failedAt ? 'done' : i === failedAt ? 'failed' : 'skipped', note[p] ?? '']);
}

const RANK: Record<string, number> = { success: 0, degraded: 1, partial: 2, failure: 3 };

const TRIGGERS: Record<string, string> = { api: 'started by hand', schedule: 'scheduled', cli: 'offsite backup' };

/**
 * The last 30 days, one cell a day coloured by the worst run of the day: the run history's counts
 * per day (`days`, from the status API), else the runs listed; a backup found on a destination
 * counts when no run is known.
 */
function strip(now: Date, days: NonNullable<StatusJson['jobs'][number]['days']> | null, runs: RunJson[], dests: DestJson[]): H {
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const cells: H[] = [];
  for (let i = 29; i >= 0; i--) {
    const d = day(now.getTime() - i * 86_400_000);
    const counts: Record<string, number> = { success: 0, degraded: 0, partial: 0, failure: 0 };
    const known = days?.find((x) => x.day === d);
    if (days) {
      if (known) for (const k of Object.keys(counts)) counts[k] = known[k as keyof typeof known] as number;
    } else
      for (const r of runs)
        if (r.state === 'finished' && r.status && day(Date.parse(r.finished ?? r.started)) === d) counts[r.status] = (counts[r.status] ?? 0) + 1;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const worst = Object.keys(counts).reduce<string | null>((w, k) => (counts[k]! > 0 && (w === null || (RANK[k] ?? 3) > (RANK[w] ?? 3)) ? k : w), null);
    const stored = dests.reduce((n, x) => n + x.backups.filter((b) => day(Date.parse(b.time)) === d).length, 0);
    const cls = worst ?? (stored ? 'stored' : 'none');
    const label = worst
      ? `${d}: ${total} run${total === 1 ? '' : 's'}, worst ${worst}`
      : stored
        ? `${d}: ${stored} backup${stored === 1 ? '' : 's'} stored`
        : `${d}: no run`;
    cells.push(h`<li class="day ${cls}" title="${label}"><span class="sr">${label}</span></li>`);
  }
  return h`<ol class="strip" aria-label="Runs of the last 30 days, oldest first">${cells}</ol>
<p class="legend hint"><span class="day success"></span> success <span class="day degraded"></span> degraded/partial <span class="day failure"></span> failure <span class="day stored"></span> backup stored <span class="day none"></span> nothing</p>`;
}

function settings(job: JobConfig): H {
  const rows: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(job.env).sort(([a], [b]) => a.localeCompare(b))) {
    if (v === undefined || !isOffsiteVariable(k)) continue;
    rows.push([k, isSecretName(k) ? '***' : redact(v)]);
  }
  return h`<details class="settings"><summary>Settings (secrets hidden)</summary>
<div class="scroll" role="region" aria-label="Settings of ${job.name}" tabindex="0"><table><tbody>${rows.map(([k, v]) => h`<tr><th scope="row"><code>${k}</code></th><td><code>${v}</code></td></tr>`)}</tbody></table></div></details>`;
}

function when(iso: string): H {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h`–`;
  return h`<time datetime="${d.toISOString()}">${d.toISOString().slice(0, 16).replace('T', ' ')} UTC</time>`;
}

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

const LABEL: Record<string, string> = {
  ok: 'ok',
  starting: 'waiting for the first run',
  stale: 'overdue',
  failing: 'failing',
  running: 'running',
  success: 'success',
  degraded: 'degraded',
  partial: 'partial',
  failure: 'failure',
  unknown: 'unknown',
};
function badge(state: string): H {
  return h`<span class="badge ${state}">${LABEL[state] ?? state}</span>`;
}
const statusBadge = badge;

function errorBox(message: string): H {
  return h`<p class="error" role="alert">${message}</p>`;
}

const CSS = `
:root{--fg:#1b1f24;--muted:#5b6470;--bg:#f6f7f9;--card:#fff;--line:#d8dde3;--ok:#1a7f37;--warn:#9a6700;--bad:#c62828;--accent:#0b5cad}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px;z-index:9}
header{background:#16202c;color:#fff}nav{display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center;max-width:1200px;margin:0 auto;padding:10px 16px}
nav a{color:#fff;text-decoration:none;padding:4px 0}nav a:hover{text-decoration:underline}.brand{font-weight:700;margin-right:8px}.who{margin-left:auto;color:#c9d1d9}
main{max-width:1200px;margin:0 auto;padding:12px 16px 40px}h1{font-size:1.5rem;margin:.4em 0}h2{font-size:1.15rem;margin:.2em 0 .5em}h3{font-size:1rem;margin:1em 0 .4em}
.jobs{display:grid;grid-template-columns:1fr;gap:16px}.jobs>*,.card{min-width:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0 0 16px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0 0 12px}.facts dt{color:var(--muted)}.facts dd{margin:0}
.hint{color:var(--muted);font-size:.88em}.age{color:var(--muted)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.8rem;font-weight:600;vertical-align:middle;background:#e7ebef;color:var(--fg)}
.badge.ok,.badge.success,.badge.done{background:#dafbe1;color:var(--ok)}.badge.starting,.badge.running{background:#ddf4ff;color:var(--accent)}
.badge.degraded,.badge.partial,.badge.skipped{background:#fff8c5;color:var(--warn)}.badge.stale,.badge.failing,.badge.failure,.badge.failed{background:#ffebe9;color:var(--bad)}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;width:100%;font-size:.93em}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{color:var(--muted);font-weight:600;white-space:nowrap}td code,th code{word-break:break-all}
.strip{display:flex;gap:3px;list-style:none;padding:0;margin:0 0 4px}.day{display:inline-block;flex:1 1 0;min-width:6px;max-width:22px;height:22px;border-radius:3px;background:#e7ebef}
.legend .day{width:12px;height:12px;flex:none;vertical-align:middle;margin-left:8px}
.day.success{background:var(--ok)}.day.degraded,.day.partial{background:#d4a72c}.day.failure{background:var(--bad)}.day.stored{background:#8fd19e}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
button{font:inherit;padding:6px 14px;border-radius:6px;border:1px solid #1f6feb;background:#1f6feb;color:#fff;cursor:pointer}button[disabled]{background:#c9d1d9;border-color:#c9d1d9;color:#57606a;cursor:not-allowed}
nav button{background:transparent;border-color:#8b949e;padding:2px 10px}
input{font:inherit;padding:6px 8px;border:1px solid #8b949e;border-radius:6px;max-width:100%}
form.inline{display:inline-flex;flex-wrap:wrap;gap:6px;align-items:center;margin:2px 0}.actions{white-space:nowrap}.actions form{margin-right:6px}
.download input{width:11em}
.signin{display:flex;flex-direction:column;gap:10px;max-width:460px}
.error{background:#ffebe9;border:1px solid #ffc1bc;color:#82071e;padding:8px 12px;border-radius:6px}.note{background:#fff8c5;padding:8px 12px;border-radius:6px}
.phases{padding-left:1.2em}.phases li{margin:3px 0}.log td{font-family:ui-monospace,monospace;font-size:.85em}.lvl-warn td{background:#fff8c5}.lvl-error td{background:#ffebe9}
progress{width:100%;height:14px}.settings summary{cursor:pointer;margin-top:12px}
@media (min-width:900px){.jobs{grid-template-columns:repeat(auto-fit,minmax(520px,1fr))}}
@media (max-width:600px){body{font-size:14px}main{padding:8px 10px 30px}.card{padding:10px}.actions{white-space:normal}.who{margin-left:0;width:100%}}
`;

/** Live progress of a running run from the API's event stream (through /events); reloads when it ends. */
const SCRIPT = `
(function(){
  var live=document.getElementById('live'); if(!live||!window.EventSource) return;
  var id=live.getAttribute('data-run');
  function fmt(n){var u=['B','KiB','MiB','GiB','TiB'],i=0;while(n>=1024&&i<u.length-1){n/=1024;i++;}return i===0?n+' B':n.toFixed(n<10?1:0)+' '+u[i];}
  function set(k,v){var e=document.getElementById(k); if(e) e.textContent=v;}
  var es=new EventSource('/events');
  function onRun(ev){
    var r; try{r=JSON.parse(ev.data);}catch(e){return;}
    if(r.id!==id) return;
    if(ev.type==='run.finished'){es.close(); location.reload(); return;}
    var p=r.progress; if(!p) return;
    set('p-files', p.files+(p.total?' of '+p.total.files:''));
    set('p-bytes', fmt(p.bytes)+(p.total?' of '+fmt(p.total.bytes):''));
    set('p-rate', p.bytesPerSecond?fmt(p.bytesPerSecond)+'/s':'–');
    if(p.total&&p.bytesPerSecond){var left=Math.max(0,(p.total.bytes-p.bytes)/p.bytesPerSecond);set('p-eta', left<1?'less than a second':Math.round(left)+' s');
      var bar=document.getElementById('p-bar'); if(bar&&p.total.bytes>0) bar.value=Math.min(1,p.bytes/p.total.bytes);}
  }
  es.addEventListener('run.progress', onRun); es.addEventListener('run.finished', onRun);
  es.addEventListener('hello', function(ev){ try{ var h=JSON.parse(ev.data); if(!h.running.some(function(r){return r.id===id;})) { es.close(); location.reload(); } }catch(e){} });
})();
`;
