import type { NotifyMessage } from '../types.ts';

/** The sender's title overrides the URL's `title` (shoutrrr applies params over the URL config). */
export function titleOf(msg: NotifyMessage, urlTitle: string): string {
  return msg.title || urlTitle;
}

/** `icon` as slack/mattermost read it: an http(s) URL goes to icon_url, anything else to icon_emoji. */
export function iconFields(icon: string): { icon_emoji?: string; icon_url?: string } {
  if (!icon) return {};
  return /https?:\/\//.test(icon) ? { icon_url: icon } : { icon_emoji: icon };
}

/** Copy with empty-string, undefined and empty-array fields removed (Go's omitempty). */
export function omitEmpty<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out as Partial<T>;
}

/**
 * Split text into parts whose measure (`size`) stays within `max`, preferring
 * line breaks, then spaces, then code-point boundaries. Nothing is dropped.
 */
export function splitText(text: string, max: number, size: (s: string) => number = (s) => Buffer.byteLength(s, 'utf8')): string[] {
  if (size(text) <= max) return [text];
  const parts: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    if (size(rest) <= max) {
      parts.push(rest);
      break;
    }
    // longest prefix (in code points) that fits
    const cps = Array.from(rest);
    let lo = 1,
      hi = cps.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (size(cps.slice(0, mid).join('')) <= max) lo = mid;
      else hi = mid - 1;
    }
    let cut = cps.slice(0, lo).join('');
    const nl = cut.lastIndexOf('\n');
    const sp = cut.lastIndexOf(' ');
    let skip = 0;
    if (nl > cut.length / 3) {
      cut = cut.slice(0, nl);
      skip = 1;
    } else if (sp > cut.length / 2) {
      cut = cut.slice(0, sp);
      skip = 1;
    }
    if (cut.length === 0) {
      cut = cps.slice(0, Math.max(1, lo)).join('');
      skip = 0;
    }
    parts.push(cut);
    rest = rest.slice(cut.length + skip);
  }
  return parts;
}

/** Runes (code points) of a string. */
export function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
