import { mkdirSync, writeFileSync, symlinkSync, chmodSync, utimesSync, readdirSync, lstatSync, readlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const OLD = new Date('2001-09-09T01:46:40Z');

/**
 * A tree with the cases a tar writer gets wrong: unicode names, names over
 * 100 bytes, deep paths, symlinks (relative, absolute, dangling), empty
 * directories, 0-byte files, modes 0600/0755, old mtimes.
 */
export function makeTree(root: string): void {
  mkdirSync(root, { recursive: true });
  const f = (rel: string, content: string | Buffer, mode = 0o644) => {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
    chmodSync(p, mode);
  };
  f('plain.txt', 'hello world\n');
  f('empty.bin', '');
  f('secret.key', 'private\n', 0o600);
  f('run.sh', '#!/bin/sh\necho hi\n', 0o755);
  f('ünïcödé/日本語のファイル名.txt', 'unicode content ✓\n');
  f(`long/${'a'.repeat(120)}.txt`, 'long name\n');
  f(`${'deep/'.repeat(40)}bottom.txt`, 'deep path\n');
  f('binary.dat', Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256)));
  f('old.txt', 'from 2001\n');
  utimesSync(join(root, 'old.txt'), OLD, OLD);
  mkdirSync(join(root, 'empty-dir'), { recursive: true });
  mkdirSync(join(root, 'empty-dir-old'), { recursive: true });
  utimesSync(join(root, 'empty-dir-old'), OLD, OLD);
  symlinkSync('plain.txt', join(root, 'link-relative'));
  symlinkSync('/etc/hostname', join(root, 'link-absolute'));
  symlinkSync('does-not-exist', join(root, 'link-dangling'));
  symlinkSync(`../long/${'a'.repeat(120)}.txt`, join(root, 'ünïcödé/link-to-long'));
}

export interface EntryInfo {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtime: number;
  content?: string;
  target?: string;
}

/** Every entry under root: type, permission bits, mtime (seconds), content hash-ish or link target. */
export function describeTree(root: string, skipDirMtime = true): Map<string, EntryInfo> {
  const out = new Map<string, EntryInfo>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const s = lstatSync(p);
      const mtime = Math.floor(s.mtimeMs / 1000);
      if (s.isSymbolicLink()) out.set(r, { type: 'symlink', mode: 0, mtime, target: readlinkSync(p) });
      else if (s.isDirectory()) {
        out.set(r, { type: 'dir', mode: s.mode & 0o7777, mtime: skipDirMtime ? 0 : mtime });
        walk(r);
      } else out.set(r, { type: 'file', mode: s.mode & 0o7777, mtime, content: readFileSync(p).toString('base64') });
    }
  };
  walk('');
  return out;
}
