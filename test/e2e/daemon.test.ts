import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { once } from 'node:events';
import { isolatedEnv, startCli } from '../helpers/cli.ts';

function collect(child: ReturnType<typeof startCli>) {
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  return () => out;
}

async function waitFor(cond: () => boolean, ms: number, what: string, log: () => string) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('daemon: a schedule every second produces at least two archives, SIGTERM exits 0', async (t) => {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src'); mkdirSync(src); writeFileSync(join(src, 'a.txt'), 'a');
  const archiveDir = join(dir, 'archive'); mkdirSync(archiveDir);
  const child = startCli(['daemon'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_CRON_EXPRESSION: '* * * * * *' });
  const log = collect(child);
  t.after(() => { child.kill('SIGKILL'); });
  const archives = () => readdirSync(archiveDir).filter((n) => /^backup-.*\.tar\.gz$/.test(n));
  await waitFor(() => archives().length >= 2, 20_000, 'two archives', log);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, log());
  assert.match(log(), /job scheduled/);
  assert.deepEqual(readdirSync(archiveDir).filter((n) => n.startsWith('.')), [], 'no temporary files left');
});

test('daemon: SIGTERM during a run leaves no partial file and exits 0', async (t) => {
  const { dir, env } = isolatedEnv();
  const src = join(dir, 'src'); mkdirSync(src);
  // enough incompressible data that the run is still going when the signal arrives
  const fd = openSync(join(src, 'big.bin'), 'w');
  for (let i = 0; i < 48; i++) writeSync(fd, randomBytes(4 << 20));
  closeSync(fd);
  const archiveDir = join(dir, 'archive'); mkdirSync(archiveDir);
  const child = startCli(['daemon'], { ...env, BACKUP_SOURCES: src, BACKUP_ARCHIVE: archiveDir, BACKUP_CRON_EXPRESSION: '* * * * * *' });
  const log = collect(child);
  t.after(() => { child.kill('SIGKILL'); });
  await waitFor(() => readdirSync(archiveDir).some((n) => n.startsWith('.')), 20_000, 'a temporary file', log);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, log());
  assert.deepEqual(readdirSync(archiveDir), [], `nothing may remain after an aborted run:\n${log()}`);
});
