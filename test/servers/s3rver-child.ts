// Runs s3rver in its own process: started by test/servers/s3rver.ts with --openssl-legacy-provider
// (s3rver's pagination tokens use DES, which OpenSSL 3 refuses otherwise).
import { readFileSync } from 'node:fs';
import S3rver from 's3rver';

const opts = JSON.parse(process.argv[2] ?? '{}') as { directory: string; buckets: string[]; port?: number; keyFile?: string; certFile?: string };
const server = new S3rver({
  address: '127.0.0.1',
  port: opts.port ?? 0,
  silent: true,
  directory: opts.directory,
  configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
  ...(opts.keyFile && opts.certFile ? { key: readFileSync(opts.keyFile), cert: readFileSync(opts.certFile) } : {}),
});
const addr = await server.run();
process.stdout.write(`${JSON.stringify({ port: (addr as { port: number }).port })}\n`);
// exit with the parent
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
