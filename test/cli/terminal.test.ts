/**
 * On a terminal (a pseudo-terminal through script(1)): log lines are written above the
 * progress line, never into it, and `offsite backup` shows files and bytes of the total
 * with a percentage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, isolatedEnv } from '../helpers/cli.ts';

const hasScript = spawnSync('script', ['--version']).status === 0;
const src = (p: string) => fileURLToPath(new URL(`../../src/${p}`, import.meta.url));
const CLEAR = '\r\x1b[K';

function underTty(cmd: string, env: Record<string, string>) {
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('a log line written while the progress line shows clears it first and redraws it after', { skip: !hasScript && 'script(1) is not installed' }, () => {
  const program = `
    const { createLogger } = await import(${JSON.stringify(src('log.ts'))});
    const { statusLine } = await import(${JSON.stringify(src('term.ts'))});
    const log = createLogger({ format: 'pretty', fd: 1 });
    statusLine.set('job: 1/2 files, 50%');
    log.warn('a warning while the progress shows');
    statusLine.set('job: 2/2 files, 100%');
    statusLine.clear();
    log.info('after the progress');
  `;
  const file = join(mkdtempSync(join(tmpdir(), 'offsite-term-')), 'prog.mjs');
  writeFileSync(file, program);
  const r = underTty(`${process.execPath} ${file}`, { PATH: process.env.PATH ?? '' });
  assert.equal(r.code, 0, r.out);
  const warn = r.out.indexOf('a warning while the progress shows');
  assert.ok(warn > 0, r.out);
  // between the progress text and the log line there is a clear; the progress is redrawn after it
  const before = r.out.slice(0, warn);
  const lastProgress = before.lastIndexOf('50%');
  assert.ok(lastProgress > 0, r.out);
  assert.ok(before.slice(lastProgress).includes(CLEAR), `the progress line was not cleared before the log line: ${JSON.stringify(r.out)}`);
  const after = r.out.slice(warn);
  assert.match(after, /a warning while the progress shows[^\n]*\r?\n[\s\S]*?job: 1\/2 files, 50%/, 'redrawn below the log line');
  // every line the terminal shows holds either progress or a log line, never both
  for (const shown of r.out.split(/\r?\n/).map((l) => l.split('\r').pop()!)) {
    assert.ok(!(/files, \d+%/.test(shown) && /INFO|WARN/.test(shown)), JSON.stringify(shown));
  }
});

test('offsite backup on a terminal shows files and bytes of the total with a percentage', { skip: !hasScript && 'script(1) is not installed' }, () => {
  const { dir, env } = isolatedEnv();
  const data = join(dir, 'src');
  mkdirSync(data);
  // text gzip must deflate (random data is stored at memory speed, and the whole backup could
  // end between two of the line's 500 ms samples, the first taken before the pre-scan's totals)
  for (let i = 0; i < 40; i++) writeFileSync(join(data, `f${i}.txt`), randomBytes(3 << 18).toString('base64'));
  const archive = join(dir, 'archive');
  mkdirSync(archive);
  const e: Record<string, string> = { ...env, BACKUP_SOURCES: data, BACKUP_ARCHIVE: archive, BACKUP_COMPRESSION: 'gz' };
  delete e.LOG_FORMAT;
  const r = underTty(`${process.execPath} ${CLI} backup`, e);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /src|default: success/);
  // at least one progress line with totals: "default: N/40 files, X MiB/40.0 MiB (P%)"
  assert.match(r.out, /default: \d+\/40 files, [\d.]+ (?:B|KiB|MiB)\/40\.0 MiB \(\d+%\)/, JSON.stringify(r.out.slice(0, 3000)));
  assert.match(r.out, /default: success — backup-/);
});
