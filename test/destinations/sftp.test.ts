import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { KeyObject, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import pino from 'pino';
import { createSftpDestination, keyObjectsAfterKeyExchange, knownHostMatches, parseKnownHosts, pipelinedWrites } from '../../src/destinations/sftp.ts';
import { parseSftp, type SftpConfig } from '../../src/destinations/sftp.def.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { UserError } from '../../src/errors.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { startSshd, type SshdServer } from '../servers/sshd.ts';
import { freePort } from '../servers/util.ts';
import { filesUnder, failingSource, endlessSource, patterned, scribbledOnRelease, streamOf } from './more-helpers.ts';
import { runDestinationContract, viaFaultProxy } from './contract.ts';

type Classified = Error & { code?: string | number; transient?: boolean; hint?: string };

function capture(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  return {
    log: pino({ level: 'debug' }, stream),
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

runDestinationContract('SSH (OpenSSH sshd, SFTP)', async () => {
  const sshd = await startSshd();
  const key = sshd.addKey('id_contract');
  const run = `contract-${randomBytes(4).toString('hex')}`;
  const cfg = (path: string, port = sshd.port): SftpConfig => ({
    host: '127.0.0.1',
    port,
    remotePath: `${run}/${path}`,
    user: sshd.user,
    password: '',
    identityFile: key,
    identityFileExplicit: true,
    identityPassphrase: '',
    knownHosts: '',
    hostKeyFingerprints: [sshd.fingerprint],
  });
  return {
    create: async (path) => createSftpDestination(cfg(path), silentLogger()),
    unreachable: async (path, timeoutMs) => createSftpDestination(cfg(path, await freePort()), silentLogger(), { readyTimeoutMs: timeoutMs }),
    failing: (path) =>
      viaFaultProxy(
        sshd.port,
        (port) => createSftpDestination(cfg(path, port), silentLogger(), { timeoutMs: 5000 }),
        () => {
          const d = join(sshd.home, run, path);
          return existsSync(d) ? readdirSync(d).sort() : [];
        },
      ),
    teardown: async () => {
      rmSync(join(sshd.home, run), { recursive: true, force: true });
      await sshd.stop();
    },
  };
});

describe('SFTP config', () => {
  const parse = (env: Record<string, string>) => {
    const issues: ConfigIssue[] = [];
    return { cfg: parseSftp(env, issues), issues };
  };
  it('is disabled without SSH_HOST_NAME', () => {
    assert.deepEqual(parse({ SSH_USER: 'u' }), { cfg: null, issues: [] });
  });
  it('reads every variable with defaults', () => {
    const { cfg, issues } = parse({ SSH_HOST_NAME: 'h', SSH_USER: 'u' });
    assert.deepEqual(issues, []);
    assert.deepEqual(cfg, {
      host: 'h',
      port: 22,
      remotePath: '.',
      user: 'u',
      password: '',
      identityFile: '/root/.ssh/id_rsa',
      identityFileExplicit: false,
      identityPassphrase: '',
      knownHosts: '',
      hostKeyFingerprints: [],
    });
    const fp = `SHA256:${'a'.repeat(43)}`;
    // files named on purpose must exist at configuration time: this test file stands in for both
    const here = fileURLToPath(import.meta.url);
    const b = parse({
      SSH_HOST_NAME: 'h',
      SSH_USER: 'u',
      SSH_PORT: '2222',
      SSH_REMOTE_PATH: '/srv/b',
      SSH_IDENTITY_FILE: here,
      SSH_HOST_KEY_FINGERPRINT: `${fp}=, ${fp}`,
      SSH_KNOWN_HOSTS: here,
    });
    assert.deepEqual(b.issues, []);
    assert.equal(b.cfg?.port, 2222);
    assert.equal(b.cfg?.identityFileExplicit, true);
    assert.deepEqual(b.cfg?.hostKeyFingerprints, [fp, fp]);
    assert.equal(b.cfg?.knownHosts, here);
  });
  it('SSH_IDENTITY_FILE and SSH_KNOWN_HOSTS set but missing are configuration errors naming them', () => {
    const { cfg, issues } = parse({ SSH_HOST_NAME: 'h', SSH_USER: 'u', SSH_IDENTITY_FILE: '/nonexistent/key', SSH_KNOWN_HOSTS: '/nonexistent/known_hosts' });
    assert.equal(cfg, null);
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['SSH_IDENTITY_FILE', 'SSH_KNOWN_HOSTS']);
    for (const i of issues) assert.match(i.message, /does not exist/);
  });
  it('reports bad values by name', () => {
    const { cfg, issues } = parse({ SSH_HOST_NAME: 'h', SSH_PORT: '70000', SSH_HOST_KEY_FINGERPRINT: 'MD5:aa:bb' });
    assert.equal(cfg, null);
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['SSH_HOST_KEY_FINGERPRINT', 'SSH_PORT', 'SSH_USER']);
  });
});

describe('known_hosts matching', () => {
  it('matches plain, bracketed, wildcard, negated and hashed host fields', () => {
    assert.ok(knownHostMatches('example.com,10.0.0.1', 'example.com', 22));
    assert.ok(!knownHostMatches('example.com', 'example.com', 2222));
    assert.ok(knownHostMatches('[example.com]:2222', 'EXAMPLE.com', 2222));
    assert.ok(knownHostMatches('*.example.com,!bad.example.com', 'a.example.com', 22));
    assert.ok(!knownHostMatches('*.example.com,!bad.example.com', 'bad.example.com', 22));
    // |1|salt|HMAC-SHA1(salt, host) as `ssh-keygen -H` writes
    const line = execFileSync('sh', [
      '-c',
      'f=$(mktemp); echo "[h.example]:2200 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMX11QUYelWWUNSwTFBV/sfb2fZGLXXKf33Y+a6RuMJ2" > $f; ssh-keygen -q -H -f $f >/dev/null 2>&1; cat $f; rm -f $f $f.old',
    ]).toString();
    const [entry] = parseKnownHosts(line);
    assert.match(entry!.hosts, /^\|1\|/);
    assert.ok(knownHostMatches(entry!.hosts, 'h.example', 2200));
    assert.ok(!knownHostMatches(entry!.hosts, 'h.example', 22));
  });
});

describe('SFTP on OpenSSH sshd', () => {
  let sshd: SshdServer;
  let run: string;
  let ed25519: string;
  let ed25519Pass: string;
  let rsaPemPass: string;
  const base = (extra: Partial<SftpConfig> = {}): SftpConfig => ({
    host: sshd.host,
    port: sshd.port,
    remotePath: `${run}/x`,
    user: sshd.user,
    password: '',
    identityFile: '/nonexistent/id_rsa',
    identityFileExplicit: false,
    identityPassphrase: '',
    knownHosts: '',
    hostKeyFingerprints: [sshd.fingerprint],
    ...extra,
  });
  const remoteDir = (p: string) => (p.startsWith('/') ? p : join(sshd.home, p));
  async function roundTrip(cfg: SftpConfig, log: Logger = silentLogger()): Promise<void> {
    const d = createSftpDestination(cfg, log);
    try {
      const name = `t-${randomBytes(3).toString('hex')}.tar`;
      await d.upload(name, Readable.from([Buffer.from(name)]));
      assert.equal(readFileSync(join(remoteDir(cfg.remotePath), name), 'utf8'), name);
    } finally {
      await d.close();
    }
  }

  before(async () => {
    sshd = await startSshd();
    run = `run-${randomBytes(4).toString('hex')}`;
    ed25519 = sshd.addKey('id_ed25519');
    ed25519Pass = sshd.addKey('id_ed25519_pass', { passphrase: 'key pass' });
    rsaPemPass = sshd.addKey('id_rsa_pem', { type: 'rsa', pem: true, passphrase: 'rsa pass' });
  });
  after(async () => {
    if (run && sshd) rmSync(join(sshd.home, run), { recursive: true, force: true });
    await sshd?.stop();
  });

  it('logs in with a password, creates a missing path relative to the login directory, round-trips spaces and unicode', async () => {
    const d = createSftpDestination(base({ password: sshd.password, remotePath: `${run}/new/deep path/ünï` }), silentLogger());
    try {
      assert.deepEqual(await d.list(''), []);
      const data = patterned(300_000);
      await d.upload('backup 2026 ü.tar.gz', streamOf(data, 10_000));
      const listed = await d.list('backup');
      assert.deepEqual(
        listed.map((o) => [o.name, o.size]),
        [['backup 2026 ü.tar.gz', data.length]],
      );
      assert.ok(Math.abs(listed[0]!.modified.getTime() - Date.now()) < 120_000);
      assert.ok(readFileSync(join(remoteDir(`${run}/new/deep path/ünï`), 'backup 2026 ü.tar.gz')).equals(data));
      assert.ok((await buffer(await d.download('backup 2026 ü.tar.gz'))).equals(data));
      assert.equal(d.location, `sftp://${sshd.user}@127.0.0.1:${sshd.port}/${run}/new/deep path/ünï`);
    } finally {
      await d.close();
    }
  });

  it('logs in with an ed25519 key, a passphrase-protected ed25519 key and a passphrase-protected RSA PEM key', async () => {
    await roundTrip(base({ identityFile: ed25519, identityFileExplicit: true }));
    await roundTrip(base({ identityFile: ed25519Pass, identityFileExplicit: true, identityPassphrase: 'key pass' }));
    await roundTrip(base({ identityFile: rsaPemPass, identityFileExplicit: true, identityPassphrase: 'rsa pass' }));
  });

  it('an absolute SSH_REMOTE_PATH works too', async () => {
    await roundTrip(base({ identityFile: ed25519, remotePath: join(sshd.home, run, 'abs') }));
  });

  it('a wrong password is refused with a clear, non-transient error', async () => {
    const d = createSftpDestination(base({ password: 'not the password' }), silentLogger());
    try {
      await assert.rejects(d.list(''), (err: Classified) => {
        assert.ok((err as unknown) instanceof UserError);
        assert.match(err.message, new RegExp(`refused login for user "${sshd.user}" \\(tried password\\)`));
        assert.match(err.hint ?? '', /SSH_PASSWORD/);
        assert.equal(err.transient, false);
        assert.doesNotMatch(err.message, /not the password/);
        return true;
      });
    } finally {
      await d.close();
    }
  });

  it('a passphrase-protected key without or with a wrong passphrase says so', async () => {
    const none = createSftpDestination(base({ identityFile: ed25519Pass }), silentLogger());
    await assert.rejects(none.list(''), (err: Classified) => {
      assert.ok((err as unknown) instanceof UserError);
      assert.match(err.message, /protected by a passphrase/);
      assert.match(err.hint ?? '', /SSH_IDENTITY_PASSPHRASE/);
      return true;
    });
    for (const file of [ed25519Pass, rsaPemPass]) {
      const wrong = createSftpDestination(base({ identityFile: file, identityPassphrase: 'wrong' }), silentLogger());
      await assert.rejects(wrong.list(''), (err: Classified) => {
        assert.ok((err as unknown) instanceof UserError);
        assert.match(err.message, /SSH_IDENTITY_PASSPHRASE does not decrypt the private key/);
        assert.equal(err.transient, false);
        return true;
      });
    }
  });

  it('an explicit SSH_IDENTITY_FILE that does not exist is an error; the default one is skipped', async () => {
    const d = createSftpDestination(base({ identityFile: '/nonexistent/key', identityFileExplicit: true, password: sshd.password }), silentLogger());
    await assert.rejects(d.list(''), /SSH_IDENTITY_FILE \/nonexistent\/key does not exist/);
    await roundTrip(base({ identityFile: '/nonexistent/id_rsa', identityFileExplicit: false, password: sshd.password }));
  });

  it('a pinned host key is accepted; a different one is refused naming the presented fingerprint', async () => {
    await roundTrip(base({ identityFile: ed25519, hostKeyFingerprints: [`SHA256:${'B'.repeat(43)}`, sshd.fingerprint] }));
    const d = createSftpDestination(base({ identityFile: ed25519, hostKeyFingerprints: [`SHA256:${'A'.repeat(43)}`] }), silentLogger());
    await assert.rejects(d.list(''), (err: Classified) => {
      assert.ok((err as unknown) instanceof UserError);
      assert.equal(err.code, 'HOST_KEY_MISMATCH');
      assert.equal(err.transient, false);
      assert.ok(err.message.includes(sshd.fingerprint), err.message);
      assert.match(err.message, /does not match SSH_HOST_KEY_FINGERPRINT/);
      return true;
    });
  });

  it('SSH_KNOWN_HOSTS: plain and hashed entries are accepted, a wrong key or a missing host is refused', async () => {
    const kh = join(sshd.dir, 'known_hosts');
    writeFileSync(kh, `# comment\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMX11QUYelWWUNSwTFBV/sfb2fZGLXXKf33Y+a6RuMJ2\n${sshd.knownHostsLine}\n`);
    await roundTrip(base({ identityFile: ed25519, hostKeyFingerprints: [], knownHosts: kh }));
    execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
    assert.match(readFileSync(kh, 'utf8'), /^\|1\|/m);
    await roundTrip(base({ identityFile: ed25519, hostKeyFingerprints: [], knownHosts: kh }));

    const wrong = join(sshd.dir, 'known_hosts_wrong');
    writeFileSync(wrong, `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMX11QUYelWWUNSwTFBV/sfb2fZGLXXKf33Y+a6RuMJ2\n`);
    await assert.rejects(
      createSftpDestination(base({ identityFile: ed25519, hostKeyFingerprints: [], knownHosts: wrong }), silentLogger()).list(''),
      (err: Classified) => {
        assert.equal(err.code, 'HOST_KEY_MISMATCH');
        assert.match(err.message, /is not in SSH_KNOWN_HOSTS/);
        return true;
      },
    );
    const missing = join(sshd.dir, 'known_hosts_other');
    writeFileSync(missing, 'other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMX11QUYelWWUNSwTFBV/sfb2fZGLXXKf33Y+a6RuMJ2\n');
    await assert.rejects(
      createSftpDestination(base({ identityFile: ed25519, hostKeyFingerprints: [], knownHosts: missing }), silentLogger()).list(''),
      (err: Classified) => {
        assert.ok((err as unknown) instanceof UserError);
        assert.match(err.message, new RegExp(`has no key for \\[127\\.0\\.0\\.1\\]:${sshd.port}`));
        assert.match(err.hint ?? '', /ssh-keyscan -p/);
        return true;
      },
    );
  });

  it('without pinning it connects and warns once with the fingerprint to pin', async () => {
    const { log, lines } = capture();
    const d = createSftpDestination(base({ identityFile: ed25519, hostKeyFingerprints: [] }), log);
    try {
      await d.list('');
      await d.close();
      await d.list(''); // reconnects after close
    } finally {
      await d.close();
    }
    const warns = lines().filter((l) => l.level === 40);
    assert.equal(warns.length, 1);
    assert.equal(warns[0]!.fingerprint, sshd.fingerprint);
    assert.match(String(warns[0]!.msg), new RegExp(`SSH_HOST_KEY_FINGERPRINT=${sshd.fingerprint.replace(/[+/]/g, '\\$&')}`));
  });

  it('refuses to overwrite an existing backup and leaves no temporary file', async () => {
    const d = createSftpDestination(base({ identityFile: ed25519, remotePath: `${run}/conflict` }), silentLogger());
    try {
      await d.upload('b.tar', Readable.from([Buffer.from('first')]));
      await assert.rejects(d.upload('b.tar', Readable.from([Buffer.from('second')])), (err: Classified) => {
        assert.ok((err as unknown) instanceof UserError);
        assert.equal(err.code, 'EEXIST');
        assert.match(err.message, /already exists; refusing to overwrite/);
        return true;
      });
      assert.equal(readFileSync(join(remoteDir(`${run}/conflict`), 'b.tar'), 'utf8'), 'first');
      assert.deepEqual(filesUnder(remoteDir(`${run}/conflict`)), ['b.tar']);
    } finally {
      await d.close();
    }
  });

  it('a failing source or an abort leaves nothing and keeps the older backup', async () => {
    const d = createSftpDestination(base({ identityFile: ed25519, remotePath: `${run}/failing` }), silentLogger());
    try {
      await d.upload('old.tar', Readable.from([Buffer.from('old')]));
      await assert.rejects(d.upload('new.tar', failingSource(3 << 20)), /source broke/);
      const ac = new AbortController();
      await assert.rejects(
        d.upload(
          'new2.tar',
          endlessSource(1 << 20, () => ac.abort()),
          { signal: ac.signal },
        ),
        { name: 'AbortError' },
      );
      assert.deepEqual(filesUnder(remoteDir(`${run}/failing`)), ['old.tar']);
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['old.tar'],
      );
      // the connection is still usable afterwards
      await d.upload('after.tar', Readable.from([Buffer.from('after')]));
      assert.deepEqual((await d.list('')).map((o) => o.name).sort(), ['after.tar', 'old.tar']);
    } finally {
      await d.close();
    }
  });

  it('a connection lost mid-upload is a transient error; the partial file is removed on a new connection', async () => {
    const d = createSftpDestination(base({ identityFile: ed25519, remotePath: `${run}/drop` }), silentLogger());
    try {
      await d.upload('old.tar', Readable.from([Buffer.from('old')]));
      await assert.rejects(
        d.upload(
          'lost.tar',
          endlessSource(2 << 20, () => sshd.dropConnections()),
        ),
        (err: Classified) => {
          assert.equal(err.code, 'ECONNRESET');
          assert.equal(err.transient, true);
          assert.match(err.message, /connection lost/);
          return true;
        },
      );
      // removed on a new connection right away; the lost connection's server process may still
      // create it after that (its open was in flight), so the next upload removes it again
      await d.upload('next.tar', Readable.from([Buffer.from('next')]));
      assert.deepEqual(filesUnder(remoteDir(`${run}/drop`)), ['next.tar', 'old.tar'], 'the partial temporary file was removed');
    } finally {
      await d.close();
    }
  });

  it('keeps a window of write requests in flight: new writes go out while earlier ones are still unanswered', async () => {
    // ssh2's own write stream (ssh2-sftp-client's put) sends a write, or the chunks queued meanwhile,
    // and waits until all are answered: no request is ever sent after an answer while others are pending
    const { SFTP } = createRequire(import.meta.url)('ssh2/lib/protocol/SFTP.js') as { SFTP: { prototype: { write: (...a: unknown[]) => void } } };
    const original = SFTP.prototype.write;
    let answers = 0;
    let sliding = false;
    let most = 0;
    const pending = new Set<{ answersWhenSent: number }>();
    SFTP.prototype.write = function (this: unknown, ...args: unknown[]) {
      if ([...pending].some((p) => answers > p.answersWhenSent)) sliding = true;
      const req = { answersWhenSent: answers };
      pending.add(req);
      most = Math.max(most, pending.size);
      const cb = args[5] as (...r: unknown[]) => void;
      args[5] = (...r: unknown[]) => {
        pending.delete(req);
        answers++;
        cb(...r);
      };
      return original.apply(this, args);
    };
    const d = createSftpDestination(base({ identityFile: ed25519, remotePath: `${run}/window` }), silentLogger());
    try {
      const data = patterned(4 << 20, 5);
      await d.upload('window.bin', streamOf(data, 64 << 10));
      assert.ok(readFileSync(join(remoteDir(`${run}/window`), 'window.bin')).equals(data));
    } finally {
      SFTP.prototype.write = original;
      await d.close();
    }
    assert.ok(sliding, `no write was sent while earlier ones were pending after an answer (at most ${most} in flight)`);
  });

  it("sends each write request within the server's write limit at once, all but the last full, from a buffer of its own", async () => {
    // a request larger than the server's limits@openssh.com write length is split by ssh2, which sends
    // the rest only after the first part's answer; and ssh2 keeps the buffer it is given until the
    // answer, so the source's chunks must not be it (they would live through the window's round trip)
    const { SFTP } = createRequire(import.meta.url)('ssh2/lib/protocol/SFTP.js') as { SFTP: { prototype: { write: (...a: unknown[]) => void } } };
    const original = SFTP.prototype.write;
    const data = patterned((3 << 20) + 12345, 7);
    const calls: { len: number; limit: number; source: boolean }[] = [];
    SFTP.prototype.write = function (this: { _maxWriteLen: number }, ...args: unknown[]) {
      calls.push({ len: args[3] as number, limit: this._maxWriteLen, source: (args[1] as Buffer).buffer === data.buffer });
      return original.apply(this, args);
    };
    const d = createSftpDestination(base({ identityFile: ed25519, remotePath: `${run}/limit` }), silentLogger());
    try {
      await d.upload('limit.bin', streamOf(data, 1 << 20));
      assert.ok(readFileSync(join(remoteDir(`${run}/limit`), 'limit.bin')).equals(data));
    } finally {
      SFTP.prototype.write = original;
      await d.close();
    }
    assert.ok(calls.length >= 13, `${calls.length} write requests`);
    assert.deepEqual(
      calls.filter((c) => c.len > c.limit),
      [],
      'requests over the write limit',
    );
    assert.equal(calls.filter((c) => c.source).length, 0, 'requests given a buffer of the source');
    // the 1 MiB chunks are not a multiple of the limit: the requests go across them, not one short request per chunk
    const full = Math.min(calls[0]!.limit, 256 << 10);
    assert.deepEqual(
      calls.slice(0, -1).filter((c) => c.len !== full),
      [],
      `requests short of ${full} bytes before the last`,
    );
    assert.equal(calls.length, Math.ceil(data.length / full), 'write requests');
  });

  it("keeps ssh2's cipher keys as KeyObjects after each key exchange, and moves the bytes right with every kind of cipher", async () => {
    // ssh2's JavaScript ciphers make a cipher (or HMAC) object per packet from these keys: a Buffer
    // is turned into a key object each time, a KeyObject is used as it is
    const ssh2 = createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
    const algorithms: [string, string | null][] = [
      ['aes128-gcm@openssh.com', null],
      ['aes256-ctr', 'hmac-sha2-256'],
      ['chacha20-poly1305@openssh.com', null],
    ];
    for (const [cipher, hmac] of algorithms) {
      const client = new ssh2.Client();
      keyObjectsAfterKeyExchange(client);
      await new Promise<void>((resolve, reject) => {
        client.once('ready', resolve).once('error', reject);
        client.connect({
          host: sshd.host,
          port: sshd.port,
          username: sshd.user,
          privateKey: readFileSync(ed25519),
          algorithms: { cipher: [cipher] as never, ...(hmac ? { hmac: [hmac] as never } : {}) },
        });
      });
      try {
        const proto = (client as unknown as { _protocol: Record<string, Record<string, unknown>> })._protocol;
        const keys = [proto._cipher!, proto._decipher!].flatMap((c) =>
          ['_encKey', '_decipherKey', '_macKey', '_encKeyMain', '_encKeyPktLen', '_decKeyMain', '_decKeyPktLen']
            .filter((f) => c[f] !== undefined)
            .map((f) => c[f]),
        );
        assert.ok(keys.length >= 2, `${cipher}: ${keys.length} key fields found in ssh2's cipher and decipher`);
        assert.deepEqual(
          keys.filter((k) => !(k instanceof KeyObject)),
          [],
          `${cipher}: keys that are not KeyObjects`,
        );
        const sftp = await new Promise<import('ssh2').SFTPWrapper>((resolve, reject) => client.sftp((e, s) => (e ? reject(e) : resolve(s))));
        for (const dir of [run, `${run}/keys`]) await new Promise<void>((resolve) => sftp.mkdir(dir, () => resolve()));
        const path = `${run}/keys/${cipher}.bin`;
        const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(path, 'w', (e, h) => (e ? reject(e) : resolve(h))));
        const data = patterned((1 << 20) + 777, 13);
        await pipeline(streamOf(data, 100_000), pipelinedWrites(sftp, handle, 1 << 20));
        await new Promise<void>((resolve, reject) => sftp.close(handle, (e) => (e ? reject(e) : resolve())));
        assert.ok(readFileSync(remoteDir(path)).equals(data), `${cipher}: content`);
      } finally {
        client.end();
      }
    }
  });

  it('reports the bytes it copied into write requests (the source reuses their buffers at once)', async () => {
    const data = patterned((3 << 20) + 12345, 11);
    const source = scribbledOnRelease(data, 100_003);
    const d = createSftpDestination(base({ identityFile: ed25519, remotePath: `${run}/written` }), silentLogger());
    try {
      await d.upload('written.bin', source.stream, { written: source.written });
      assert.ok(readFileSync(join(remoteDir(`${run}/written`), 'written.bin')).equals(data), 'content');
    } finally {
      await d.close();
    }
    assert.equal(source.reported(), data.length, 'bytes reported');
  });

  it('streams 50 MiB both ways', async () => {
    const d = createSftpDestination(base({ identityFile: ed25519, remotePath: `${run}/big` }), silentLogger());
    try {
      const data = patterned(50 << 20, 9);
      await d.upload('big.bin', streamOf(data));
      assert.ok(readFileSync(join(remoteDir(`${run}/big`), 'big.bin')).equals(data));
      assert.ok((await buffer(await d.download('big.bin'))).equals(data));
      await d.remove(['big.bin', 'missing.bin']);
      assert.equal(existsSync(join(remoteDir(`${run}/big`), 'big.bin')), false);
    } finally {
      await d.close();
    }
  });
});

describe('SFTP to a stopped server', () => {
  it('fails clearly with the connection error code', async () => {
    const port = await freePort();
    const d = createSftpDestination(
      {
        host: '127.0.0.1',
        port,
        remotePath: 'x',
        user: 'u',
        password: 'p',
        identityFile: '/nonexistent',
        identityFileExplicit: false,
        identityPassphrase: '',
        knownHosts: '',
        hostKeyFingerprints: [],
      },
      silentLogger(),
    );
    await assert.rejects(d.upload('a', Readable.from([Buffer.from('a')])), (err: Classified) => {
      assert.equal(err.code, 'ECONNREFUSED');
      assert.equal(err.message, `SFTP: cannot connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
      return true;
    });
    await d.close();
  });
});

// ssh2's native binding, built with Node >= 24.19's headers, aborts the process when V8 collects a
// cipher object (mscdex/ssh2#1511; it crashed this file once the binding loaded): sftp.ts keeps ssh2 on
// its JavaScript ciphers. Checked in a process that loads only sftp.ts (this file's own imports must
// not install the hook). Without it the binding's require loads it (a toolchain and the right
// headers), fails with ERR_DLOPEN_FAILED (built for another Node) or with Node's own MODULE_NOT_FOUND.
it('ssh2 runs without its native crypto binding, whether or not npm built one (mscdex/ssh2#1511)', () => {
  const script = `
    await import(${JSON.stringify(new URL('../../src/destinations/sftp.ts', import.meta.url).href)});
    const { createRequire } = await import('node:module');
    const fromSsh2 = createRequire(createRequire(import.meta.url).resolve('ssh2/lib/protocol/crypto.js'));
    let error = null;
    try { fromSsh2('./crypto/build/Release/sshcrypto.node'); } catch (e) { error = { code: e.code, message: e.message }; }
    console.log(JSON.stringify({ binding: fromSsh2('./crypto.js').bindingAvailable, error }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
  });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { binding: boolean; error: { code: string; message: string } | null };
  assert.equal(r.binding, false, 'ssh2 loaded its native binding');
  assert.equal(r.error?.code, 'MODULE_NOT_FOUND', JSON.stringify(r.error));
  assert.match(r.error!.message, /mscdex\/ssh2#1511/);
});
