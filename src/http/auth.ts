/**
 * Who is asking, and may they: client addresses (X-Forwarded-For only from
 * OFFSITE_TRUSTED_PROXIES), the per-address limit on failed authentication, and the
 * per-token daily download limit (kept in OFFSITE_STATE_DIR so a restart does not reset it).
 */
import { BlockList, isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Failed authentications an address may make within FAIL_WINDOW_MS before it gets 429. */
export const MAX_FAILURES = 10;
export const FAIL_WINDOW_MS = 60_000;

export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

export class ProxyTrust {
  private readonly list = new BlockList();
  private readonly any: boolean;
  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const [addr, bits] = e.split('/');
      const type = isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
      if (bits !== undefined) this.list.addSubnet(addr!, Number(bits), type);
      else this.list.addAddress(addr!, type);
    }
    this.any = entries.length > 0;
  }

  trusted(addr: string): boolean {
    if (!this.any) return false;
    const a = normalizeAddress(addr);
    const type = isIP(a);
    if (!type) return false;
    return this.list.check(a, type === 6 ? 'ipv6' : 'ipv4');
  }

  /** The client: the peer, or (through trusted proxies) the nearest untrusted address of X-Forwarded-For. */
  client(peer: string, forwardedFor: string | undefined): string {
    let client = normalizeAddress(peer);
    if (!forwardedFor || !this.trusted(client)) return client;
    const hops = forwardedFor
      .split(',')
      .map((s) => normalizeAddress(s.trim()))
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (!isIP(hop)) break;
      client = hop;
      if (!this.trusted(hop)) break;
    }
    return client;
  }
}

export class FailureLimiter {
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  constructor(max = MAX_FAILURES, windowMs = FAIL_WINDOW_MS, now: () => number = Date.now) {
    this.max = max;
    this.windowMs = windowMs;
    this.now = now;
  }

  /** Seconds the address must wait, or 0 when it may try. */
  blockedFor(addr: string): number {
    const f = this.failures.get(addr);
    if (!f) return 0;
    const left = f.since + this.windowMs - this.now();
    if (left <= 0) {
      this.failures.delete(addr);
      return 0;
    }
    return f.count >= this.max ? Math.ceil(left / 1000) : 0;
  }

  fail(addr: string): void {
    const now = this.now();
    const f = this.failures.get(addr);
    if (!f || now - f.since >= this.windowMs) this.failures.set(addr, { count: 1, since: now });
    else f.count++;
    // bounded: forget the oldest addresses
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }
}

/** Downloads and exports per token per UTC day (OFFSITE_DOWNLOAD_DAILY_LIMIT). */
export class DownloadLimit {
  private readonly file: string;
  private readonly limit: number;
  private day = '';
  private counts: Record<string, number> = {};
  constructor(stateDir: string, limit: number) {
    this.file = join(stateDir, 'downloads.json');
    this.limit = limit;
    try {
      const j = JSON.parse(readFileSync(this.file, 'utf8')) as { day?: string; counts?: Record<string, number> };
      if (typeof j.day === 'string' && j.counts && typeof j.counts === 'object') {
        this.day = j.day;
        this.counts = j.counts;
      }
    } catch {
      /* none yet */
    }
  }

  /** Take one download for `token` today: false when the day's limit is used up. */
  async take(token: string, now = new Date()): Promise<{ ok: boolean; used: number; limit: number }> {
    const day = now.toISOString().slice(0, 10);
    if (day !== this.day) {
      this.day = day;
      this.counts = {};
    }
    const used = this.counts[token] ?? 0;
    if (used >= this.limit) return { ok: false, used, limit: this.limit };
    this.counts[token] = used + 1;
    await mkdir(join(this.file, '..'), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ day: this.day, counts: this.counts }));
    await rename(tmp, this.file);
    return { ok: true, used: used + 1, limit: this.limit };
  }
}
