/** Starts s3rver on 127.0.0.1 in a child process (see s3rver-child.ts); killed in stop() and on exit. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface S3rverHandle {
  port: number;
  endpoint: string;
  directory: string;
  /** The server process's pid (the bench reads its CPU time from /proc). */
  pid: number;
  /** Stop the server (the directory is kept so restart() serves the same data). */
  stop(): Promise<void>;
  /** Stop and remove the data directory. */
  close(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startS3rver(opts: { buckets: string[]; https?: { keyFile: string; certFile: string }; directory?: string }): Promise<S3rverHandle> {
  const directory = opts.directory ?? (await mkdtemp(join(tmpdir(), 'offsite-s3rver-')));
  const child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      fileURLToPath(new URL('./s3rver-child.ts', import.meta.url)),
      JSON.stringify({ directory, buckets: opts.buckets, keyFile: opts.https?.keyFile, certFile: opts.https?.certFile }),
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const t = setTimeout(() => reject(new Error('s3rver did not start within 20s')), 20_000);
    rl.once('line', (line) => {
      clearTimeout(t);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`s3rver exited with ${code}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    children.delete(child);
  };
  return {
    port,
    endpoint: `${opts.https ? 'https' : 'http'}://127.0.0.1:${port}`,
    directory,
    pid: child.pid!,
    stop,
    async close() {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
