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
});
