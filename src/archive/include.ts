/**
 * `restore --include`: which archive paths a restore takes. Each pattern is a
 * path exactly as `offsite ls` lists it (a directory takes everything below
 * it), or a glob (`*`, `?`, `[...]`, `{a,b}`, `**`; node:path's matchesGlob,
 * where like the shell `*` does not match a name starting with a dot). An
 * entry is taken when it, or a directory above it, matches. A pattern is
 * tried both ways, so a listed path holding `[` or `*` still matches itself.
 * A leading slash is dropped (`/backup/app` is the archive's `backup/app`); for
 * an archive in the older base-name layout it is mapped to that layout.
 */
import { matchesGlob } from 'node:path';
import { UserError } from '../errors.ts';

const GLOB_CHARS = /[*?[\]{}]/;

interface Pattern {
  /** As given, normalised (no leading ./ or /, no trailing /). */
  text: string;
  /** Given as an absolute path (`/backup/app/x`): a source path, see `useBaseNameLayout`. */
  absolute: boolean;
  /** What error messages show (the normalised pattern as given). */
  shown: string;
  glob: boolean;
  /** The directories above the first glob character (all of them for a plain path). */
  staticDir: string;
}

function normalize(p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.includes('..'))
    throw new UserError(
      `--include ${JSON.stringify(p)} must not contain ".."`,
      'give a path as `offsite ls` lists it, e.g. backup/app/config, or a glob such as backup/app/**/*.conf',
    );
  return parts.join('/');
}

export class Includes {
  private readonly patterns: Pattern[];
  private readonly hit = new Set<string>();
  /** Per directory path: the patterns it matches as a glob (memo, bounded by the directories seen). */
  private readonly dirMemo = new Map<string, string[]>();

  constructor(raw: readonly string[] = []) {
    this.patterns = raw.map((r) => pattern(normalize(r), r.startsWith('/')));
  }

  /**
   * The archive stores each source under its base name (offsite before the path
   * layout: `/backup/app/x` as `app/x`): a pattern given as an absolute path under
   * one of `sources` is rewritten to that layout, so `--include /backup/app/x`
   * restores the same files from old and new archives. Call before matching.
   */
  useBaseNameLayout(sources: readonly string[]): void {
    const roots = sources.map((s) => normalize(s)).filter((s) => s !== '');
    for (let i = 0; i < this.patterns.length; i++) {
      const p = this.patterns[i]!;
      if (!p.absolute) continue;
      const root = roots.find((r) => p.text === r || p.text.startsWith(`${r}/`));
      if (root === undefined) continue;
      const base = root.slice(root.lastIndexOf('/') + 1);
      this.patterns[i] = { ...pattern(base + p.text.slice(root.length), true), shown: p.shown };
    }
  }

  get all(): boolean {
    return this.patterns.length === 0;
  }

  /** Glob patterns that `path` itself matches. */
  private globHits(path: string): string[] {
    const out: string[] = [];
    for (const p of this.patterns) if (p.glob && matchesGlob(path, p.text)) out.push(p.text);
    return out;
  }

  /** Glob patterns that directory `dir` or one above it matches. */
  private dirHits(dir: string): string[] {
    if (dir === '') return [];
    let hits = this.dirMemo.get(dir);
    if (hits) return hits;
    const slash = dir.lastIndexOf('/');
    hits = [...this.globHits(dir), ...this.dirHits(slash < 0 ? '' : dir.slice(0, slash))];
    if (this.dirMemo.size < 1_000_000) this.dirMemo.set(dir, hits);
    return hits;
  }

  /** Is the archive path `rel` (normalised) taken? Records which patterns matched. */
  includes(rel: string): boolean {
    if (this.patterns.length === 0) return true;
    let taken = false;
    for (const p of this.patterns) {
      if (p.text === '' || rel === p.text || rel.startsWith(`${p.text}/`)) {
        this.hit.add(p.text);
        taken = true;
      }
    }
    if (this.patterns.some((p) => p.glob)) {
      const slash = rel.lastIndexOf('/');
      for (const t of [...this.globHits(rel), ...this.dirHits(slash < 0 ? '' : rel.slice(0, slash))]) {
        this.hit.add(t);
        taken = true;
      }
    }
    return taken;
  }

  /** Does some pattern need `dir` as a parent (so the directory keeps its archived mode and time)? */
  isAncestor(dir: string): boolean {
    return this.patterns.some((p) => p.staticDir === dir || p.staticDir.startsWith(`${dir}/`) || (p.glob && p.text.startsWith(`${dir}/`)));
  }

  /** Patterns that matched nothing (as given). */
  unmatched(): string[] {
    return this.patterns.filter((p) => !this.hit.has(p.text)).map((p) => p.shown);
  }
}

function pattern(text: string, absolute: boolean): Pattern {
  const glob = GLOB_CHARS.test(text);
  const cut = glob ? text.slice(0, text.search(GLOB_CHARS)) : text;
  return { text, absolute, shown: absolute ? `/${text}` : text, glob, staticDir: glob ? cut.slice(0, Math.max(0, cut.lastIndexOf('/'))) : text };
}
