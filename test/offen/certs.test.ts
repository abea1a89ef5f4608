// Translated from offen/docker-volume-backup test/certs (run.sh, docker-compose.yml, san.cnf): a
// root CA (key encrypted with -des3, passphrase "test") signs the S3 server's certificate
// (subjectAltName from san.cnf); the server speaks only HTTPS (MinIO with --certs-dir on :443) and
// the backup trusts it through AWS_ENDPOINT_CA_CERT, a file holding the root CA (AWS_ENDPOINT
// without AWS_ENDPOINT_PROTO: https); one backup run by hand as test.tar.gz, which `tar -xvf` of
// the stored object must give with backup/app_data/offen.db. Added: without AWS_ENDPOINT_CA_CERT
// the same backup fails (the certificate is not trusted), so the check above can fail.
// Without Docker: the server is s3rver over HTTPS (test/servers/s3rver.ts) on 127.0.0.1, read
// through its data directory (object `<key>` = file `<bucket>/<key>._S3rver_object`). The
// certificate names `localhost` (san.cnf: DNS:minio.local, a name only Docker's network resolves)
// and AWS_ENDPOINT is localhost:<port>; keys are 2048 bits (4096 in run.sh; the size does not
// change what is tested). As in test/offen/s3.test.ts, s3rver's own keys (S3RVER/S3RVER) and
// AWS_CHECKSUM=when_required. expect_running_containers needs Docker and is left out; offsite
// runs as a process, the volume is a directory under <tmp>/backup/app_data.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isolatedEnv, runCli } from '../helpers/cli.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';

const SUFFIX = '._S3rver_object';
const dirs: string[] = [];
let server: S3rverHandle;
let certDir: string;
before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'offen-certs-')); // export CERT_DIR=$(mktemp -d)
  dirs.push(certDir);
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: certDir, stdio: 'pipe' });
  ssl(['genrsa', '-des3', '-passout', 'pass:test', '-out', 'rootCA.key', '2048']);
  ssl([
    'req',
    '-passin',
    'pass:test',
    '-subj',
    '/C=DE/ST=BE/O=IntegrationTest, Inc.',
    '-x509',
    '-new',
    '-key',
    'rootCA.key',
    '-sha256',
    '-days',
    '1',
    '-out',
    'rootCA.crt',
  ]);
  ssl(['genrsa', '-out', 'minio.key', '2048']);
  ssl(['req', '-new', '-sha256', '-key', 'minio.key', '-subj', '/C=DE/ST=BE/O=IntegrationTest, Inc./CN=minio', '-out', 'minio.csr']);
  writeFileSync(join(certDir, 'san.cnf'), 'subjectAltName = DNS:localhost\n');
  ssl([
    'x509',
    '-req',
    '-passin',
    'pass:test',
    '-in',
    'minio.csr',
    '-CA',
    'rootCA.crt',
    '-CAkey',
    'rootCA.key',
    '-CAcreateserial',
    '-extfile',
    'san.cnf',
    '-out',
    'minio.crt',
    '-days',
    '1',
    '-sha256',
  ]);
  server = await startS3rver({ buckets: ['backup'], https: { keyFile: join(certDir, 'minio.key'), certFile: join(certDir, 'minio.crt') } });
});
after(async () => {
  await server?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('offen test/certs: AWS_ENDPOINT_CA_CERT trusts the server certificate signed by a private root CA', () => {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const appData = join(dir, 'backup', 'app_data'); // app_data:/backup/app_data:ro
  mkdirSync(appData, { recursive: true });
  writeFileSync(join(appData, 'offen.db'), 'db');
  const base = {
    ...env,
    BACKUP_FILENAME: 'test.tar.gz',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT: `localhost:${server.port}`,
    AWS_S3_BUCKET_NAME: 'backup',
    AWS_CHECKSUM: 'when_required',
    BACKUP_CRON_EXPRESSION: '0 0 5 31 2 ?',
    BACKUP_RETENTION_DAYS: '7',
    BACKUP_PRUNING_LEEWAY: '5s',
    BACKUP_SOURCES: join(dir, 'backup'),
  };
  const object = join(server.directory, 'backup', 'test.tar.gz' + SUFFIX);

  // without the root CA the server is not trusted: the backup fails and stores nothing
  const untrusted = runCli(['backup'], { ...base, BACKUP_RETRY_ATTEMPTS: '1' });
  assert.notEqual(untrusted.code, 0, 'a certificate from an unknown CA is refused');
  assert.match(untrusted.stdout + untrusted.stderr, /certificate|self[- ]signed|issuer/i);
  assert.ok(!existsSync(object));

  const r = runCli(['backup'], { ...base, AWS_ENDPOINT_CA_CERT: join(certDir, 'rootCA.crt') }); // /root/minio-rootCA.crt
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = mkdtempSync(join(tmpdir(), 'offen-certs-out-'));
  dirs.push(out);
  execFileSync('tar', ['-xvf', object, '-C', out]);
  assert.ok(existsSync(join(out, dir.slice(1), 'backup', 'app_data', 'offen.db')), 'Found relevant files in untared remote backups.');
});
