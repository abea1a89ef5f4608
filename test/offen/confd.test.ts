// Translated from offen/docker-volume-backup test/confd (run.sh, 01backup.env, 02backup.env,
// 03never.env, docker-compose.yml) and the cases of cmd/backup/config_provider_test.go
// (testdata/*.env), which pin how offen reads a conf.d file.
// Differences: the daemon runs offsite as a process instead of a container, the stopped
// `offen` container is left out (no Docker), and the two per-minute jobs fire every second
// (`* * * * * *` instead of `*/1 * * * *`) so the test waits seconds, not 100s.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { isolatedEnv, startCli } from '../helpers/cli.ts';
import { sourceConfFile } from '../../src/config/env.ts';
import { loadConfig } from '../../src/config/index.ts';

// offen's test/confd files, verbatim
const BACKUP01 = `# This is a comment
# NOT=$(docker ps -aq)
# e.g. \`backup-$HOSTNAME-%Y-%m-%dT%H-%M-%S.tar.gz\`. Expansion happens before\`

NAME="$EXPANSION_VALUE"
BACKUP_CRON_EXPRESSION="*/1 * * * *"
`;
const BACKUP02 = `NAME="other"
BACKUP_CRON_EXPRESSION="*/1 * * * *"
BACKUP_FILENAME="override-$NAME.tar.gz"
`;
const NEVER03 = `NAME="never"
BACKUP_CRON_EXPRESSION="0 0 5 31 2 ?"
`;
// docker-compose.yml's environment (compose turns $$NAME into $NAME)
const COMPOSE_ENV = { BACKUP_FILENAME: '$NAME.tar.gz', BACKUP_FILENAME_EXPAND: 'true', EXPANSION_VALUE: 'conf' };

describe('offen config_provider_test.go: source()', () => {
  const env = { QUX: 'yyy' };
  test('default', () => assert.deepEqual(sourceConfFile('FOO=bar\nBAZ=qux\n', env), { FOO: 'bar', BAZ: 'qux' }));
  test('braces', () => assert.deepEqual(sourceConfFile('FOO=${bar:-qux}\nBAR=xxx\nBAZ=$NOPE\n', env), { FOO: 'qux', BAR: 'xxx', BAZ: '' }));
  test('expansion', () =>
    assert.deepEqual(sourceConfFile('BAR=xxx\nFOO=${BAR}\nBAZ=$BAR\nQUX=${QUX}\n', env), { BAR: 'xxx', FOO: 'xxx', BAZ: 'xxx', QUX: 'yyy' }));
  test('comments', () => {
    const text =
      '# This is a comment about `why` things are here\n# FOO="${bar:-qux}"\n # e.g. `backup-$HOSTNAME-%Y-%m-%dT%H-%M-%S.tar.gz`. Expansion happens before`\n\nBAR=xxx\n\nBAZ=$QUX\n';
    assert.deepEqual(sourceConfFile(text, env), { BAR: 'xxx', BAZ: 'yyy' });
  });
  test('an earlier line wins over the environment; quotes do not stop expansion', () => {
    assert.deepEqual(sourceConfFile('QUX=zzz\nA=\'$QUX\'\nB="${QUX}-x"\nC=\\$QUX\n', env), { QUX: 'zzz', A: 'zzz', B: 'zzz-x', C: '$QUX' });
  });
  test('command substitution is refused, naming the line', () => {
    assert.throws(() => sourceConfFile('A=1\nB=$(id -u)\n', env), /line 2: command substitution/);
  });
});

describe('offen test/confd', () => {
  test('the conf.d files load: expansion from earlier lines and the environment, the "never" schedule is accepted', () => {
    const { dir, env } = isolatedEnv(COMPOSE_ENV);
    writeFileSync(join(dir, 'conf.d', '01backup.env'), BACKUP01);
    writeFileSync(join(dir, 'conf.d', '02backup.env'), BACKUP02);
    writeFileSync(join(dir, 'conf.d', '03never.env'), NEVER03);
    const archive = join(dir, 'archive');
    mkdirSync(archive);
    const c = loadConfig({ env: { ...env, BACKUP_ARCHIVE: archive } });
    assert.deepEqual(
      c.jobs.map((j) => [j.name, j.schedule.cron, j.archive.filenameTemplate]),
      [
        ['01backup', '*/1 * * * *', 'conf.tar.gz'],
        ['02backup', '*/1 * * * *', 'override-other.tar.gz'],
        ['03never', '0 0 5 31 2 ?', 'never.tar.gz'],
      ],
    );
  });

  test('run.sh: both jobs run on their schedule, the "never" job does not', async (t) => {
    const { dir, env } = isolatedEnv(COMPOSE_ENV);
    const src = join(dir, 'backup', 'app_data');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'offen.db'), 'data');
    const local = join(dir, 'archive');
    mkdirSync(local);
    const everySecond = (s: string) => s.replace('"*/1 * * * *"', '"* * * * * *"');
    writeFileSync(join(dir, 'conf.d', '01backup.env'), everySecond(BACKUP01));
    writeFileSync(join(dir, 'conf.d', '02backup.env'), everySecond(BACKUP02));
    writeFileSync(join(dir, 'conf.d', '03never.env'), NEVER03);
    const child = startCli(['daemon'], { ...env, BACKUP_SOURCES: join(dir, 'backup'), BACKUP_ARCHIVE: local });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    child.stderr!.on('data', (d) => {
      out += d;
    });
    t.after(() => {
      child.kill('SIGKILL');
    });
    const end = Date.now() + 60_000;
    while (!(existsSync(join(local, 'conf.tar.gz')) && existsSync(join(local, 'override-other.tar.gz')))) {
      if (Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, out);
    assert.ok(existsSync(join(local, 'conf.tar.gz')), `Config from file was not used.\n${out}`);
    assert.ok(existsSync(join(local, 'override-other.tar.gz')), `Run on same schedule did not succeed.\n${out}`);
    assert.ok(!existsSync(join(local, 'never.tar.gz')), 'Unexpected file was found.');
    assert.match(out, /03never never runs on its own/);
  });
});
