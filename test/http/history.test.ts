// The run history across processes and restarts (issue 17): a run of `offsite backup` (e.g. a
// CronJob) and a run of a daemon that was then stopped both appear, after a new daemon starts,
// in the API's runs list, in the status API's days and in the status page's 30-day strip and
// runs list; a damaged history file does not stop a backup (a warning).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, runCliAsync, startDaemon } from '../helpers/cli.ts';
import { signIn } from '../helpers/page.ts';
import { parseHistory, HISTORY_FILE } from '../../src/run/history.ts';

const TOKEN = 'history-test-token-0123456789';

const api = async (url: string, path: string, init: RequestInit = {}) => {
  const r = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  return { status: r.status, json: (await r.json()) as any };
};

async function signedInPage(url: string, path: string): Promise<string> {
  const cookie = await signIn(url, TOKEN);
  const r = await fetch(`${url}${path}`, { headers: { cookie } });
  assert.equal(r.status, 200);
  return r.text();
}

test('a run of offsite backup and of a stopped daemon show in the strip and the runs list after a restart; a damaged history is set aside', async () => {
  const { dir, env: base } = isolatedEnv();
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'archive'));
  writeFileSync(join(dir, 'src', 'a.txt'), 'history\n');
  const env = {
    ...base,
    BACKUP_SOURCES: join(dir, 'src'),
    BACKUP_ARCHIVE: join(dir, 'archive'),
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?', // never: only by hand
    BACKUP_COMPRESSION: 'none',
    OFFSITE_HTTP_ADDR: '127.0.0.1:0',
    OFFSITE_API_TOKEN: TOKEN,
  };
  const state = join(dir, 'state');
  mkdirSync(state);
  const file = join(state, HISTORY_FILE);
  writeFileSync(file, 'garbage, not a history');

  // 1. a one-shot backup (a CronJob's): the damaged history does not stop it
  const one = await runCliAsync(['backup'], env);
  assert.equal(one.code, 0, one.out);
  assert.match(
    one.out,
    /the run history .*run-history\.json is damaged \(not valid JSON\); set aside as .*run-history\.json\.bad; a new history starts with this run \(the backup itself is not affected\)/,
  );
  assert.equal(readFileSync(`${file}.bad`, 'utf8'), 'garbage, not a history');
  const afterOne = parseHistory(readFileSync(file, 'utf8'));
  assert.equal(afterOne.runs.length, 1);
  assert.equal(afterOne.runs[0]!.trigger, 'cli');
  assert.equal(afterOne.runs[0]!.status, 'success');
  assert.equal(afterOne.runs[0]!.destinations[0]!.ok, true);
  const cliRun = afterOne.runs[0]!.id;

  // 2. a daemon sees it, runs once more (backup names have one-second resolution), stops
  await new Promise((r) => setTimeout(r, 1100));
  const first = await startDaemon(env);
  let runs = await api(first.url, '/api/v1/runs');
  assert.deepEqual(
    runs.json.runs.map((r: any) => [r.id, r.source]),
    [[cliRun, 'history']],
  );
  const ran = await api(first.url, '/api/v1/runs?wait=true', { method: 'POST', body: '{}' });
  assert.equal(ran.status, 200, JSON.stringify(ran.json));
  assert.equal(ran.json.status, 'success');
  const daemonRun = ran.json.id as string;
  await first.stop();
  assert.equal(parseHistory(readFileSync(file, 'utf8')).runs.length, 2);

  // 3. after a restart: both runs in the API, the status API's days and the page
  const second = await startDaemon(env);
  runs = await api(second.url, '/api/v1/runs');
  assert.deepEqual(
    runs.json.runs.map((r: any) => [r.id, r.source, r.status, r.trigger]),
    [
      [daemonRun, 'history', 'success', 'api'],
      [cliRun, 'history', 'success', 'cli'],
    ],
  );
  assert.equal((await api(second.url, '/api/v1/runs?limit=1')).json.runs.length, 1);
  assert.equal((await api(second.url, '/api/v1/runs?limit=0')).status, 400);
  const detail = await api(second.url, `/api/v1/runs/${cliRun}`);
  assert.equal(detail.status, 200);
  assert.equal(detail.json.stats, null);
  assert.equal(detail.json.destinations[0].destination, 'Local');
  const status = await api(second.url, '/api/v1/status');
  const days = status.json.jobs[0].days as Array<{ day: string; success: number }>;
  assert.equal(days.length, 30);
  const today = new Date().toISOString().slice(0, 10);
  assert.equal(days.at(-1)!.day, today);
  assert.equal(days.at(-1)!.success, 2);

  const dashboard = await signedInPage(second.url, '/');
  assert.match(dashboard, new RegExp(`<li class="day success" title="${today}: 2 runs, worst success">`));
  const list = await signedInPage(second.url, '/runs');
  assert.match(list, new RegExp(`href="/runs/${cliRun}"`));
  assert.match(list, /offsite backup/);
  const runPage = await signedInPage(second.url, `/runs/${cliRun}`);
  assert.match(runPage, /From the run history/);
  assert.match(runPage, /Destination results/);
  await second.stop();
  assert.ok(!existsSync(`${file}.lock`));
});
