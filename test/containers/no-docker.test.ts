import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunHooks } from '../../src/containers/hooks.ts';
import { captureLogger, ctxFor, jobFrom, newStats } from './helpers.ts';

// Its own file: "said once" is once per process.
describe('without Docker', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'offsite-nodocker-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('features are off, said once at info level, and the hooks do nothing', async () => {
    const { log, lines } = captureLogger();
    const sock = join(dir, 'docker.sock');
    const job = jobFrom({});
    const hooks = await createRunHooks(job, log, { defaultSocket: sock });
    const stats = newStats();
    for (const h of ['archivePre', 'archivePost', 'processPre', 'processPost', 'copyPre', 'copyPost', 'prunePre', 'prunePost', 'finish'] as const) {
      await hooks[h](ctxFor(stats));
    }
    await createRunHooks(job, log, { defaultSocket: sock });
    const said = lines.filter((l) => /Docker/.test(l.msg));
    assert.equal(said.length, 1);
    assert.equal(said[0]!.level, 30);
    assert.match(said[0]!.msg, /stopping containers and exec labels are off/);
    assert.equal(stats.status, 'success');
  });

  it('nothing before the archive can change the sources (the run may pre-scan them early) unless BACKUP_PRE_COMMAND is set or Docker is there', async () => {
    const { log } = captureLogger();
    const sock = join(dir, 'docker.sock');
    assert.equal((await createRunHooks(jobFrom({}), log, { defaultSocket: sock })).preArchive, false);
    assert.equal((await createRunHooks(jobFrom({ BACKUP_PRE_COMMAND: 'true' }), log, { defaultSocket: sock })).preArchive, true);
    assert.equal((await createRunHooks(jobFrom({ DOCKER_HOST: 'tcp://127.0.0.1:1' }), log, { defaultSocket: sock })).preArchive, true);
  });
});
