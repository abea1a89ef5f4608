/**
 * OpenSSH sshd with a private config on 127.0.0.1: own ed25519 host key, password and
 * public-key login for a local test user, internal-sftp. Needs root (tests run as root).
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort, killOnExit, stopChild } from './util.ts';

export const SFTP_USER = 'offsite-sftp';
export const SFTP_PASSWORD = 'sftp test pässword';

export interface SshdServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The user's home directory (the login directory). */
  home: string;
  /** `SHA256:...` of the server's host key. */
  fingerprint: string;
  /** One known_hosts line for this server (`[127.0.0.1]:PORT ssh-ed25519 AAAA...`). */
  knownHostsLine: string;
  /** Scratch directory for keys and files the test makes. */
  dir: string;
  /** The listening sshd's pid (the bench reads its and its connections' CPU time from /proc). */
  pid: number;
  /** Generate a key pair (ed25519 unless told) in dir; its public key is authorised for the user. Returns the private key path. */
  /** What sshd printed so far (for failure messages). */
  log(): string;
  /** Kill this sshd's per-connection processes (by pid): every open session drops, the listener stays. */
  dropConnections(): void;
  addKey(name: string, opts?: { type?: 'ed25519' | 'rsa' | 'ecdsa'; passphrase?: string; pem?: boolean }): string;
  stop(): Promise<void>;
}

/** Create the test user once (idempotent) and (re)set its password. */
export function ensureSftpUser(): string {
  try {
    execFileSync('id', ['-u', SFTP_USER], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('useradd', ['-m', '-s', '/bin/sh', SFTP_USER], { stdio: 'pipe' });
    } catch (err) {
      // Created meanwhile by a parallel run.
      execFileSync('id', ['-u', SFTP_USER], { stdio: 'ignore' });
      void err;
    }
  }
  execFileSync('chpasswd', { input: `${SFTP_USER}:${SFTP_PASSWORD}\n` });
  const home = execFileSync('getent', ['passwd', SFTP_USER]).toString().split(':')[5]!;
  if (!existsSync(home)) {
    mkdirSync(home, { recursive: true });
    execFileSync('chown', [`${SFTP_USER}:`, home]);
  }
  return home;
}

/** `SHA256:...` fingerprint of an OpenSSH public key line or key blob. */
export function fingerprintOf(pubLine: string): string {
  const blob = Buffer.from(pubLine.trim().split(/\s+/)[1]!, 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Pids of every descendant of `root` (from /proc). */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(e), ppid);
    } catch {
      /* exited */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [pid, pp] of parent)
      if (pp === p) {
        out.push(pid);
        walk(pid);
      }
  };
  walk(root);
  return out;
}

export async function startSshd(): Promise<SshdServer> {
  const home = ensureSftpUser();
  mkdirSync('/run/sshd', { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'offsite-sshd-'));
  // sshd reads AuthorizedKeysFile as the user (StrictModes off: /tmp is world-writable).
  chmodSync(dir, 0o755);
  const hostKey = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const hostPub = readFileSync(`${hostKey}.pub`, 'utf8').trim();
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, '');
  chmodSync(authorized, 0o644);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const cfg = join(dir, 'sshd_config');
    writeFileSync(
      cfg,
      `Port ${port}
ListenAddress 127.0.0.1
HostKey ${hostKey}
PidFile ${dir}/sshd.pid
AuthorizedKeysFile ${authorized}
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers ${SFTP_USER}
UsePAM no
StrictModes no
LogLevel ERROR
MaxStartups 50
MaxAuthTries 6
Subsystem sftp internal-sftp
`,
    );
    execFileSync('/usr/sbin/sshd', ['-t', '-f', cfg]);
    const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    killOnExit(child);
    try {
      await waitForPort(port, 10_000, child, () => stderr);
    } catch (err) {
      await stopChild(child);
      if (attempt < 3 && /Address already in use/.test(stderr)) continue;
      throw err;
    }
    return {
      host: '127.0.0.1',
      port,
      user: SFTP_USER,
      password: SFTP_PASSWORD,
      home,
      fingerprint: fingerprintOf(hostPub),
      knownHostsLine: `[127.0.0.1]:${port} ${hostPub.split(/\s+/).slice(0, 2).join(' ')}`,
      dir,
      pid: child.pid!,
      log: () => stderr,
      dropConnections() {
        for (const pid of descendants(child.pid!)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      },
      addKey(name, opts = {}) {
        const path = join(dir, name);
        const args = ['-q', '-t', opts.type ?? 'ed25519', '-N', opts.passphrase ?? '', '-f', path];
        if (opts.pem) args.push('-m', 'PEM');
        if ((opts.type ?? 'ed25519') === 'rsa') args.push('-b', '2048');
        execFileSync('ssh-keygen', args);
        writeFileSync(authorized, readFileSync(authorized, 'utf8') + readFileSync(`${path}.pub`, 'utf8'));
        return path;
      },
      async stop() {
        await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
