/**
 * SSH/SFTP destination (`ssh2-sftp-client` over `ssh2`).
 *
 * - Host keys are verified against SSH_KNOWN_HOSTS and/or SSH_HOST_KEY_FINGERPRINT; with
 *   neither set the connection proceeds and a warning shows the fingerprint to pin.
 * - Upload streams (1 MiB writes) to a temporary name in the target directory, then renames
 *   it to the final name (posix-rename@openssh.com where offered), refusing to replace an
 *   existing file. The temporary file is removed when anything fails.
 * - One connection per destination, opened on first use, reopened after it drops.
 */
import { createHash, createHmac, createSecretKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
// first: ssh2 must not load its native binding (see the file)
import './ssh2-no-binding.ts';
import SftpClient from 'ssh2-sftp-client';
import ssh2, { type SFTPWrapper, type Client as SshClient } from 'ssh2';
import type { Logger } from '../log.ts';
import { UserError, errorMessage } from '../errors.ts';
import type { SftpConfig } from './sftp.def.ts';
import type { BackupObject, Destination, UploadOptions } from './types.ts';
import { assertPlainName } from './names.ts';
import { tempName, isTempName, forEachLimit, abortError } from './remote-util.ts';
import { isStaleLeftover, type LeftoverPolicy, type LeftoverReport } from './leftovers.ts';
import { guarded, guardStream, metered, isTimeout, type Guard } from './deadline.ts';
import { describeFailure, formatBytes } from './describe.ts';
import { DestinationError, DestinationUserError, NotFoundError } from './errors.ts';

const REMOVE_CONCURRENCY = 16;
/**
 * Bytes of SFTP write requests in flight per upload. ssh2's write stream (ssh2-sftp-client's
 * put) sends one request at a time and waits for its answer, so an upload ran at one request
 * per round trip, and any other work on the event loop (other destinations' uploads) stretched
 * every round trip. Several requests in flight hide it, as OpenSSH's own sftp client does
 * (64 requests of 32 KiB); memory: this many bytes per upload.
 */
const WRITE_WINDOW = 2 << 20;
const READ_HWM = 256 << 10;
/** SSH_FX_NO_SUCH_FILE */
const NO_SUCH_FILE = 2;

type RawSftp = SFTPWrapper & {
  /** Extensions the server announced (ssh2 internal). */
  _extensions?: Record<string, string>;
};
/** What ssh2-sftp-client 12 exposes at run time (its @types lag behind). */
type Conn = SftpClient & { sftp?: RawSftp; client: SshClient };

// ---------------------------------------------------------------------------
// Host keys

export interface HostKeyInfo {
  /** Key type, e.g. `ssh-ed25519`. */
  type: string;
  /** `SHA256:` + unpadded base64 of the SHA-256 of the key blob, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** base64 key blob as in known_hosts. */
  base64: string;
}

export function describeHostKey(blob: Buffer): HostKeyInfo {
  let type = 'unknown';
  if (blob.length >= 4) {
    const len = blob.readUInt32BE(0);
    if (len > 0 && 4 + len <= blob.length) type = blob.subarray(4, 4 + len).toString('latin1');
  }
  return {
    type,
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
    base64: blob.toString('base64'),
  };
}

export interface KnownHostEntry {
  marker: '' | '@revoked' | '@cert-authority';
  hosts: string;
  type: string;
  base64: string;
}

/** Parse an OpenSSH known_hosts file (plain, wildcard, negated and hashed `|1|` host fields). */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    let marker: KnownHostEntry['marker'] = '';
    if (f[0] === '@revoked' || f[0] === '@cert-authority') marker = f.shift() as KnownHostEntry['marker'];
    if (f.length < 3) continue;
    out.push({ marker, hosts: f[0]!, type: f[1]!, base64: f[2]! });
  }
  return out;
}

function globToRegExp(glob: string): RegExp {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i');
}

/** Does a known_hosts host field match host:port (OpenSSH writes `[host]:port` for ports other than 22)? */
export function knownHostMatches(hosts: string, host: string, port: number): boolean {
  const target = port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(target).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const pattern of hosts.split(',')) {
    const negated = pattern.startsWith('!');
    const p = negated ? pattern.slice(1) : pattern;
    if (globToRegExp(p).test(target)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Host key algorithms to offer for the key types a known_hosts file holds (so the server presents a key we can check). */
function algorithmsFor(types: Set<string>): string[] {
  const algos: string[] = [];
  for (const t of types) {
    if (t === 'ssh-rsa') algos.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else if (t === 'ssh-ed25519' || t.startsWith('ecdsa-sha2-') || t === 'ssh-dss') algos.push(t);
  }
  return algos;
}

// ---------------------------------------------------------------------------

interface SshError extends Error {
  code?: string | number;
}

export interface SftpDestinationOptions {
  /** How long connecting and the SSH handshake may take (default: timeoutMs). */
  readyTimeoutMs?: number;
  /** Deadline of each operation, and of an upload/download making no progress (BACKUP_DESTINATION_TIMEOUT, default 10 min). */
  timeoutMs?: number;
}

/** SSH_FX_FAILURE: OpenSSH's answer to a write on a full disk or over quota (it has no better code for ENOSPC). */
const FX_FAILURE = 4;

export function createSftpDestination(cfg: SftpConfig, log: Logger, opts: SftpDestinationOptions = {}): Destination {
  const dir = cfg.remotePath.replace(/\/+$/, '') || '/';
  const target = `${cfg.host}:${cfg.port}`;
  const location = `sftp://${cfg.user}@${cfg.host}${cfg.port === 22 ? '' : `:${cfg.port}`}/${dir.replace(/^\/+/, '')}`;
  const remote = (name: string) => posix.join(dir, name);

  let connecting: Promise<Conn> | null = null;
  const timeoutMs = opts.timeoutMs ?? opts.readyTimeoutMs ?? 600_000;
  const readyTimeoutMs = opts.readyTimeoutMs ?? timeoutMs;
  /**
   * Drop a stalled connection: its socket is destroyed (ssh2 would wait for its keepalive),
   * so every operation on it fails at once and the next one reconnects.
   */
  const dead = new WeakSet<Conn>();
  function kill(c: Conn | null): void {
    if (!c) return;
    dead.add(c);
    dirReady = null;
    try {
      c.client.destroy();
    } catch {
      /* gone */
    }
  }
  /** One operation with the deadline: a timeout kills the connection; the caller's abort only stops waiting. */
  function op<T>(what: string, c: Conn | null, fn: (g: Guard) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return guarded({ timeoutMs, what: `SFTP ${what} on ${target}`, signal }, (g) => {
      g.onAbort(() => {
        if (g.timedOut) kill(c);
      });
      return fn(g);
    });
  }
  let dirReady: Promise<void> | null = null;
  let warnedUnverified = false;
  /** Download streams still holding a remote file handle: close() lets them finish closing it. */
  const openReads = new Set<Readable>();
  /** Temporary files a failed upload could not delete (connection lost): retried on the next upload. */
  const orphans = new Set<string>();
  /** Connections still in their connect/handshake: a stop or close() destroys them (no waiting for readyTimeout). */
  const handshaking = new Set<SshClient>();

  function credentials(): { password?: string; privateKey?: Buffer; passphrase?: string } {
    const creds: { password?: string; privateKey?: Buffer; passphrase?: string } = {};
    if (cfg.password) creds.password = cfg.password;
    if (existsSync(cfg.identityFile)) {
      let key: Buffer;
      try {
        key = readFileSync(cfg.identityFile);
      } catch (err) {
        throw new UserError(`SFTP: cannot read SSH_IDENTITY_FILE ${cfg.identityFile}: ${errorMessage(err)}`, 'make the key file readable by offsite');
      }
      const parsed = ssh2.utils.parseKey(key, cfg.identityPassphrase || undefined);
      if (parsed instanceof Error) {
        const m = parsed.message;
        if (/no passphrase given/i.test(m)) {
          throw new DestinationUserError(`SFTP: the private key ${cfg.identityFile} is protected by a passphrase`, 'set SSH_IDENTITY_PASSPHRASE', {
            transient: false,
          });
        }
        if (/bad passphrase|integrity check failed|decrypt/i.test(m)) {
          throw new DestinationUserError(
            `SFTP: SSH_IDENTITY_PASSPHRASE does not decrypt the private key ${cfg.identityFile} (${m})`,
            'check SSH_IDENTITY_PASSPHRASE',
            { transient: false },
          );
        }
        throw new DestinationUserError(
          `SFTP: SSH_IDENTITY_FILE ${cfg.identityFile} is not a usable private key: ${m}`,
          'use a private key in OpenSSH or PEM format (ed25519, ecdsa or rsa)',
          { transient: false },
        );
      }
      creds.privateKey = key;
      if (cfg.identityPassphrase) creds.passphrase = cfg.identityPassphrase;
    } else if (cfg.identityFileExplicit) {
      throw new DestinationUserError(
        `SFTP: SSH_IDENTITY_FILE ${cfg.identityFile} does not exist`,
        'mount the private key file there, or unset SSH_IDENTITY_FILE to log in with SSH_PASSWORD',
        { transient: false },
      );
    }
    if (!creds.password && !creds.privateKey) {
      throw new DestinationUserError(
        `SFTP: no credentials for ${cfg.user}@${target}`,
        `set SSH_PASSWORD, or provide a private key at SSH_IDENTITY_FILE (${cfg.identityFile})`,
        { transient: false },
      );
    }
    return creds;
  }

  /** Builds the host key check; `seen` records what the server presented, `refusal` why it was refused. */
  function hostCheck() {
    const state: { seen?: HostKeyInfo; refusal?: string } = {};
    let known: KnownHostEntry[] | null = null;
    if (cfg.knownHosts) {
      let text: string;
      try {
        text = readFileSync(cfg.knownHosts, 'utf8');
      } catch (err) {
        throw new DestinationUserError(
          `SFTP: cannot read SSH_KNOWN_HOSTS ${cfg.knownHosts}: ${errorMessage(err)}`,
          'mount the known_hosts file there, or unset SSH_KNOWN_HOSTS',
          { transient: false },
        );
      }
      known = parseKnownHosts(text).filter((e) => e.marker !== '@cert-authority' && knownHostMatches(e.hosts, cfg.host, cfg.port));
      if (!known.some((e) => e.marker === '')) {
        const name = cfg.port === 22 ? cfg.host : `[${cfg.host}]:${cfg.port}`;
        throw new DestinationUserError(
          `SFTP: SSH_KNOWN_HOSTS ${cfg.knownHosts} has no key for ${name}`,
          `add one: ssh-keyscan ${cfg.port === 22 ? '' : `-p ${cfg.port} `}${cfg.host} >> ${cfg.knownHosts} (and compare it with the server's real key)`,
          { transient: false },
        );
      }
    }
    const verify = (key: Buffer): boolean => {
      const info = describeHostKey(key);
      state.seen = info;
      if (known) {
        if (known.some((e) => e.marker === '@revoked' && e.base64 === info.base64)) {
          state.refusal = `its ${info.type} host key ${info.fingerprint} is marked @revoked in SSH_KNOWN_HOSTS`;
          return false;
        }
        if (!known.some((e) => e.marker === '' && e.base64 === info.base64)) {
          state.refusal = `its ${info.type} host key ${info.fingerprint} is not in SSH_KNOWN_HOSTS ${cfg.knownHosts}`;
          return false;
        }
      }
      if (cfg.hostKeyFingerprints.length > 0 && !cfg.hostKeyFingerprints.includes(info.fingerprint)) {
        state.refusal = `its ${info.type} host key ${info.fingerprint} does not match SSH_HOST_KEY_FINGERPRINT`;
        return false;
      }
      if (!known && cfg.hostKeyFingerprints.length === 0 && !warnedUnverified) {
        warnedUnverified = true;
        log.warn(
          { destination: 'SSH', host: target, hostKeyType: info.type, fingerprint: info.fingerprint },
          `SFTP host key of ${target} is not verified: set SSH_HOST_KEY_FINGERPRINT=${info.fingerprint} (or SSH_KNOWN_HOSTS) to pin it`,
        );
      }
      return true;
    };
    const algorithms = known ? algorithmsFor(new Set(known.filter((e) => e.marker === '').map((e) => e.type))) : [];
    return { state, verify, algorithms };
  }

  function connectError(err: unknown, state: { seen?: HostKeyInfo; refusal?: string }): Error {
    const e = err as SshError;
    const m = errorMessage(err);
    if (state.refusal || /Host denied/i.test(m)) {
      return new DestinationUserError(
        `SFTP: refused to connect to ${target}: ${state.refusal ?? 'host key verification failed'}`,
        "if the server's key changed on purpose, update SSH_HOST_KEY_FINGERPRINT / SSH_KNOWN_HOSTS (ssh-keyscan HOST | ssh-keygen -lf - shows the fingerprints); otherwise someone may be intercepting the connection",
        { cause: err, code: 'HOST_KEY_MISMATCH', transient: false },
      );
    }
    if (/authentication methods failed/i.test(m)) {
      const tried = [cfg.password ? 'password' : '', existsSync(cfg.identityFile) ? `key ${cfg.identityFile}` : ''].filter(Boolean).join(' and ');
      return new DestinationUserError(
        `SFTP: ${target} refused login for user "${cfg.user}" (tried ${tried})`,
        "check SSH_USER, SSH_PASSWORD and SSH_IDENTITY_FILE, and that the public key is in the user's authorized_keys",
        { cause: err, code: 'AUTH_FAILED', transient: false },
      );
    }
    const code = typeof e?.code === 'string' ? e.code : undefined;
    const detail = code ? describeFailure(err) : m.replace(/^getConnection: /, '');
    return new DestinationError(`SFTP: cannot connect to ${target}: ${detail}`, { cause: err, code: code ?? 'ECONNECT' });
  }

  /** `forget` drops this connection from `connecting` (called when it ends). */
  async function open(forget: () => void): Promise<Conn> {
    const creds = credentials();
    const { state, verify, algorithms } = hostCheck();
    const client = new SftpClient('offsite', {
      error: (err: unknown) => {
        log.debug({ destination: 'SSH', err: errorMessage(err) }, 'SFTP connection error');
        forget();
      },
      end: forget,
      close: forget,
    }) as Conn;
    client.client.setMaxListeners(0);
    keyObjectsAfterKeyExchange(client.client);
    handshaking.add(client.client);
    try {
      await op('connect', null, (g) => {
        g.onAbort(() => {
          try {
            client.client.destroy();
          } catch {
            /* gone */
          }
        });
        return client.connect({
          host: cfg.host,
          port: cfg.port,
          username: cfg.user,
          ...creds,
          tryKeyboard: false,
          readyTimeout: readyTimeoutMs,
          keepaliveInterval: 15_000,
          keepaliveCountMax: 4,
          hostVerifier: (key: Buffer) => verify(key),
          ...(algorithms.length ? { algorithms: { serverHostKey: algorithms as never } } : {}),
        });
      });
    } catch (err) {
      handshaking.delete(client.client);
      try {
        client.client.destroy();
      } catch {
        /* gone */
      }
      if (isTimeout(err)) throw err;
      throw connectError(err, state);
    }
    handshaking.delete(client.client);
    // Nagle's algorithm + delayed ACKs stall each SFTP request/response round trip by ~40 ms.
    client.client.setNoDelay(true);
    return client;
  }

  async function conn(): Promise<Conn> {
    if (!connecting) {
      // A connection that ends is forgotten so the next operation reconnects; a late event
      // of an old connection must not make us forget the current one.
      const p: Promise<Conn> = open(() => {
        if (connecting === p) connecting = null;
      });
      connecting = p;
    }
    try {
      const c = await connecting;
      if (!c.sftp || dead.has(c)) {
        // dropped meanwhile
        connecting = null;
        return conn();
      }
      return c;
    } catch (err) {
      connecting = null;
      throw err;
    }
  }

  function raw(c: Conn): RawSftp {
    return c.sftp as RawSftp;
  }

  function fail(op: string, path: string, err: unknown, c?: Conn, bytesSent?: number): Error {
    if (err instanceof UserError || (err as Error)?.name === 'AbortError' || isTimeout(err)) return err as Error;
    const e = err as SshError;
    const m = errorMessage(err).replace(/^\w+: /, '');
    const socketGone =
      typeof e?.code === 'string' && ['EPIPE', 'ECONNRESET', 'ECONNABORTED', 'ERR_STREAM_WRITE_AFTER_END', 'ERR_STREAM_DESTROYED'].includes(e.code);
    if ((c && !c.sftp) || socketGone) {
      // the connection went away under the operation: worth another try
      const after = bytesSent ? ` after ${formatBytes(bytesSent)} sent` : '';
      return new DestinationError(`SFTP ${op} ${path} on ${target} failed: connection lost${after} (${m})`, {
        cause: err,
        code: 'ECONNRESET',
        transient: true,
      });
    }
    if (e?.code === 3) {
      // SSH_FX_PERMISSION_DENIED
      return new DestinationUserError(
        `SFTP ${op} ${path} on ${target}: permission denied`,
        `check that user "${cfg.user}" may write to SSH_REMOTE_PATH ${cfg.remotePath}`,
        { cause: err, code: 'EACCES', transient: false },
      );
    }
    if (e?.code === FX_FAILURE) {
      return new DestinationUserError(
        `SFTP ${op} ${path} on ${target} failed: the server refused the write (SSH_FX_FAILURE${m && m !== 'Failure' ? `: ${m}` : ''}); usually its disk is full or the user's quota is used up`,
        'free space on the SFTP server or lower BACKUP_RETENTION_DAYS',
        { cause: err, code: 'ENOSPC', transient: false },
      );
    }
    return new DestinationError(`SFTP ${op} ${path} on ${target} failed: ${typeof e?.code === 'string' ? describeFailure(err, { bytesSent }) : m}`, {
      cause: err,
      code: e?.code,
    });
  }

  const call = <T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

  async function statOrNull(c: Conn, path: string) {
    try {
      return await op(`stat ${path}`, c, () => call<{ size: number; mtime: number; isFile(): boolean }>((cb) => raw(c).stat(path, cb as never)));
    } catch (err) {
      if ((err as SshError).code === NO_SUCH_FILE) return null;
      throw fail('stat', path, err, c);
    }
  }

  async function ensureDir(c: Conn): Promise<void> {
    if (dir === '.' || dir === '/') return;
    dirReady ??= (async () => {
      try {
        await op(`mkdir ${dir}`, c, () => c.mkdir(dir, true));
      } catch (err) {
        if (isTimeout(err)) throw err;
        // created meanwhile by a concurrent run: fine if it is a directory now
        if ((await op(`stat ${dir}`, c, () => c.exists(dir)).catch(() => false)) === 'd') return;
        throw fail('mkdir', dir, err, c);
      }
    })();
    try {
      await dirReady;
    } catch (err) {
      dirReady = null;
      throw err;
    }
  }

  async function removeQuietly(c: Conn, path: string): Promise<void> {
    try {
      await op(`delete ${path}`, c, () => call((cb) => raw(c).unlink(path, cb)));
    } catch (err) {
      if ((err as SshError).code === NO_SUCH_FILE) return;
      if (!c.sftp || isTimeout(err)) orphans.add(path);
      log.warn(
        { destination: 'SSH', path, err: errorMessage(err) },
        c.sftp ? 'could not delete a temporary upload; delete it by hand' : 'could not delete a temporary upload; will try again on the next upload',
      );
    }
  }

  /**
   * Remove a failed upload's temporary file: on its connection if that still works, else
   * on a new one (a stalled connection was killed); both bounded by the deadline. What
   * cannot be removed now is remembered and removed by the next upload.
   */
  /**
   * `replace` on a server without posix-rename (plain SFTP rename refuses an existing
   * target): the old file steps aside as `<name>.offsite-previous`, the complete new one takes
   * the name, then the old one is removed. When the new one cannot take the name, the old
   * one is moved back, so a failure leaves it as it was.
   */
  async function replaceWithoutPosixRename(c: Conn, tmp: string, final: string): Promise<void> {
    // not a temporary name: should the process die between the renames, leftover cleanup
    // never deletes it, and `offsite list` shows it
    const aside = `${final}.offsite-previous`;
    try {
      await op(`rename ${final}`, c, () => call((cb) => raw(c).rename(final, aside, cb)));
    } catch (err) {
      throw fail('rename', final, err, c);
    }
    try {
      await op(`rename ${tmp}`, c, () => call((cb) => raw(c).rename(tmp, final, cb)));
    } catch (err) {
      await op(`rename ${aside}`, c, () => call((cb) => raw(c).rename(aside, final, cb))).catch((back) => {
        log.error(
          { destination: 'SSH', path: final, kept: aside },
          `could not move the previous backup back after a failed replacement: ${errorMessage(back)}; it is kept as ${aside}`,
        );
      });
      throw fail('rename', tmp, err, c);
    }
    await removeQuietly(c, aside);
  }

  async function cleanup(c: Conn, tmp: string): Promise<void> {
    let on: Conn | null = c.sftp && !dead.has(c) ? c : null;
    if (!on) {
      try {
        on = await conn();
      } catch {
        orphans.add(tmp);
        return;
      }
    }
    await removeQuietly(on, tmp);
    // the lost connection's server process may still create or write the file after this
    // removal (its requests were in flight): the next upload removes it again
    if (on !== c) orphans.add(tmp);
  }

  return {
    name: 'SSH',
    location,

    async upload(name: string, source: Readable, options: UploadOptions = {}): Promise<void> {
      assertPlainName(name, 'SSH');
      const { signal } = options;
      if (signal?.aborted) throw abortError(signal);
      const c = await untilAborted(conn(), signal);
      await ensureDir(c);
      for (const o of [...orphans]) {
        orphans.delete(o);
        await removeQuietly(c, o);
      }
      const tmp = remote(tempName(name));
      const final = remote(name);
      let done = false;
      let sent = 0;
      try {
        // Bytes taken by the SFTP write stream are progress; nothing for the timeout kills the connection.
        await op(
          `write ${tmp}`,
          c,
          async (g) => {
            const body = metered(source, () => g.progress());
            g.onAbort(() => body.stream.destroy());
            try {
              const sftp = raw(c);
              let handle: Buffer;
              try {
                handle = await call<Buffer>((cb) => sftp.open(tmp, 'w', cb as never));
              } catch (err) {
                // nothing reads the body: end it quietly (its source failing later must not be an unhandled error)
                body.stream.destroy();
                throw err;
              }
              let closed = false;
              try {
                await pipeline(body.stream, pipelinedWrites(sftp, handle, WRITE_WINDOW, options.written));
                closed = true;
                await call((cb) => sftp.close(handle, cb));
              } finally {
                if (!closed) {
                  try {
                    sftp.close(handle, () => {});
                  } catch {
                    // the connection is gone: the server closes the handle with it
                  }
                }
              }
            } finally {
              sent = body.bytes();
            }
            if (!body.stream.readableEnded && !g.signal.aborted) {
              // ssh2 ends the write stream on a refused write without always reporting the error
              if (!c.sftp || dead.has(c)) throw new DestinationError(`the connection closed after ${sent} bytes were sent`, { code: 'ECONNRESET' });
              throw new DestinationUserError(
                `SFTP write ${tmp} on ${target} failed: the server stopped taking data after ${sent} bytes (a write was refused: usually a full disk or quota)`,
                'free space on the SFTP server or lower BACKUP_RETENTION_DAYS',
                { code: 'ENOSPC', transient: false },
              );
            }
          },
          signal,
        ).catch((err) => {
          if (signal?.aborted) throw abortError(signal);
          throw fail('write', tmp, err, c, sent);
        });
        if (signal?.aborted) throw abortError(signal);
        // Nothing incomplete may carry the backup's name: the server must hold every byte sent
        // (ssh2 may report a failed write, e.g. a full disk, only by closing the stream).
        const st = await statOrNull(c, tmp);
        if (!st || st.size !== sent) {
          throw new DestinationUserError(
            `SFTP write ${tmp} on ${target} failed: the server holds ${st ? st.size : 'no'} bytes of the ${sent} sent (a write was refused: usually a full disk or quota)`,
            'free space on the SFTP server or lower BACKUP_RETENTION_DAYS',
            { code: 'ESHORTWRITE', transient: false },
          );
        }
        const posixRename = Boolean(raw(c)._extensions?.['posix-rename@openssh.com']);
        if (options.replace && !posixRename && (await statOrNull(c, final))) {
          await replaceWithoutPosixRename(c, tmp, final);
          done = true;
          return;
        }
        // posix-rename replaces an existing file atomically: the check before it is the guard without `replace`
        if (!options.replace && (await statOrNull(c, final))) throw conflict(name);
        try {
          await op(`rename ${tmp}`, c, () =>
            posixRename ? call((cb) => raw(c).ext_openssh_rename(tmp, final, cb)) : call((cb) => raw(c).rename(tmp, final, cb)),
          );
        } catch (err) {
          throw fail('rename', tmp, err, c);
        }
        done = true;
      } finally {
        if (!done) source.destroy(); // stop whatever produces the archive
        if (!done) await cleanup(c, tmp);
      }
    },

    /** Stale temporary files of interrupted uploads in SSH_REMOTE_PATH (see leftovers.ts). */
    async cleanupLeftovers(policy: LeftoverPolicy, signal?: AbortSignal): Promise<LeftoverReport> {
      const c = await untilAborted(conn(), signal);
      let entries: Awaited<ReturnType<SftpClient['list']>>;
      try {
        entries = await op(`list ${dir}`, c, () => c.list(dir), signal);
      } catch (err) {
        if ((err as SshError).code === NO_SUCH_FILE) return { removed: [] };
        throw fail('list', dir, err, c);
      }
      const removed: string[] = [];
      for (const e of entries) {
        if (signal?.aborted) break;
        if (e.type !== '-' || !isStaleLeftover(e.name, new Date(e.modifyTime), policy)) continue;
        try {
          await op(`delete ${remote(e.name)}`, c, () => call((cb) => raw(c).unlink(remote(e.name), cb)), signal);
          removed.push(e.name);
        } catch (err) {
          if ((err as SshError).code !== NO_SUCH_FILE) throw fail('delete', remote(e.name), err, c);
        }
      }
      return { removed };
    },

    async list(prefix: string): Promise<BackupObject[]> {
      const c = await conn();
      let entries: Awaited<ReturnType<SftpClient['list']>>;
      try {
        entries = await op(`list ${dir}`, c, () => c.list(dir));
      } catch (err) {
        if ((err as SshError).code === NO_SUCH_FILE) return [];
        throw fail('list', dir, err, c);
      }
      return entries
        .filter((e) => e.type === '-' && e.name.startsWith(prefix) && !isTempName(e.name))
        .map((e) => ({ name: e.name, size: e.size, modified: new Date(e.modifyTime) }));
    },

    async remove(names: string[]): Promise<void> {
      for (const n of names) assertPlainName(n, 'SSH');
      if (names.length === 0) return;
      const c = await conn();
      await forEachLimit(names, REMOVE_CONCURRENCY, async (name) => {
        try {
          await op(`delete ${remote(name)}`, c, () => call((cb) => raw(c).unlink(remote(name), cb)));
        } catch (err) {
          if ((err as SshError).code === NO_SUCH_FILE) return;
          throw fail('delete', remote(name), err, c);
        }
      });
    },

    async download(name: string): Promise<Readable> {
      assertPlainName(name, 'SSH');
      const c = await conn();
      const path = remote(name);
      const st = await statOrNull(c, path);
      if (!st) throw new NotFoundError(`SFTP: ${location.replace(/\/?$/, '/')}${name} does not exist`);
      const stream = raw(c).createReadStream(path, { highWaterMark: READ_HWM }) as unknown as Readable;
      openReads.add(stream);
      stream.once('close', () => openReads.delete(stream));
      return guardStream(stream, { timeoutMs, what: `SFTP read ${path} on ${target}`, onAbort: () => kill(c) });
    },

    async close(): Promise<void> {
      // A fully read download still closes its remote handle: wait for that (briefly),
      // else ending the connection fails the pending close with "No response from server".
      await Promise.all(
        [...openReads].map(
          (s) =>
            new Promise<void>((resolve) => {
              const t = setTimeout(() => {
                s.destroy();
                resolve();
              }, 2000);
              s.once('close', () => {
                clearTimeout(t);
                resolve();
              });
              if (!s.readableEnded) s.destroy();
            }),
        ),
      );
      abandonHandshakes();
      const p = connecting;
      connecting = null;
      dirReady = null;
      if (!p) return;
      const c = await guarded({ timeoutMs, what: 'SFTP connect' }, () => p).catch(() => null);
      // a stalled server never answers the goodbye: bounded, then the socket is destroyed
      if (c) await op('disconnect', c, () => c.end()).catch(() => kill(c));
    },
  };

  /** Give up on connections still connecting (a server that accepts and never speaks SSH). */
  function abandonHandshakes(): void {
    for (const h of handshaking) {
      try {
        h.destroy();
      } catch {
        /* already gone */
      }
    }
    handshaking.clear();
  }

  /** `p`, or an AbortError as soon as `signal` aborts: a connect in progress is abandoned, not waited for. */
  function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    if (!signal) return p;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        abandonHandshakes();
        reject(abortError(signal));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  function conflict(name: string): Error {
    return new DestinationUserError(
      `SFTP: ${location.replace(/\/?$/, '/')}${name} already exists; refusing to overwrite it`,
      'another run produced the same file name: make BACKUP_FILENAME unique per run (it should contain a timestamp)',
      { code: 'EEXIST', transient: false },
    );
  }
}

/** The fields of ssh2's JavaScript ciphers and deciphers (lib/protocol/crypto.js) that hold a key, used only as the key argument of createCipheriv/createDecipheriv/createHmac. */
const SSH2_KEY_FIELDS = ['_encKey', '_decipherKey', '_macKey', '_encKeyMain', '_encKeyPktLen', '_decKeyMain', '_decKeyPktLen'] as const;

/**
 * ssh2's JavaScript path (the bundle leaves its native binding out) makes a cipher object per
 * packet for AES-GCM, each way (an HMAC object per packet for the other ciphers), from a key
 * kept as a Buffer: Node turns that Buffer into a key object every time (getKeyObjectSlots,
 * prepareSecretKey: ~10 % of an SFTP upload's main-thread CPU, bench/notes.md s8-dest). After
 * each key exchange (ssh2's 'handshake' event, when the new cipher and decipher are in place)
 * their keys become KeyObjects made once, which createCipheriv, createDecipheriv and
 * createHmac take as they are. A field that is not a Buffer (ssh2 changed) is left alone: the
 * connection works as before, only without the saving.
 */
export function keyObjectsAfterKeyExchange(client: SshClient): void {
  client.on('handshake', () => {
    const proto = (client as unknown as { _protocol?: { _cipher?: unknown; _decipher?: unknown } })._protocol;
    for (const c of [proto?._cipher, proto?._decipher]) {
      if (!c || typeof c !== 'object') continue;
      const fields = c as Record<string, unknown>;
      for (const f of SSH2_KEY_FIELDS) {
        const key = fields[f];
        if (Buffer.isBuffer(key) && key.length > 0) fields[f] = createSecretKey(key);
      }
    }
  });
}

/** The most bytes one SFTP write request may carry on this session (ssh2 keeps what the server announced in limits@openssh.com). */
function writeLimit(sftp: SFTPWrapper): number | null {
  const n = (sftp as SFTPWrapper & { _maxWriteLen?: unknown })._maxWriteLen;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : null;
}

/** Largest piece per write request (OpenSSH takes 261,120 bytes; a whole 256 KiB chunk would be sent as 255 KiB and, one round trip later, 1 KiB). */
const MAX_PIECE = 256 << 10;

/**
 * A write stream to an open SFTP file handle that keeps up to `window` bytes of write
 * requests in flight (at least one), each at its own offset. A chunk is taken as soon as it
 * fits in the window; the stream finishes only once every request was answered, and fails
 * with the first request that failed (then nothing more is sent).
 *
 * Each request carries at most what the server takes in one (its limits@openssh.com), so
 * ssh2 never splits one into a request sent only after the first one's answer, and every
 * request but the last carries exactly that much, across the stream's chunks: a 256 KiB chunk
 * cut into 255 KiB and 1 KiB made twice the requests (and answers, each decrypted by a cipher
 * object of its own in ssh2's JavaScript path) and a 1 KiB channel packet per chunk. ssh2 copies a
 * request's bytes into its packet at once, but keeps the buffer it was given until the
 * answer: the bytes go through one reused buffer, so the stream's chunks are freed by the
 * next minor GC instead of living through a window's round trip (V8 then promotes them to its
 * old generation, where they wait for a major GC: 512 MiB to SFTP alone peaked at 112-119 MiB
 * with the chunks kept, 103-107 MiB without). Once a chunk is copied, `written` (the upload's
 * UploadOptions.written) is told the stream's bytes so far: its source may reuse that chunk's
 * buffer. Not when the server announced no write limit (ssh2 then keeps the chunk itself until
 * the answer).
 */
export function pipelinedWrites(sftp: SFTPWrapper, handle: Buffer, window: number, written?: (bytes: number) => void): Writable {
  let position = 0;
  let inFlight = 0;
  let failure: Error | null = null;
  const limit = writeLimit(sftp);
  const piece = limit === null ? null : Math.min(limit, MAX_PIECE);
  const scratch = piece === null ? null : Buffer.allocUnsafeSlow(piece);
  /** The write or final waiting for room in the window (or for every answer). */
  let waiting: (() => void) | null = null;
  /** Bytes in `scratch` not sent yet. */
  let fill = 0;
  const answered = () => {
    const w = waiting;
    waiting = null;
    w?.();
  };
  const send = (data: Buffer, off: number, len: number) => {
    const at = position;
    position += len;
    inFlight += len;
    sftp.write(handle, data, off, len, at, (err) => {
      inFlight -= len;
      if (err && !failure) failure = err;
      answered();
    });
  };
  return new Writable({
    highWaterMark: 256 << 10,
    write(chunk: Buffer, _enc, cb) {
      if (failure) return cb(failure);
      if (piece === null || scratch === null) send(chunk, 0, chunk.length);
      else {
        // requests of `piece` bytes across the chunks' boundaries (the rest waits for the next chunk or the end)
        for (let off = 0; off < chunk.length;) {
          const n = Math.min(piece - fill, chunk.length - off);
          chunk.copy(scratch, fill, off, off + n);
          fill += n;
          off += n;
          if (fill === piece) {
            send(scratch, 0, fill);
            fill = 0;
          }
        }
        // every byte of the chunk is in ssh2's packets or in `scratch` now: nothing here holds it any more
        written?.(position + fill);
      }
      const next = () => {
        if (failure) return cb(failure);
        if (inFlight >= window) {
          waiting = next;
          return;
        }
        cb();
      };
      next();
    },
    final(cb) {
      if (fill > 0 && !failure) {
        send(scratch!, 0, fill);
        fill = 0;
      }
      const done = () => {
        if (failure) return cb(failure);
        if (inFlight > 0) {
          waiting = done;
          return;
        }
        cb();
      };
      done();
    },
  });
}
