import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { createS3Destination, createS3Client, partSizeFor, queueSizeFor } from '../../src/destinations/s3.ts';
import { uploadStream } from '../../src/destinations/s3-multipart.ts';
import type { Readable } from 'node:stream';
import { parseS3, type S3Config } from '../../src/destinations/s3.def.ts';
import { DEFAULT_RETRY } from '../../src/destinations/retry.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { runDestinationContract, viaFaultProxy } from './contract.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';
import { bytes, digest, generated, sha256Hex } from './streams.ts';
import { patterned, scribbledOnRelease } from './more-helpers.ts';

const log = silentLogger();
const MiB = 1 << 20;
const retry = { ...DEFAULT_RETRY, attempts: 2, initialDelayMs: 50, timeoutMs: 5000 };

function config(endpoint: string, path: string, extra: Partial<S3Config> = {}): S3Config {
  return {
    bucket: 'backups',
    path,
    credentials: S3RVER_CREDENTIALS,
    iamRoleEndpoint: null,
    endpoint,
    insecure: false,
    caCert: null,
    storageClass: null,
    partSize: 5 * MiB,
    region: 'us-east-1',
    checksum: 'when_required',
    ...extra,
  };
}

/** A port where nothing listens (bound, then closed). */
async function deadPort(): Promise<number> {
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

runDestinationContract('S3', async () => {
  const server = await startS3rver({ buckets: ['backups'] });
  return {
    create: async (path) => createS3Destination(config(server.endpoint, path), { retry }, log),
    unreachable: async (path, timeoutMs) => {
      const stopped = await startS3rver({ buckets: ['backups'] });
      await stopped.close();
      return createS3Destination(config(stopped.endpoint, path), { retry: { ...retry, timeoutMs } }, log);
    },
    failing: (path) => viaFaultProxy(server.port, (port) => createS3Destination(config(`http://127.0.0.1:${port}`, path), { retry }, log)),
    teardown: () => server.close(),
  };
});

describe('S3 specifics', () => {
  let server: S3rverHandle;
  before(async () => {
    server = await startS3rver({ buckets: ['backups', 'other'] });
  });
  after(async () => {
    await server?.close();
  });

  test('refuses to overwrite an existing backup (single and multipart uploads) and keeps it intact', async () => {
    const d = createS3Destination(config(server.endpoint, 'nooverwrite/'), { retry }, log);
    const first = generated(6 * MiB);
    await d.upload('backup-same.tar.gz', first.stream);
    for (const size of [5, 12 * MiB]) {
      await assert.rejects(d.upload('backup-same.tar.gz', generated(size).stream), (e: Error) => /already exists; refusing to overwrite/.test(e.message));
    }
    assert.equal((await digest(await d.download('backup-same.tar.gz'))).sha256, await first.sha256);
    await d.close();
  });

  test('multipart upload applies the storage class', async () => {
    const d = createS3Destination(config(server.endpoint, 'sc/', { storageClass: 'STANDARD_IA' }), { retry }, log);
    const g = generated(12 * MiB + 5);
    await d.upload('backup-mp.tar.gz', g.stream, { size: 12 * MiB + 5 });
    const client = await createS3Client(config(server.endpoint, ''), retry, log);
    const head = await client.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'sc/backup-mp.tar.gz' }));
    assert.equal(head.StorageClass, 'STANDARD_IA');
    assert.equal(head.ContentLength, 12 * MiB + 5);
    assert.equal((await digest(await d.download('backup-mp.tar.gz'))).sha256, await g.sha256);
    client.destroy();
    await d.close();
  });

  test('a missing bucket fails clearly', async () => {
    const d = createS3Destination({ ...config(server.endpoint, ''), bucket: 'no-such-bucket' }, { retry }, log);
    await assert.rejects(d.upload('x.tar', bytes('x').stream), /bucket does not exist/);
    await assert.rejects(d.list(''), /bucket does not exist/);
    await d.close();
  });

  test('an unknown access key is refused with a clear error', async () => {
    const d = createS3Destination(config(server.endpoint, '', { credentials: { accessKeyId: 'WRONG', secretAccessKey: 'nope' } }), { retry }, log);
    await assert.rejects(d.list(''), /access key id was refused|InvalidAccessKeyId/);
    await d.close();
  });

  test('objects in "subfolders" of the path are not listed', async () => {
    const top = createS3Destination(config(server.endpoint, 'nest/'), { retry }, log);
    const sub = createS3Destination(config(server.endpoint, 'nest/sub/'), { retry }, log);
    await top.upload('backup-top.tar', bytes('t').stream);
    await sub.upload('backup-sub.tar', bytes('s').stream);
    assert.deepEqual(
      (await top.list('backup-')).map((o) => o.name),
      ['backup-top.tar'],
    );
    assert.deepEqual(
      (await sub.list('backup-')).map((o) => o.name),
      ['backup-sub.tar'],
    );
  });

  test('reports the bytes it used up (hashed or copied into a part), and the source may reuse them at once', async () => {
    const sdk = await import('@aws-sdk/client-s3');
    const dir = await mkdtemp(join(tmpdir(), 'offsite-s3-written-'));
    const client = await createS3Client(config(server.endpoint, ''), retry, log);
    try {
      for (const size of [3 * MiB, 12 * MiB + 5]) {
        const data = patterned(size, 13);
        const path = join(dir, `${size}.tar`);
        await writeFile(path, data);
        // from the part buffers (their copies), and from the file (the chunks are only hashed)
        for (const file of [undefined, path]) {
          const source = scribbledOnRelease(data, 100_003);
          const k = `written/${size}-${file ? 'file' : 'pool'}.tar`;
          await uploadStream(source.stream, {
            sdk,
            client,
            bucket: 'backups',
            key: k,
            partSize: 5 * MiB,
            buffers: 2,
            signal: new AbortController().signal,
            abortTimeoutMs: 5000,
            written: source.written,
            ...(file ? { file } : {}),
          });
          assert.equal(source.reported(), size, `${k}: bytes reported`);
          const got = await client.send(new sdk.GetObjectCommand({ Bucket: 'backups', Key: k }));
          assert.equal((await digest(got.Body as Readable)).sha256, sha256Hex(data), `${k}: content`);
        }
      }
    } finally {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('uploads come from a bounded pool of reused part buffers (PutObject below one part, multipart above)', async () => {
    const sdk = await import('@aws-sdk/client-s3');
    for (const checksum of ['when_required', 'when_supported'] as const) {
      const client = await createS3Client(config(server.endpoint, '', { checksum }), retry, log);
      try {
        // [size, parts]: empty, tiny, exactly one part (PutObject), exactly two parts (no empty third), odd sizes
        for (const [size, parts] of [
          [0, 0],
          [1, 0],
          [5 * MiB - 1, 0],
          [5 * MiB, 0],
          [5 * MiB + 1, 2],
          [10 * MiB, 2],
          [23 * MiB + 7, 5],
        ] as const) {
          const g = generated(size, { chunk: 100_003 });
          const k = `pool/${checksum}-${size}.tar`;
          const r = await uploadStream(g.stream, {
            sdk,
            client,
            bucket: 'backups',
            key: k,
            partSize: 5 * MiB,
            buffers: 2,
            signal: new AbortController().signal,
            abortTimeoutMs: 5000,
          });
          assert.equal(r.parts, parts, `${size}: parts`);
          assert.equal(r.bytes, size);
          assert.ok(r.buffersAllocated <= 2, `${size}: at most 2 part buffers, got ${r.buffersAllocated}`);
          assert.ok(r.maxInFlight <= 2, `${size}: at most 2 parts at once, got ${r.maxInFlight}`);
          const got = await client.send(new sdk.GetObjectCommand({ Bucket: 'backups', Key: k }));
          assert.equal((await digest(got.Body as Readable)).sha256, await g.sha256, `${size}: content`);
        }
        // many parts through two buffers: the buffers are reused, both are used at once
        const g = generated(40 * MiB, { chunk: 65_536 });
        const r = await uploadStream(g.stream, {
          sdk,
          client,
          bucket: 'backups',
          key: `pool/${checksum}-many.tar`,
          partSize: 5 * MiB,
          buffers: 2,
          signal: new AbortController().signal,
          abortTimeoutMs: 5000,
        });
        assert.deepEqual([r.parts, r.buffersAllocated, r.maxInFlight], [8, 2, 2]);
        const got = await client.send(new sdk.GetObjectCommand({ Bucket: 'backups', Key: `pool/${checksum}-many.tar` }));
        assert.equal((await digest(got.Body as Readable)).sha256, await g.sha256);
      } finally {
        client.destroy();
      }
    }
  });

  test('parts of a staged file are sent from the file (no part buffers), signed with their SHA-256, and a failed part is retried with a fresh read', async () => {
    const sdk = await import('@aws-sdk/client-s3');
    const dir = await mkdtemp(join(tmpdir(), 'offsite-s3-file-'));
    try {
      for (const checksum of ['when_required', 'when_supported'] as const) {
        for (const size of [0, 1, 5 * MiB, 5 * MiB + 1, 23 * MiB + 7]) {
          const path = join(dir, `${checksum}-${size}.tar`);
          const data = randomBytes(size);
          await writeFile(path, data);
          // the first attempt of part 2 fails with a 500: the SDK's retry must send the same bytes again
          let failed = false;
          const proxy = await recordingProxy(server.port, (line) => {
            if (failed || !line.startsWith('PUT ') || !line.includes('partNumber=2&')) return false;
            return (failed = true);
          });
          const client = await createS3Client(config(proxy.url, '', { checksum }), retry, log);
          try {
            const k = `file/${checksum}-${size}.tar`;
            const r = await uploadStream(createReadStream(path, { highWaterMark: 100_003 }), {
              sdk,
              client,
              bucket: 'backups',
              key: k,
              partSize: 5 * MiB,
              buffers: 2,
              file: path,
              signal: new AbortController().signal,
              abortTimeoutMs: 5000,
            });
            assert.equal(r.bytes, size);
            assert.equal(r.buffersAllocated, 0, `${size}: no part buffers`);
            assert.equal(r.parts, size > 5 * MiB ? Math.ceil(size / (5 * MiB)) : 0);
            const got = await client.send(new sdk.GetObjectCommand({ Bucket: 'backups', Key: k }));
            assert.equal((await digest(got.Body as Readable)).sha256, sha256Hex(data), `${checksum} ${size}: content`);
            // every part was signed with the SHA-256 of its bytes (not UNSIGNED-PAYLOAD)
            proxy.seen.forEach((line, i) => {
              const m = /partNumber=(\d+)/.exec(line);
              if (!line.startsWith('PUT ') || !m) return;
              const n = Number(m[1]);
              assert.equal(proxy.payloadHashes[i], sha256Hex(data.subarray((n - 1) * 5 * MiB, n * 5 * MiB)), `${size}: hash of part ${n}`);
            });
            if (size > 5 * MiB) assert.equal(proxy.seen.filter((l) => l.startsWith('PUT ') && l.includes('partNumber=2&')).length, 2, 'part 2 was sent twice');
          } finally {
            client.destroy();
            await proxy.close();
          }
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('default checksums (when_supported) also round trip on s3rver for multipart uploads', async () => {
    const d = createS3Destination(config(server.endpoint, 'cs/', { checksum: 'when_supported' }), { retry }, log);
    const g = generated(11 * MiB);
    await d.upload('b.tar', g.stream, { size: 11 * MiB });
    const got = await digest(await d.download('b.tar'));
    assert.equal(got.size, 11 * MiB);
    assert.equal(got.sha256, await g.sha256);
  });
});

/** A recording HTTP proxy in front of s3rver: shows which requests the client really sent. */
async function recordingProxy(
  targetPort: number,
  failWith500?: (line: string) => boolean,
): Promise<{ url: string; seen: string[]; payloadHashes: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  /** x-amz-content-sha256 of each request in `seen`. */
  const payloadHashes: string[] = [];
  const proxy = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    payloadHashes.push(String(req.headers['x-amz-content-sha256'] ?? ''));
    if (failWith500?.(`${req.method} ${req.url}`)) {
      req.resume();
      res
        .writeHead(500, { 'content-type': 'application/xml' })
        .end('<?xml version="1.0"?><Error><Code>InternalError</Code><Message>failed on purpose (test)</Message></Error>');
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const port = (proxy.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    payloadHashes,
    close: () =>
      new Promise((r) => {
        proxy.closeAllConnections();
        proxy.close(() => r());
      }),
  };
}

describe('S3 cleanup and credentials', () => {
  let server: S3rverHandle;
  before(async () => {
    server = await startS3rver({ buckets: ['backups'] });
  });
  after(async () => {
    await server?.close();
  });

  test('static credentials in a frozen config (as loadConfig returns it) work', async () => {
    const frozen = Object.freeze({ ...config(server.endpoint, 'frozen/'), credentials: Object.freeze({ ...S3RVER_CREDENTIALS }) });
    const d = createS3Destination(frozen, { retry }, log);
    await d.upload('backup-frozen.tar', bytes('frozen config').stream);
    assert.deepEqual(
      (await d.list('')).map((o) => o.name),
      ['backup-frozen.tar'],
    );
    await d.close();
  });

  test('a multipart upload whose source fails is aborted on the server (no orphaned parts)', async () => {
    const proxy = await recordingProxy(server.port);
    try {
      const d = createS3Destination(config(proxy.url, 'abort/'), { retry }, log);
      await assert.rejects(d.upload('backup-broken.tar.gz', generated(30 * MiB, { failAfter: 12 * MiB }).stream), /source failed on purpose/);
      for (let i = 0; i < 100 && !proxy.seen.some((l) => l.startsWith('DELETE ') && l.includes('uploadId=')); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(
        proxy.seen.some((l) => l.startsWith('POST ') && l.includes('?uploads')),
        `a multipart upload was started: ${proxy.seen.join(', ')}`,
      );
      assert.ok(
        proxy.seen.some((l) => l.startsWith('DELETE /backups/abort/backup-broken.tar.gz?uploadId=')),
        `AbortMultipartUpload was sent: ${proxy.seen.join(', ')}`,
      );
      assert.ok(!proxy.seen.some((l) => l.startsWith('POST ') && l.includes('uploadId=')), 'the upload was never completed');
      assert.deepEqual(await d.list(''), []);
      await d.close();
    } finally {
      await proxy.close();
    }
  });

  test('an aborted multipart upload is aborted on the server', async () => {
    const proxy = await recordingProxy(server.port);
    try {
      const d = createS3Destination(config(proxy.url, 'sig/'), { retry }, log);
      const ac = new AbortController();
      const g = generated(64 * MiB, {
        chunk: MiB,
        delayMs: 5,
        onBytes: (n) => {
          if (n >= 12 * MiB && !ac.signal.aborted) ac.abort(new Error('stop'));
        },
      });
      await assert.rejects(d.upload('backup-aborted.tar.gz', g.stream, { signal: ac.signal }));
      for (let i = 0; i < 100 && !proxy.seen.some((l) => l.startsWith('DELETE ')); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(
        proxy.seen.some((l) => l.startsWith('DELETE /backups/sig/backup-aborted.tar.gz?uploadId=')),
        `AbortMultipartUpload was sent: ${proxy.seen.join(', ')}`,
      );
      assert.deepEqual(await d.list(''), []);
      await d.close();
    } finally {
      await proxy.close();
    }
  });

  test('a multipart upload whose part fails on the server is aborted, never completed, and says why', async () => {
    const proxy = await recordingProxy(server.port, (line) => line.startsWith('PUT ') && line.includes('partNumber=3'));
    try {
      const d = createS3Destination(config(proxy.url, 'partfail/'), { retry }, log);
      await assert.rejects(d.upload('backup-partfail.tar.gz', generated(30 * MiB).stream), /InternalError|failed on purpose|500/);
      for (let i = 0; i < 100 && !proxy.seen.some((l) => l.startsWith('DELETE ') && l.includes('uploadId=')); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(
        proxy.seen.some((l) => l.startsWith('DELETE /backups/partfail/backup-partfail.tar.gz?uploadId=')),
        `AbortMultipartUpload was sent: ${proxy.seen.join(', ')}`,
      );
      assert.ok(!proxy.seen.some((l) => l.startsWith('POST ') && l.includes('uploadId=')), 'the upload was never completed');
      assert.deepEqual(await d.list(''), []);
      await d.close();
    } finally {
      await proxy.close();
    }
  });

  test('AWS_IAM_ROLE_ENDPOINT: credentials come from the instance metadata service', async () => {
    const requests: string[] = [];
    const imds = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        res.end('tok');
        return;
      }
      if (req.headers['x-aws-ec2-metadata-token'] !== 'tok') {
        res.statusCode = 401;
        res.end();
        return;
      }
      if (req.url === '/latest/meta-data/iam/security-credentials/') {
        res.end('backup-role');
        return;
      }
      if (req.url === '/latest/meta-data/iam/security-credentials/backup-role') {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            Code: 'Success',
            Type: 'AWS-HMAC',
            AccessKeyId: 'S3RVER',
            SecretAccessKey: 'S3RVER',
            Token: 'session',
            Expiration: new Date(Date.now() + 3600_000).toISOString(),
            LastUpdated: new Date().toISOString(),
          }),
        );
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((r) => imds.listen(0, '127.0.0.1', () => r()));
    try {
      const endpoint = `http://127.0.0.1:${(imds.address() as { port: number }).port}`;
      const d = createS3Destination(config(server.endpoint, 'iam/', { credentials: null, iamRoleEndpoint: endpoint }), { retry }, log);
      await d.upload('backup-iam.tar', bytes('via role').stream);
      assert.deepEqual(
        (await d.list('')).map((o) => o.name),
        ['backup-iam.tar'],
      );
      assert.ok(requests.includes('GET /latest/meta-data/iam/security-credentials/backup-role'), requests.join(', '));
      await d.close();
    } finally {
      imds.closeAllConnections();
      await new Promise((r) => imds.close(r));
    }
  });
});

describe('S3 over HTTPS with a private CA', () => {
  let dir: string;
  let server: S3rverHandle;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'offsite-s3tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    server = await startS3rver({ buckets: ['backups'], https: { keyFile: join(dir, 'key.pem'), certFile: join(dir, 'cert.pem') } });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string>) => ({
    AWS_S3_BUCKET_NAME: 'backups',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT: `127.0.0.1:${server.port}`,
    AWS_ENDPOINT_PROTO: 'https',
    AWS_CHECKSUM: 'when_required',
    AWS_S3_PATH: 'tls',
    ...extra,
  });
  const fromEnv = (e: Record<string, string>) => {
    const issues: ConfigIssue[] = [];
    const c = parseS3(e, issues);
    assert.deepEqual(issues, []);
    return createS3Destination(c!, { retry: { ...retry, attempts: 1 } }, log);
  };

  test('untrusted certificate is refused with a hint', async () => {
    const d = fromEnv(env({}));
    await assert.rejects(d.list(''), /certificate not trusted.*|self[- ]signed/i);
    await d.close();
  });

  test('AWS_ENDPOINT_CA_CERT as a file path', async () => {
    const d = fromEnv(env({ AWS_ENDPOINT_CA_CERT: join(dir, 'cert.pem') }));
    await d.upload('backup-ca.tar', bytes('over tls').stream);
    assert.deepEqual(
      (await d.list('backup-')).map((o) => o.name),
      ['backup-ca.tar'],
    );
    await d.close();
  });

  test('AWS_ENDPOINT_CA_CERT inline', async () => {
    const d = fromEnv(env({ AWS_ENDPOINT_CA_CERT: await readFile(join(dir, 'cert.pem'), 'utf8'), AWS_S3_PATH: 'tls-inline' }));
    await d.upload('backup-inline.tar', generated(6 * MiB).stream);
    assert.equal((await d.list(''))[0]!.size, 6 * MiB);
    await d.close();
  });

  test('AWS_ENDPOINT_INSECURE skips verification', async () => {
    const d = fromEnv(env({ AWS_ENDPOINT_INSECURE: 'true', AWS_S3_PATH: 'tls-insecure' }));
    await d.upload('backup-insecure.tar', generated(6 * MiB).stream);
    assert.equal((await d.list(''))[0]!.size, 6 * MiB);
    await d.close();
  });
});

describe('S3 configuration', () => {
  test('defaults and custom endpoint', () => {
    const issues: ConfigIssue[] = [];
    assert.equal(parseS3({}, issues), null);
    const c = parseS3(
      {
        AWS_S3_BUCKET_NAME: 'b',
        AWS_S3_PATH: '/a/b',
        AWS_ENDPOINT: 'minio:9000',
        AWS_ENDPOINT_PROTO: 'http',
        AWS_ACCESS_KEY_ID: 'k',
        AWS_SECRET_ACCESS_KEY: 's',
        AWS_STORAGE_CLASS: 'standard_ia',
      },
      issues,
    );
    assert.deepEqual(issues, []);
    assert.equal(c!.endpoint, 'http://minio:9000');
    assert.equal(c!.path, 'a/b/');
    assert.equal(c!.storageClass, 'STANDARD_IA');
    assert.equal(c!.partSize, 16 * MiB);
    assert.equal(c!.region, 'us-east-1');
    assert.equal(parseS3({ AWS_S3_BUCKET_NAME: 'b' }, issues)!.endpoint, null, 'AWS itself when AWS_ENDPOINT is unset');
  });

  test('errors are collected', () => {
    const issues: ConfigIssue[] = [];
    assert.equal(
      parseS3(
        { AWS_S3_BUCKET_NAME: 'b', AWS_ACCESS_KEY_ID: 'k', AWS_PART_SIZE: '2', AWS_ENDPOINT_CA_CERT: '/nonexistent/ca.pem', AWS_CHECKSUM: 'sometimes' },
        issues,
      ),
      null,
    );
    assert.deepEqual(issues.map((i) => i.variable).sort(), ['AWS_CHECKSUM', 'AWS_ENDPOINT_CA_CERT', 'AWS_PART_SIZE', 'AWS_SECRET_ACCESS_KEY']);
  });

  test('part size grows so any known size fits in 10,000 parts; memory stays bounded', () => {
    assert.equal(partSizeFor(16 * MiB, undefined), 16 * MiB);
    assert.equal(partSizeFor(16 * MiB, 4 * 1024 * MiB), 16 * MiB);
    const huge = 1024 * 1024 * MiB; // 1 TiB
    const p = partSizeFor(16 * MiB, huge);
    assert.ok(p * 10_000 >= huge);
    assert.equal(p % MiB, 0);
    assert.equal(queueSizeFor(16 * MiB), 2);
    assert.equal(queueSizeFor(8 * MiB), 4);
    assert.equal(queueSizeFor(p), 1);
    assert.equal(queueSizeFor(32 * MiB), 1);
  });
});

test('S3 upload to a port where nothing listens fails with the connection error', async () => {
  const port = await deadPort();
  const d = createS3Destination(config(`http://127.0.0.1:${port}`, ''), { retry: { ...retry, attempts: 1 } }, log);
  await assert.rejects(d.upload('x.tar', generated(MiB).stream), /ECONNREFUSED/);
  await d.close();
});
