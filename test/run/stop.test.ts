// The stop handler: the first signal aborts, the deadline or a second signal exits; and a
// process with a file-system call blocked forever (a hung mount) still ends at the deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { installStopHandler } from '../../src/run/stop.ts';
import { silentLogger } from '../../src/log.ts';

test('first signal aborts and arms the deadline; the deadline exits with a failure status', async () => {
  const exits: number[] = [];
  const stop = installStopHandler({
    log: silentLogger(),
    timeoutMs: 100,
    what: 'the test',
    exit: (c) => {
      exits.push(c);
    },
  });
  try {
    assert.equal(stop.stopping, false);
    assert.equal(stop.lateSignal(), undefined);
    process.emit('SIGTERM', 'SIGTERM');
    assert.equal(stop.signal.aborted, true);
    assert.equal(await stop.received, 'SIGTERM');
    assert.ok(stop.lateSignal(), 'notifications get a signal bounded by the deadline');
    assert.deepEqual(exits, []);
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(exits, [1]);
  } finally {
    stop.dispose();
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
  }
});

test('a second signal exits at once', async () => {
  const exits: number[] = [];
  installStopHandler({
    log: silentLogger(),
    timeoutMs: 60_000,
    what: 'the test',
    exit: (c) => {
      exits.push(c);
    },
  });
  try {
    process.emit('SIGINT', 'SIGINT');
    assert.deepEqual(exits, []);
    process.emit('SIGTERM', 'SIGTERM');
    assert.deepEqual(exits, [1]);
  } finally {
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
  }
});

test("finish() ends a stopping process with the run's exit code; no-op when not stopping", async () => {
  const exits: number[] = [];
  const stop = installStopHandler({
    log: silentLogger(),
    timeoutMs: 60_000,
    what: 'the test',
    exit: (c) => {
      exits.push(c);
    },
  });
  try {
    stop.finish(3);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(exits, []);
    process.emit('SIGTERM', 'SIGTERM');
    stop.finish(3);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(exits, [3]);
  } finally {
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
  }
});

test('the deadline ends a process whose file-system call is blocked forever (process.exit alone would hang), and removes its lock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-stop-'));
  try {
    const fifo = join(dir, 'hung');
    execFileSync('mkfifo', [fifo]); // opening a FIFO for writing blocks until a reader comes: a stand-in for a hung mount
    const lock = join(dir, 'offsite.lock');
    const stopUrl = new URL('../../src/run/stop.ts', import.meta.url).href;
    const lockUrl = new URL('../../src/run/lock.ts', import.meta.url).href;
    const script = `
      import { open } from 'node:fs';
      import { installStopHandler } from ${JSON.stringify(stopUrl)};
      import { acquireLock } from ${JSON.stringify(lockUrl)};
      const log = { warn() {}, error(o, m) { process.stdout.write(m + '\\n'); } };
      await acquireLock(${JSON.stringify(lock)}, { timeoutMs: 0 });
      installStopHandler({ log, timeoutMs: 300, what: 'the test' });
      open(${JSON.stringify(fifo)}, 'w', () => {});
      setInterval(() => {}, 1000);
      process.stdout.write('ready\\n');
    `;
    writeFileSync(join(dir, 'child.mjs'), script);
    const child = spawn(process.execPath, [join(dir, 'child.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    const exited = once(child, 'exit');
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 20));
    assert.ok(existsSync(lock));
    const t0 = Date.now();
    child.kill('SIGTERM');
    const [code, signal] = await exited;
    const ms = Date.now() - t0;
    clearTimeout(guard);
    assert.ok(ms < 5000, `ended ${ms} ms after SIGTERM (the guard kills at 20 s)`);
    assert.ok(code === 1 || signal === 'SIGKILL', `ended by itself with a failure status (${code}/${signal})`);
    assert.match(out, /did not stop within OFFSITE_STOP_TIMEOUT/);
    assert.equal(existsSync(lock), false, 'the lock file is removed before exiting');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
