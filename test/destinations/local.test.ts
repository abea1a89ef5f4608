import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readlink, rm, writeFile, readFile, chmod, mkdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalDestination } from '../../src/destinations/local.ts';
import { silentLogger } from '../../src/log.ts';
import { runDestinationContract } from './contract.ts';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { bytes, generated } from './streams.ts';

const log = silentLogger();

runDestinationContract(
  'Local',
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'offsite-local-'));
    return {
      // BACKUP_ARCHIVE is an existing (mounted) directory: the harness creates it, the destination never does
      create: async (path) => {
        await mkdir(join(root, path), { recursive: true });
        return createLocalDestination({ dir: join(root, path), latestSymlink: null }, log);
      },
      // the "server side" of a local destination failing mid-upload: its file system fills up (a 3 MiB tmpfs)
      failing: async (path) => {
        const dir = join(root, path);
        await mkdir(dir, { recursive: true });
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
        return {
          d: createLocalDestination({ dir, latestSymlink: null }, log),
          breakAfter: async () => {},
          heal: async () => {},
          stored: () => readdirSync(dir).sort(),
          close: async () => {
            execFileSync('umount', ['-l', dir]);
          },
        };
      },
      teardown: () => rm(root, { recursive: true, force: true }),
    };
  },
  {
    'upload to a stopped server fails clearly': 'the local destination has no server to stop; disk errors are covered in local.test.ts',
    'path that does not exist yet':
      'the local directory is a mount and is never created; a missing one is refused (see "a missing directory is refused" in local.test.ts)',
  },
);

describe('Local destination specifics', () => {
  const roots: string[] = [];
  after(async () => {
    for (const r of roots) await rm(r, { recursive: true, force: true });
  });
  const newRoot = async () => {
    const r = await mkdtemp(join(tmpdir(), 'offsite-local-'));
    roots.push(r);
    return r;
  };

  test('refuses to overwrite an existing backup and keeps it intact', async () => {
    const dir = await newRoot();
    const d = createLocalDestination({ dir, latestSymlink: null }, log);
    await d.upload('backup-a.tar.gz', bytes('first').stream);
    await assert.rejects(d.upload('backup-a.tar.gz', bytes('second').stream), /already exists; refusing to overwrite/);
    assert.equal(await readFile(join(dir, 'backup-a.tar.gz'), 'utf8'), 'first');
    assert.deepEqual(await readdir(dir), ['backup-a.tar.gz']);
  });

  test('a failed upload removes its temporary file', async () => {
    const dir = await newRoot();
    const d = createLocalDestination({ dir, latestSymlink: null }, log);
    const g = generated(4 << 20, { failAfter: 1 << 20 });
    await assert.rejects(d.upload('backup-b.tar.gz', g.stream));
    assert.deepEqual(await readdir(dir), []);
  });

  test('list ignores temporary files, symlinks and directories', async () => {
    const dir = await newRoot();
    const d = createLocalDestination({ dir, latestSymlink: 'latest.tar.gz' }, log);
    await d.upload('backup-1.tar.gz', bytes('1').stream);
    await writeFile(join(dir, '.backup-2.tar.gz.0123456789abcdef.tmp'), 'partial');
    await mkdir(join(dir, 'backup-dir'));
    const names = (await d.list('')).map((o) => o.name);
    assert.deepEqual(names, ['backup-1.tar.gz']);
    assert.equal(await readlink(join(dir, 'latest.tar.gz')), 'backup-1.tar.gz');
  });

  test('latest symlink is swapped to each new backup and never listed', async () => {
    const dir = await newRoot();
    const d = createLocalDestination({ dir, latestSymlink: 'latest' }, log);
    await d.upload('backup-1.tar.gz', bytes('one').stream);
    assert.equal(await readlink(join(dir, 'latest')), 'backup-1.tar.gz');
    await d.upload('backup-2.tar.gz', bytes('two').stream);
    assert.equal(await readlink(join(dir, 'latest')), 'backup-2.tar.gz');
    assert.equal(await readFile(join(dir, 'latest'), 'utf8'), 'two');
    assert.deepEqual((await readdir(dir)).sort(), ['backup-1.tar.gz', 'backup-2.tar.gz', 'latest']);
    // a failed upload leaves the symlink on the previous backup
    await assert.rejects(d.upload('backup-3.tar.gz', generated(1 << 20, { failAfter: 1000 }).stream));
    assert.equal(await readlink(join(dir, 'latest')), 'backup-2.tar.gz');
  });

  test('rejects names with path separators', async () => {
    const dir = await newRoot();
    const d = createLocalDestination({ dir, latestSymlink: null }, log);
    await assert.rejects(d.upload('../escape.tar', bytes('x').stream), /not a plain file name/);
    await assert.rejects(d.remove(['a/b']), /not a plain file name/);
    assert.deepEqual(await readdir(dir), []);
  });

  test(
    'an unwritable directory fails with the path in the error',
    { skip: process.getuid?.() === 0 ? 'root ignores directory permissions' : false },
    async () => {
      const dir = await newRoot();
      await chmod(dir, 0o500);
      const d = createLocalDestination({ dir, latestSymlink: null }, log);
      await assert.rejects(d.upload('backup-x.tar', bytes('x').stream), (e: Error) => e.message.includes(dir));
    },
  );

  test('a missing directory is refused, never created', async () => {
    const dir = join(await newRoot(), 'unmounted');
    const d = createLocalDestination({ dir, latestSymlink: null }, log);
    await assert.rejects(d.upload('backup-x.tar', bytes('x').stream), /Local: .*unmounted does not exist/);
    await assert.rejects(stat(dir), /ENOENT/);
    assert.deepEqual(await d.list(''), []);
  });

  test('a directory that is a file fails clearly', async () => {
    const root = await newRoot();
    const file = join(root, 'not-a-dir');
    await writeFile(file, 'x');
    const d = createLocalDestination({ dir: file, latestSymlink: null }, log);
    await assert.rejects(d.upload('backup-x.tar', bytes('x').stream), /is not a directory/);
  });
});
