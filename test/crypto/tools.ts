/** Helpers to drive the real gpg and age command line tools in tests. */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Pipe a buffer through a Transform and collect the output. */
export async function through(data: Buffer, t: Transform): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from([data]), t, async function* (s) {
    for await (const c of s) parts.push(c as Buffer);
  });
  return Buffer.concat(parts);
}

/** A private GnuPG home (removed by the returned cleanup). */
export function gpgHome(): { home: string; gpg: (args: string[], input?: Buffer | string) => Buffer; cleanup: () => void } {
  const home = mkdtempSync(join(tmpdir(), 'offsite-gpg-'));
  chmodSync(home, 0o700);
  const gpg = (args: string[], input?: Buffer | string) =>
    execFileSync('gpg', ['--homedir', home, '--batch', '--yes', '--quiet', '--no-tty', '--pinentry-mode', 'loopback', ...args], {
      input,
      maxBuffer: 1 << 30,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  return {
    home,
    gpg,
    cleanup: () => {
      try {
        execFileSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' });
      } catch {
        /* no agent */
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * Run a command under a pseudo-terminal (util-linux `script`), answering
 * passphrase prompts: age reads passphrases only from a terminal.
 */
export function runWithTty(command: string, passphrase: string, timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${command}\n${output}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      output += d.toString('utf8');
      const prompts = (output.match(/passphrase/gi) ?? []).length;
      while (answered < prompts) {
        child.stdin.write(`${passphrase}\n`);
        answered++;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, output });
    });
  });
}
