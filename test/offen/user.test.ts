// Translated from offen/docker-volume-backup test/user (run.sh, docker-compose.yml): the
// container `alpine` has docker-volume-backup.archive-pre=/bin/sh -c 'whoami > /tmp/whoami.txt'
// with docker-volume-backup.archive-pre.user=testuser (a user run.sh adds in the container); the
// archive holds backup/data/whoami.txt with that user's name. No Docker engine runs here:
// offsite talks to the Docker Engine API stand-in (test/servers/docker-fake.ts) through
// DOCKER_HOST, which runs an exec as a process on this machine under the exec's User, so the
// user is a user of this machine (the SFTP tests' user, created the same way, instead of
// adding `testuser`), and the volume app_data (the container's /tmp, world-writable) is a
// world-writable directory <tmp>/backup/data. Needs root (to run a process as another user).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureSftpUser, SFTP_USER } from '../servers/sshd.ts';
import { isolatedEnv } from '../helpers/cli.ts';
import { backupWithDocker, dockerStandIn, NEVER, untar } from './scenario.ts';

const root = process.getuid?.() === 0;
const docker = dockerStandIn();
const dirs = docker.dirs;

test(
  'offen test/user: the archive-pre command runs as the label .user; whoami.txt holds that name',
  { skip: root ? false : 'needs root to run the command as another user' },
  async () => {
    const { fake } = docker;
    ensureSftpUser();
    const iso = isolatedEnv();
    dirs.push(iso.dir);
    chmodSync(iso.dir, 0o755);
    const volume = join(iso.dir, 'backup', 'data');
    mkdirSync(volume, { recursive: true });
    chmodSync(join(iso.dir, 'backup'), 0o755);
    chmodSync(volume, 0o1777);
    mkdirSync(join(iso.dir, 'local'));
    fake.addContainer({
      name: 'user-alpine-1',
      labels: {
        'docker-volume-backup.archive-pre.user': SFTP_USER,
        'docker-volume-backup.archive-pre': `/bin/sh -c 'whoami > ${volume}/whoami.txt'`,
      },
    });
    const r = await backupWithDocker(fake, {
      ...iso.env,
      BACKUP_FILENAME: 'test.tar.gz',
      BACKUP_CRON_EXPRESSION: NEVER,
      EXEC_FORWARD_OUTPUT: 'true',
      BACKUP_SOURCES: volume,
      BACKUP_ARCHIVE: join(iso.dir, 'local'),
    });
    assert.equal(r.code, 0, r.out);
    const file = untar(join(iso.dir, 'local', 'test.tar.gz'), dirs)(join(volume, 'whoami.txt'));
    assert.ok(existsSync(file), 'Could not find file written by pre command.');
    assert.equal(readFileSync(file, 'utf8').trim(), SFTP_USER, 'Could not find expected user name.');
  },
);
