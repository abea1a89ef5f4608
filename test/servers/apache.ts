/**
 * Apache httpd 2.4 with mod_dav/mod_dav_fs on 127.0.0.1, private config, Basic auth (or Digest, as offen's WebDAV test server):
 * the strictest WebDAV server (honours Overwrite: F and If-None-Match). Optional TLS
 * with a self-signed certificate made by openssl.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, chmodSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { freePort, waitForPort, killOnExit, stopChild } from './util.ts';

export interface ApacheServer {
  /** Base URL of the DAV root, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  /** Directory on disk served as the DAV root. */
  root: string;
  username: string;
  password: string;
  /** PEM of the self-signed certificate (tls only). */
  cert?: string;
  stop(): Promise<void>;
}

const MODULES = '/usr/lib/apache2/modules';
const REALM = 'offsite-test';

/** Make a self-signed certificate for 127.0.0.1/localhost into dir; returns [certPath, keyPath]. */
export function selfSignedCert(dir: string): [string, string] {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return [cert, key];
}

export async function startApache(opts: { tls?: boolean; username?: string; password?: string; digest?: boolean } = {}): Promise<ApacheServer> {
  const username = opts.username ?? 'davuser';
  const password = opts.password ?? 'dav pass wörd';
  const base = mkdtempSync(join(tmpdir(), 'offsite-apache-'));
  chmodSync(base, 0o755);
  const root = join(base, 'dav');
  const lock = join(base, 'lock');
  const run = join(base, 'run');
  for (const d of [root, lock, run]) mkdirSync(d);
  // httpd workers run as www-data: they need to write the DAV root and the lock database.
  execFileSync('chown', ['www-data:www-data', root, lock]);
  // APR1-MD5, not bcrypt: bcrypt costs ~5 ms of server CPU per request, which dominates the 1000-object cases.
  if (opts.digest) {
    // htdigest's format (user:realm:MD5(user:realm:password)); htdigest itself only prompts
    const ha1 = createHash('md5').update(`${username}:${REALM}:${password}`).digest('hex');
    writeFileSync(join(base, 'htpasswd'), `${username}:${REALM}:${ha1}\n`);
  } else execFileSync('htpasswd', ['-cbm', join(base, 'htpasswd'), username, password], { stdio: 'ignore' });
  chmodSync(join(base, 'htpasswd'), 0o644);
  let tlsConf = '';
  let cert: string | undefined;
  if (opts.tls) {
    const [c, k] = selfSignedCert(base);
    cert = readFileSync(c, 'utf8');
    tlsConf = `LoadModule socache_shmcb_module ${MODULES}/mod_socache_shmcb.so
LoadModule ssl_module ${MODULES}/mod_ssl.so
SSLEngine on
SSLCertificateFile ${c}
SSLCertificateKeyFile ${k}
SSLSessionCache none
`;
  }
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const conf = join(base, 'httpd.conf');
    writeFileSync(
      conf,
      `ServerRoot ${base}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile ${run}/httpd.pid
DefaultRuntimeDir ${run}
Mutex file:${run} default
LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authn_core_module ${MODULES}/mod_authn_core.so
LoadModule authn_file_module ${MODULES}/mod_authn_file.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule authz_user_module ${MODULES}/mod_authz_user.so
LoadModule auth_basic_module ${MODULES}/mod_auth_basic.so
${opts.digest ? `LoadModule auth_digest_module ${MODULES}/mod_auth_digest.so` : ''}
LoadModule dav_module ${MODULES}/mod_dav.so
LoadModule dav_fs_module ${MODULES}/mod_dav_fs.so
${tlsConf}
User www-data
Group www-data
ErrorLog ${base}/error.log
LogLevel warn
StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
DavLockDB ${lock}/DavLock
LimitRequestBody 0
DocumentRoot ${root}
<Directory ${root}>
  Dav On
  AuthType ${opts.digest ? 'Digest' : 'Basic'}
  AuthName ${REALM}
  AuthUserFile ${base}/htpasswd
  Require valid-user
</Directory>
`,
    );
    const child = spawn('/usr/sbin/apache2', ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    killOnExit(child);
    const describe = () => `${stderr}${existsSync(join(base, 'error.log')) ? readFileSync(join(base, 'error.log'), 'utf8') : ''}`;
    try {
      await waitForPort(port, 10_000, child, describe);
    } catch (err) {
      await stopChild(child);
      // Lost a race for the port: try another one.
      if (attempt < 3 && /Address already in use/.test(describe())) continue;
      throw err;
    }
    return {
      url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
      root,
      username,
      password,
      cert,
      async stop() {
        await stopChild(child);
        rmSync(base, { recursive: true, force: true });
      },
    };
  }
}
