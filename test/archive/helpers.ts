/** Shared fixtures for the archive tests: a tricky source tree, GNU tar, tree comparison. */
import * as fs from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { createArchive, type ArchiveOptions, type ArchiveResult } from '../../src/archive/index.ts';
import { archiveNameOf } from '../../src/archive/layout.ts';
import { silentLogger } from '../../src/log.ts';

export function tempDir(prefix = 'offsite-archive-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const OLD = new Date('2001-09-09T01:46:40Z'); // 1000000000

/**
 * Builds the source tree under `root/app` and `root/other/data`; returns the two
 * source paths. Covers: unicode and > 100 byte names, a path > 255 bytes,
 * relative/dangling/absolute/long symlinks, empty directories, 0-byte files,
 * modes 0600/0755/setgid dir, 2001 mtimes, a multi-block file.
 */
export function buildTree(root: string): string[] {
  const app = join(root, 'app');
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    const p = join(app, rel);
    fs.mkdirSync(join(p, '..'), { recursive: true });
    fs.writeFileSync(p, data);
    fs.chmodSync(p, mode);
    return p;
  };
  fs.mkdirSync(app, { recursive: true });
  w('zero.bin', '');
  w('secret.txt', 'top secret\n', 0o600);
  w('run.sh', '#!/bin/sh\necho hi\n', 0o755);
  w('häßlich-日本語-файл.txt', 'unicode ✓\n');
  w('n'.repeat(150) + '.txt', 'long name\n');
  const deep = ['d'.repeat(60), 'e'.repeat(60), 'f'.repeat(60), 'g'.repeat(60), 'h'.repeat(60)].join('/');
  w(join(deep, 'deep-file-with-a-rather-long-name-' + 'x'.repeat(40) + '.txt'), 'deep\n');
  w('big/random.bin', randomBytes(3 * 1024 * 1024 + 123));
  w('big/text.txt', 'compressible line of text\n'.repeat(100_000));
  fs.mkdirSync(join(app, 'empty-dir'));
  fs.mkdirSync(join(app, 'nested-empty/inner'), { recursive: true });
  fs.mkdirSync(join(app, 'shared'));
  fs.chmodSync(join(app, 'shared'), 0o2775);
  fs.symlinkSync('run.sh', join(app, 'link-relative'));
  fs.symlinkSync('does/not/exist', join(app, 'link-dangling'));
  fs.symlinkSync('/etc/hostname', join(app, 'link-absolute'));
  fs.symlinkSync('../' + 't'.repeat(120), join(app, 'link-long-target'));
  fs.symlinkSync('häßlich-日本語-файл.txt', join(app, 'link-unicode'));
  const old = w('old/ancient.txt', 'from 2001\n');
  fs.utimesSync(old, OLD, OLD);
  fs.utimesSync(join(app, 'old'), OLD, OLD);
  fs.utimesSync(join(app, 'empty-dir'), OLD, OLD);

  const data = join(root, 'other', 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.writeFileSync(join(data, 'db.sqlite'), randomBytes(5000));
  fs.mkdirSync(join(data, 'sub'));
  fs.writeFileSync(join(data, 'sub', 'x.txt'), 'x');
  return [app, data];
}

export interface Node {
  type: 'file' | 'dir' | 'symlink';
  mode?: number;
  mtime?: number;
  size?: number;
  sha?: string;
  target?: string;
}

/** Path -> metadata of every entry under `dir` (relative paths, sorted). */
export function describeTree(dir: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const walk = (abs: string, rel: string) => {
    const st = fs.lstatSync(abs);
    if (st.isSymbolicLink()) {
      out.set(rel, { type: 'symlink', target: fs.readlinkSync(abs) });
    } else if (st.isDirectory()) {
      out.set(rel, { type: 'dir', mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) });
      for (const name of fs.readdirSync(abs).sort()) walk(join(abs, name), rel ? `${rel}/${name}` : name);
    } else if (st.isFile()) {
      out.set(rel, {
        type: 'file',
        mode: st.mode & 0o7777,
        mtime: Math.floor(st.mtimeMs / 1000),
        size: st.size,
        sha: createHash('sha256').update(fs.readFileSync(abs)).digest('hex'),
      });
    }
  };
  for (const name of fs.readdirSync(dir).sort()) walk(join(dir, name), name);
  return out;
}

/** Expected extraction of `sources`: each under its base name. */
/**
 * What an archive of `sources` holds, keyed by archive path (the source path without its
 * leading slash, `tmp/x/src/app/...`): read from the sources themselves, or with `under`,
 * from an extraction of the archive into `under` (only the sources' own entries, not the
 * parent directories tar creates on the way).
 */
export function describeSources(sources: string[], under?: string): Map<string, Node> {
  const out = new Map<string, Node>();
  for (const s of sources) {
    const parent = join(s, '..');
    const base = s.slice(parent.length + 1);
    const prefix = archiveNameOf(parent);
    const tree = describeTree(under === undefined ? parent : join(under, prefix));
    for (const [k, v] of tree) if (k === base || k.startsWith(base + '/')) out.set(`${prefix}/${k}`, v);
  }
  return out;
}

/** A source's path inside the archive (without the leading slash). */
export function inArchive(source: string, rel = ''): string {
  return rel ? `${archiveNameOf(source)}/${rel}` : archiveNameOf(source);
}

export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...opts, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

export function options(sources: string[], extra: Partial<ArchiveOptions> = {}): ArchiveOptions {
  return { sources, exclude: null, compression: 'gz', parallelism: 1, log: silentLogger(), ...extra };
}

/** Writes the archive to `file`; returns the result and the sha256/size of the bytes received. */
export async function archiveTo(file: string, opts: ArchiveOptions): Promise<{ result: ArchiveResult; sha256: string; size: number }> {
  const a = createArchive(opts);
  const hash = createHash('sha256');
  let size = 0;
  a.stream.on('data', (c: Buffer) => {
    hash.update(c);
    size += c.length;
  });
  await pipeline(a.stream, createWriteStream(file));
  const result = await a.done;
  return { result, sha256: hash.digest('hex'), size };
}

export const TAR_EXTRACT: Record<'gz' | 'zst' | 'none', string[]> = {
  gz: ['-xzf'],
  zst: ['--zstd', '-xf'],
  none: ['-xf'],
};
