/**
 * `webdav-server` (npm, v2) in process: a second, more lenient WebDAV implementation,
 * serving a temporary directory with Basic auth, over HTTP or HTTPS.
 */
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { v2 as webdav } from 'webdav-server';
import { selfSignedCert, type ApacheServer } from './apache.ts';

/** Same shape as the Apache server, so tests can run against either. */
export type InProcessDav = ApacheServer;

export async function startWebdavServer(opts: { tls?: boolean; username?: string; password?: string } = {}): Promise<InProcessDav> {
  const username = opts.username ?? 'davuser';
  const password = opts.password ?? 'davpass';
  const base = mkdtempSync(join(tmpdir(), 'offsite-webdav-server-'));
  const root = join(base, 'dav');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(root);
  const users = new webdav.SimpleUserManager();
  const user = users.addUser(username, password, false);
  const privileges = new webdav.SimplePathPrivilegeManager();
  privileges.setRights(user, '/', ['all']);
  let https: { cert: string; key: string } | undefined;
  let cert: string | undefined;
  if (opts.tls) {
    const [c, k] = selfSignedCert(base);
    cert = readFileSync(c, 'utf8');
    https = { cert, key: readFileSync(k, 'utf8') };
  }
  const server = new webdav.WebDAVServer({
    hostname: '127.0.0.1',
    port: 0,
    requireAuthentification: true,
    httpAuthentication: new webdav.HTTPBasicAuthentication(users, 'offsite-test'),
    privilegeManager: privileges,
    rootFileSystem: new webdav.PhysicalFileSystem(root),
    ...(https ? { https } : {}),
  });
  const http = await server.startAsync(0);
  const port = (http.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    root,
    username,
    password,
    cert,
    async stop() {
      http.closeAllConnections?.();
      await server.stopAsync();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
