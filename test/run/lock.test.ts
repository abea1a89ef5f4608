import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, utimesSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { acquireLock } from '../../src/run/lock.ts';
import { UserError } from '../../src/errors.ts';

const LOCK_URL = new URL('../../src/run/lock.ts', import.meta.url).href;
const LOG_URL = new URL('../../src/log.ts', import.meta.url).href;

/**
 * A child process taking the lock. MODE: hold (until "release" on stdin), exit (process.exit
 * without releasing), stress (append +pid / -pid around a short hold to LOG).
 */
const CHILD = `
import { acquireLock } from ${JSON.stringify(LOCK_URL)};
import { createLogger } from ${JSON.stringify(LOG_URL)};
import { appendFileSync } from 'node:fs';
const log = createLogger({ format: 'json', level: 'info', fd: 2 });
const e = process.env;
try {
  const lock = await acquireLock(e.LOCK_PATH, { timeoutMs: Number(e.TIMEOUT ?? 30000), pollMs: 20, log, owner: 'child' });
  process.stdout.write('acquired ' + lock.waitedMs + '\\n');
  if (e.MODE === 'hold') {
    process.stdin.setEncoding('utf8');
    for await (const chunk of process.stdin) if (chunk.includes('release')) break;
    await lock.release();
    process.stdout.write('released\\n');
  } else if (e.MODE === 'exit') {
    process.exit(0);
  } else if (e.MODE === 'stress') {
    appendFileSync(e.LOG, '+' + process.pid + '\\n');
    await new Promise((r) => setTimeout(r, 30));
    appendFileSync(e.LOG, '-' + process.pid + '\\n');
    await lock.release();
  }
  process.exit(0);
} catch (err) {
  process.stdout.write('error ' + err.message + '\\n');
  process.exit(7);
}
`;

const children = new Set<ChildProcess>();
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'offsite-lock-'));
});
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
process.on('exit', () => {
  for (const c of children)
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
});

interface Child {
  proc: ChildProcess;
  lines: string[];
  stderr: string[];
  waitLine(re: RegExp): Promise<string>;
  exited: Promise<number | null>;
}

function startChild(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { PATH: process.env.PATH!, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(proc);
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters])
      if (w.re.test(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
  });
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    proc,
    lines,
    stderr,
    exited,
    waitLine(re) {
      const found = lines.find((l) => re.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        exited.then((code) => reject(new Error(`child exited (${code}) before printing ${re}; stdout: ${lines.join(' | ')}; stderr: ${stderr.join(' | ')}`)));
      });
    },
  };
}

function capture() {
  const records: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) records.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), records };
}

let n = 0;
const lockPath = () => join(dir, `run-${++n}.lock`);

/** Settles to 'pending' if the promise has not settled within a moment: used only to show a waiter is still blocked. */
async function stillPending(p: Promise<unknown>, ms = 300): Promise<boolean> {
  let settled = false;
  p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await delay(ms);
  return !settled;
}

describe('lock within one process', () => {
  test('acquire writes a record naming this process; release removes it; release is idempotent', async () => {
    const p = lockPath();
    const lock = await acquireLock(p, { timeoutMs: 1000, owner: 'daily' });
    const rec = JSON.parse(readFileSync(p, 'utf8'));
    assert.equal(rec.pid, process.pid);
    assert.equal(rec.host, hostname());
    assert.equal(rec.owner, 'daily');
    assert.ok(!Number.isNaN(Date.parse(rec.startedAt)));
    assert.equal(lock.waitedMs >= 0, true);
    assert.equal(lock.contended, false, 'nobody held it');
    await lock.release();
    assert.equal(existsSync(p), false);
    await lock.release();
    const again = await acquireLock(p, { timeoutMs: 0 });
    await again.release();
  });

  test('two jobs in the same process never overlap and are served first come, first served', async () => {
    const p = lockPath();
    const { log, records } = capture();
    const first = await acquireLock(p, { timeoutMs: 10_000, log, owner: 'a' });
    const order: string[] = [];
    const second = acquireLock(p, { timeoutMs: 10_000, log, owner: 'b' }).then((l) => {
      order.push('b');
      return l;
    });
    const third = acquireLock(p, { timeoutMs: 10_000, log, owner: 'c' }).then((l) => {
      order.push('c');
      return l;
    });
    assert.equal(await stillPending(second, 100), true);
    assert.deepEqual(order, []);
    await first.release();
    const l2 = await second;
    assert.equal(await stillPending(third, 100), true);
    assert.deepEqual(order, ['b']);
    assert.equal(JSON.parse(readFileSync(p, 'utf8')).owner, 'b');
    await l2.release();
    const l3 = await third;
    assert.deepEqual(order, ['b', 'c']);
    assert.ok(l3.waitedMs > 0);
    assert.equal(l3.contended, true, 'waited in this process');
    await l3.release();
    const waits = records.filter((r) => r.msg.startsWith('waiting for another run to finish, up to LOCK_TIMEOUT (10s)'));
    assert.equal(waits.length, 2, 'each waiter logs once');
    assert.ok(waits.every((r) => r.level === 30));
    assert.match(String(waits[0]!.holder), /job a in this process/);
  });

  test('an in-process waiter times out with a clear UserError and leaves the queue working', async () => {
    const p = lockPath();
    const first = await acquireLock(p, { timeoutMs: 1000, owner: 'nightly' });
    await assert.rejects(acquireLock(p, { timeoutMs: 150 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /another backup job in this process \(job nightly\) has been running for \d+s; waited LOCK_TIMEOUT=0\.15s/);
      assert.match(e.hint ?? '', /LOCK_TIMEOUT/);
      return true;
    });
    await first.release();
    const next = await acquireLock(p, { timeoutMs: 0 });
    await next.release();
  });

  test('aborting a waiter rejects with the abort reason and does not block the next one', async () => {
    const p = lockPath();
    const first = await acquireLock(p, { timeoutMs: 1000 });
    const ac = new AbortController();
    const waiting = acquireLock(p, { timeoutMs: 60_000, signal: ac.signal });
    ac.abort(new Error('shutting down'));
    await assert.rejects(waiting, /shutting down/);
    await first.release();
    const next = await acquireLock(p, { timeoutMs: 0 });
    await next.release();
  });

  test('an already aborted signal rejects at once', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(acquireLock(lockPath(), { timeoutMs: 1000, signal: ac.signal }), /stop/);
  });

  test('the lock directory is created when missing', async () => {
    const p = join(dir, 'nested', 'deeper', 'offsite.lock');
    const l = await acquireLock(p, { timeoutMs: 0 });
    assert.ok(existsSync(p));
    await l.release();
  });

  test('an unwritable lock location is a UserError naming the file', async () => {
    const p = join(dir, 'file-not-dir');
    writeFileSync(p, 'x');
    await assert.rejects(acquireLock(join(p, 'offsite.lock'), { timeoutMs: 0 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /cannot create the lock file .*file-not-dir\/offsite\.lock/);
      return true;
    });
  });
});

describe('stale locks are taken over', () => {
  const stale = (over: Record<string, unknown>) =>
    JSON.stringify({ pid: 999_999_999, host: hostname(), token: 'x', startedAt: new Date().toISOString(), ...over });

  test('garbage content', async () => {
    const p = lockPath();
    writeFileSync(p, 'not a lock record');
    const { log, records } = capture();
    const l = await acquireLock(p, { timeoutMs: 0, log });
    assert.equal(JSON.parse(readFileSync(p, 'utf8')).pid, process.pid);
    assert.ok(records.some((r) => r.level === 40 && /took over a stale lock: its content is not a lock record/.test(r.msg)));
    await l.release();
  });

  test('an empty file older than a few seconds', async () => {
    const p = lockPath();
    writeFileSync(p, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(p, old, old);
    const l = await acquireLock(p, { timeoutMs: 0 });
    await l.release();
  });

  test('a fresh empty file is respected (it may be being written)', async () => {
    const p = lockPath();
    writeFileSync(p, '');
    await assert.rejects(acquireLock(p, { timeoutMs: 100, pollMs: 20 }), /another backup run has held the lock/);
  });

  test('a dead pid', async () => {
    const p = lockPath();
    writeFileSync(p, stale({}));
    const { log, records } = capture();
    const l = await acquireLock(p, { timeoutMs: 0, log });
    assert.ok(records.some((r) => /left by pid 999999999: process 999999999 is no longer running/.test(r.msg)));
    await l.release();
  });

  test('this very pid from an earlier life (container restarted as pid 1)', async () => {
    const p = lockPath();
    writeFileSync(p, stale({ pid: process.pid, token: 'earlier' }));
    const l = await acquireLock(p, { timeoutMs: 0 });
    await l.release();
  });

  test('another boot', async (t) => {
    if (!existsSync('/proc/sys/kernel/random/boot_id')) {
      t.skip('no /proc/sys/kernel/random/boot_id on this system');
      return;
    }
    const p = lockPath();
    writeFileSync(p, stale({ pid: process.ppid, bootId: 'another-boot' }));
    const l = await acquireLock(p, { timeoutMs: 0 });
    await l.release();
  });

  test('a pid now used by another process (start time differs), but not a live one with the same start time', async (t) => {
    if (!existsSync(`/proc/${process.pid}/stat`)) {
      t.skip('no /proc/<pid>/stat on this system');
      return;
    }
    const sleeper = spawn('sleep', ['60']);
    children.add(sleeper);
    await new Promise((r) => sleeper.once('spawn', r));
    const st = readFileSync(`/proc/${sleeper.pid}/stat`, 'utf8');
    const procStart = st.slice(st.lastIndexOf(')') + 2).split(' ')[19];
    const p = lockPath();
    writeFileSync(p, stale({ pid: sleeper.pid, procStart }));
    await assert.rejects(acquireLock(p, { timeoutMs: 100, pollMs: 20 }), new RegExp(`another backup run \\(pid ${sleeper.pid}\\) has held the lock`));
    writeFileSync(p, stale({ pid: sleeper.pid, procStart: '1' }));
    const l = await acquireLock(p, { timeoutMs: 0 });
    await l.release();
    sleeper.kill('SIGKILL');
  });

  test('a lock from another host is never taken over; the error says why', async () => {
    const p = lockPath();
    writeFileSync(p, stale({ host: 'some-other-host', startedAt: new Date(Date.now() - 3_600_000).toISOString() }));
    await assert.rejects(acquireLock(p, { timeoutMs: 50, pollMs: 10 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        /another backup run \(pid 999999999, on host some-other-host\) has held the lock .* for 1h\d*m?\d*s?; waited LOCK_TIMEOUT=0\.05s\. It runs on another host/,
      );
      return true;
    });
    assert.ok(existsSync(p), 'the foreign lock is left alone');
  });

  test('only the holder of the takeover guard removes a stale lock; a guard left by a crash is broken', async () => {
    const p = lockPath();
    writeFileSync(p, stale({}));
    writeFileSync(`${p}.takeover`, '12345\n');
    // Someone is taking over right now: wait for them, do not remove the stale lock ourselves.
    await assert.rejects(acquireLock(p, { timeoutMs: 150, pollMs: 20 }), /has held the lock/);
    assert.equal(JSON.parse(readFileSync(p, 'utf8')).pid, 999_999_999);
    // A guard older than a few seconds was left by a crash mid-takeover.
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${p}.takeover`, old, old);
    const l = await acquireLock(p, { timeoutMs: 1000, pollMs: 20 });
    assert.equal(existsSync(`${p}.takeover`), false);
    await l.release();
  });

  test('a release does not remove a lock file someone else replaced', async () => {
    const p = lockPath();
    const { log, records } = capture();
    const l = await acquireLock(p, { timeoutMs: 0, log });
    writeFileSync(p, stale({ pid: 1234 }));
    await l.release();
    assert.equal(JSON.parse(readFileSync(p, 'utf8')).pid, 1234);
    assert.ok(records.some((r) => /replaced by someone else/.test(r.msg)));
  });
});

describe('lock across processes', () => {
  test('a second process waits, logs once, then proceeds when the first releases', async () => {
    const p = lockPath();
    const mine = await acquireLock(p, { timeoutMs: 0 });
    const child = startChild({ LOCK_PATH: p, MODE: 'none' });
    // The child logs that it waits (so it did reach the lock) ...
    while (!child.stderr.some((l) => l.includes('waiting for another run'))) {
      assert.equal(child.proc.exitCode, null, `child exited early: ${child.lines.join(' | ')} ${child.stderr.join(' | ')}`);
      await delay(20);
    }
    // ... and is still blocked a moment later.
    await delay(200);
    assert.deepEqual(child.lines, []);
    await mine.release();
    const line = await child.waitLine(/^acquired/);
    assert.ok(Number(line.split(' ')[1]) > 0);
    assert.equal(await child.exited, 0);
    const waits = child.stderr.filter((l) => l.includes('waiting for another run to finish, up to LOCK_TIMEOUT (30s)'));
    assert.equal(waits.length, 1);
    assert.equal(JSON.parse(waits[0]!).level, 30);
    assert.match(waits[0]!, new RegExp(`"holder":"pid ${process.pid}"`));
  });

  test('this process waits for a child holding the lock, and proceeds when it releases', async () => {
    const p = lockPath();
    const child = startChild({ LOCK_PATH: p, MODE: 'hold' });
    await child.waitLine(/^acquired/);
    const { log, records } = capture();
    const waiting = acquireLock(p, { timeoutMs: 30_000, pollMs: 20, log });
    assert.equal(await stillPending(waiting), true);
    assert.equal(records.filter((r) => r.msg.startsWith('waiting for another run')).length, 1);
    child.proc.stdin!.write('release\n');
    const l = await waiting;
    assert.ok(l.waitedMs > 0);
    assert.equal(l.contended, true, 'waited for another process');
    await child.waitLine(/^released/);
    assert.equal(JSON.parse(readFileSync(p, 'utf8')).pid, process.pid);
    await l.release();
    assert.equal(await child.exited, 0);
  });

  test('a lock left by a SIGKILLed process does not block', async () => {
    const p = lockPath();
    const child = startChild({ LOCK_PATH: p, MODE: 'hold' });
    await child.waitLine(/^acquired/);
    const pid = child.proc.pid;
    child.proc.kill('SIGKILL');
    await child.exited;
    assert.equal(JSON.parse(readFileSync(p, 'utf8')).pid, pid, 'the killed child left its lock behind');
    const { log, records } = capture();
    const l = await acquireLock(p, { timeoutMs: 0, log });
    assert.ok(records.some((r) => r.level === 40 && r.msg.includes(`left by pid ${pid}`)));
    await l.release();
  });

  test('a process exiting without release leaves no lock behind', async () => {
    const p = lockPath();
    const child = startChild({ LOCK_PATH: p, MODE: 'exit' });
    await child.waitLine(/^acquired/);
    assert.equal(await child.exited, 0);
    assert.equal(existsSync(p), false);
  });

  test('a timeout names the holder, how long it has held the lock, and LOCK_TIMEOUT', async () => {
    const p = lockPath();
    const child = startChild({ LOCK_PATH: p, MODE: 'hold' });
    await child.waitLine(/^acquired/);
    await assert.rejects(acquireLock(p, { timeoutMs: 300, pollMs: 20 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        new RegExp(
          `^another backup run \\(pid ${child.proc.pid}, job child\\) has held the lock ${p.replace(/[.]/g, '\\.')} for \\d+s; waited LOCK_TIMEOUT=0\\.3s\\.$`,
        ),
      );
      return true;
    });
    assert.equal(JSON.parse(readFileSync(p, 'utf8')).pid, child.proc.pid, 'the holder keeps its lock');
    child.proc.stdin!.write('release\n');
    assert.equal(await child.exited, 0);
  });

  test('many processes racing over a stale lock never overlap', async () => {
    const p = lockPath();
    const logFile = join(dir, 'stress.log');
    writeFileSync(logFile, '');
    writeFileSync(p, JSON.stringify({ pid: 999_999_999, host: hostname(), token: 'dead', startedAt: new Date().toISOString() }));
    const kids = Array.from({ length: 6 }, () => startChild({ LOCK_PATH: p, MODE: 'stress', LOG: logFile }));
    const codes = await Promise.all(kids.map((k) => k.exited));
    assert.deepEqual(
      codes,
      kids.map(() => 0),
      kids.map((k) => k.lines.join(' ')).join('\n'),
    );
    const events = readFileSync(logFile, 'utf8').trim().split('\n');
    assert.equal(events.length, 12);
    for (let i = 0; i < events.length; i += 2) {
      assert.equal(events[i]![0], '+');
      assert.equal(events[i + 1], `-${events[i]!.slice(1)}`, `overlap: ${events.join(' ')}`);
    }
    assert.equal(existsSync(p), false);
  });
});
