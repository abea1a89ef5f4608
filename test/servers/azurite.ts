/** Starts azurite-blob (Microsoft's emulator) on 127.0.0.1; killed in stop() and on process exit. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteHandle {
  port: number;
  /** Service URL with the account path, e.g. http://127.0.0.1:PORT/devstoreaccount1/ */
  endpoint: string;
  connectionString: string;
  /** Directory of azurite's data (its metadata database `__azurite_db_blob__.json`, saved when it stops). */
  location: string;
  /** Stops azurite (it saves its database), runs `whileDown`, starts it again on the same port and data. */
  restart(whileDown?: () => void | Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`azurite exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`azurite did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startAzurite(): Promise<AzuriteHandle> {
  const location = await mkdtemp(join(tmpdir(), 'offsite-azurite-'));
  const port = await freePort();
  const bin = fileURLToPath(new URL('../../node_modules/.bin/azurite-blob', import.meta.url));
  const launch = async () => {
    const c = spawn(
      bin,
      ['--silent', '--location', location, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--skipApiVersionCheck', '--loose', '--disableTelemetry'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.add(c);
    await waitForPort(port, c, 20_000);
    return c;
  };
  const halt = async (c: ChildProcess) => {
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
    children.delete(c);
  };
  let child = await launch();
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}/`;
  return {
    port,
    endpoint,
    location,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint.replace(/\/$/, '')};`,
    async restart(whileDown) {
      await halt(child);
      await whileDown?.();
      child = await launch();
    },
    async stop() {
      await halt(child);
      await rm(location, { recursive: true, force: true });
    },
  };
}
