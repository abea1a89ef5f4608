/**
 * A real MQTT broker for notification tests: Debian's mosquitto (2.x), started on free
 * 127.0.0.1 ports with a private config in a temporary directory: a plain listener, and
 * a TLS listener with a self-signed certificate when asked; user names and passwords
 * (mosquitto_passwd) when asked, else anonymous clients are allowed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killOnExit, stopChild, waitForPort } from './util.ts';

export interface MosquittoOptions {
  /** Accepted user -> password; without it anonymous clients are allowed. */
  users?: Record<string, string>;
  /** Also listen with TLS (self-signed key and certificate, PEM). */
  tls?: { key: string; cert: string };
}

export interface Mosquitto {
  /** Plain MQTT port. */
  port: number;
  /** TLS port, 0 without tls. */
  tlsPort: number;
  /** The broker's log so far (for failure messages). */
  log(): string;
  close(): Promise<void>;
}

const BIN = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

/** Whether the broker is installed (.ci/system-packages.sh installs Debian's mosquitto). */
export const haveMosquitto = Boolean(BIN);

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  if (!BIN) throw new Error('mosquitto is not installed (apt-get install mosquitto; .ci/system-packages.sh does it)');
  const dir = mkdtempSync(join(tmpdir(), 'offsite-mosquitto-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : 0;
  const lines = ['persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'per_listener_settings false'];
  // as root, mosquitto would switch to the user "mosquitto", which cannot read a private temp dir
  if (process.getuid?.() === 0) lines.push('user root');
  if (opts.users) {
    const pw = join(dir, 'passwd');
    writeFileSync(pw, '', { mode: 0o600 });
    for (const [u, p] of Object.entries(opts.users)) execFileSync('mosquitto_passwd', ['-b', pw, u, p], { stdio: 'ignore' });
    lines.push('allow_anonymous false', `password_file ${pw}`);
  } else {
    lines.push('allow_anonymous true');
  }
  lines.push(`listener ${port} 127.0.0.1`);
  if (opts.tls) {
    writeFileSync(join(dir, 'key.pem'), opts.tls.key, { mode: 0o600 });
    writeFileSync(join(dir, 'cert.pem'), opts.tls.cert);
    lines.push(`listener ${tlsPort} 127.0.0.1`, `certfile ${join(dir, 'cert.pem')}`, `keyfile ${join(dir, 'key.pem')}`);
  }
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  let log = '';
  const child: ChildProcess = spawn(BIN, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  child.stdout!.on('data', (d: Buffer) => {
    log += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
  });
  try {
    await waitForPort(port, 10_000, child, () => log);
    if (tlsPort) await waitForPort(tlsPort, 10_000, child, () => log);
  } catch (err) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    tlsPort,
    log: () => log,
    async close() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
