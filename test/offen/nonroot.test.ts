// Translated from offen/docker-volume-backup test/nonroot (run.sh, docker-compose.yml, 01conf.env):
// the backup container runs as `user: 1000:1000` with 01conf.env mounted into conf.d; run.sh
// sources it (`set -a; source /etc/dockervolumebackup/conf.d/01conf.env; set +a && backup`,
// "conf.d is used to confirm /etc files are also accessible for non-root users") and the archive
// must appear in MinIO's data directory as backup/test.tar.gz (bucket `backup`).
// Without Docker: offsite runs as a process with uid and gid 1000 (spawned by root; skipped, with
// that reason, when the test does not run as root), the same shell line sources the conf.d file;
// the volume app_data is a world-readable directory, the conf.d directory, lock and health
// files live in a directory owned by 1000:1000; OFFSITE_STATE_DIR is root's and not writable for
// 1000, as the image's /var/lib/offsite (offsite then remembers nothing, with a warning). The
// server is s3rver (test/servers/s3rver.ts), whose data directory holds an object `<key>` as `<bucket>/<key>._S3rver_object`. Changed values in
// 01conf.env, from the server, not from offsite: s3rver's own keys (S3RVER/S3RVER), its address
// 127.0.0.1:<port> for minio:9000, AWS_CHECKSUM=when_required (see test/offen/s3.test.ts), and
// BACKUP_SOURCES naming the test's directory for offen's default /backup.
// expect_running_containers needs Docker and is left out. Deliberate difference: offen's `backup`
// run by hand reads the environment only (configStrategyEnv in cmd/backup/command.go, which is why
// run.sh sources the file); offsite's `backup` runs every conf.d job, as its daemon does, so here
// the job 01conf runs (same values as the sourced environment, same archive).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI } from '../helpers/cli.ts';
import { startS3rver, S3RVER_CREDENTIALS, type S3rverHandle } from '../servers/s3rver.ts';

const SUFFIX = '._S3rver_object';
const asRoot = process.getuid?.() === 0;
const dirs: string[] = [];
let server: S3rverHandle | undefined;
before(async () => {
  if (asRoot) server = await startS3rver({ buckets: ['backup'] }); // mkdir -p /data/backup && minio server /data
});
after(async () => {
  await server?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test(
  'offen test/nonroot: a backup run as 1000:1000 with a sourced conf.d file stores backup/test.tar.gz',
  { skip: asRoot ? false : 'needs root to run offsite as uid 1000' },
  () => {
    const s3 = server!;
    const dir = mkdtempSync(join(tmpdir(), 'offen-nonroot-'));
    dirs.push(dir);
    chmodSync(dir, 0o755);
    const appData = join(dir, 'backup', 'app_data'); // app_data:/backup/app_data:ro, readable by anyone as offen's volume
    mkdirSync(appData, { recursive: true });
    writeFileSync(join(appData, 'offen.db'), 'db');
    chmodSync(join(dir, 'backup'), 0o755);
    chmodSync(appData, 0o755);
    const home = join(dir, 'home'); // what the user 1000 may write: conf.d, lock, health, BACKUP_TMP_DIR
    const confd = join(home, 'conf.d');
    mkdirSync(confd, { recursive: true });
    writeFileSync(
      join(confd, '01conf.env'),
      `AWS_ACCESS_KEY_ID="${S3RVER_CREDENTIALS.accessKeyId}"
AWS_SECRET_ACCESS_KEY="${S3RVER_CREDENTIALS.secretAccessKey}"
AWS_ENDPOINT="127.0.0.1:${s3.port}"
AWS_ENDPOINT_PROTO="http"
AWS_S3_BUCKET_NAME="backup"
AWS_CHECKSUM="when_required"
BACKUP_CRON_EXPRESSION="0 0 5 31 2 ?"
BACKUP_FILENAME="test.tar.gz"
BACKUP_SOURCES="${join(dir, 'backup')}"
`,
    );
    chmodSync(join(confd, '01conf.env'), 0o644); // - ./01conf.env:/etc/dockervolumebackup/conf.d/01conf.env (the host file's mode)
    for (const p of [home, confd]) chownSync(p, 1000, 1000);

    const env = {
      PATH: process.env.PATH ?? '',
      HOME: home,
      OFFSITE_CONF_DIR: confd,
      OFFSITE_LOCK_FILE: join(home, 'offsite.lock'),
      OFFSITE_HEALTH_FILE: join(home, 'health.json'),
      OFFSITE_STATE_DIR: join(dir, 'state'), // root's, as the image's /var/lib/offsite: not writable for 1000
      OFFSITE_DOTENV: '/dev/null',
      BACKUP_TMP_DIR: join(home, 'tmp'),
      LOG_FORMAT: 'json',
    };
    mkdirSync(env.BACKUP_TMP_DIR);
    mkdirSync(env.OFFSITE_STATE_DIR, { mode: 0o755 });
    chownSync(env.BACKUP_TMP_DIR, 1000, 1000);
    // docker compose exec backup /bin/sh -c 'set -a; source .../01conf.env; set +a && backup'
    const line = `set -a; . '${join(confd, '01conf.env')}'; set +a && exec '${process.execPath}' '${CLI}' backup`;
    const r = spawnSync('/bin/sh', ['-c', line], { env, uid: 1000, gid: 1000, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // Deliberate difference: offen's `backup` by hand reads the environment only (hence run.sh's
    // `source`), offsite's runs the jobs of conf.d, as the daemon would (README, Commands)
    assert.match(r.stdout, /"job":"01conf"/, 'the conf.d job ran');
    const object = join(s3.directory, 'backup', 'test.tar.gz' + SUFFIX);
    assert.ok(existsSync(object), 'Could not find archive.');
    const out = mkdtempSync(join(tmpdir(), 'offen-nonroot-out-'));
    dirs.push(out);
    execFileSync('tar', ['-xzf', object, '-C', out]);
    assert.ok(existsSync(join(out, appData.slice(1), 'offen.db')), 'the archive holds the volume');
  },
);
