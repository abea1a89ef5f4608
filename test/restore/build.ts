/** Build tar archives entry by entry (hostile ones included) for restore tests. */
import tar from 'tar-stream';
import type { Header } from 'tar-stream';
import { gzipSync } from 'node:zlib';
import { mkdirSync, readdirSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

export type TarEntry = Partial<Header> & { name: string; content?: string | Buffer };

/** A tar built with tar-stream from explicit headers. */
export async function buildTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const { content, ...header } = e;
    const body = content === undefined ? undefined : Buffer.isBuffer(content) ? content : Buffer.from(content);
    await new Promise<void>((resolve, reject) => {
      const h = { mtime: new Date('2020-01-02T03:04:05Z'), mode: header.type === 'directory' ? 0o755 : 0o644, ...header };
      pack.entry(h, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function buildTgz(entries: TarEntry[]): Promise<Buffer> {
  return gzipSync(await buildTar(entries));
}

/** A scratch layout: `target` to restore into, `outside` holding a sentinel that must never change. */
export function layout(base: string, name: string): { root: string; target: string; outside: string } {
  const root = join(base, name);
  const target = join(root, 'target');
  const outside = join(root, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'sentinel'), 'untouched');
  return { root, target, outside };
}

/** Every path under dir (recursive, lstat only), sorted. */
export function listAll(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (lstatSync(join(dir, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
