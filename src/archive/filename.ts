/**
 * Backup file names: BACKUP_FILENAME with strftime tokens (leekchan/timeutil's
 * set, as offen uses, plus a few common extras) evaluated in the schedule's
 * time zone, and `{{ .Extension }}` replaced by the archive's extension.
 */

export type ExtensionParts = { compression: 'gz' | 'zst' | 'none'; encryption?: 'none' | 'gpg' | 'age' | 'aes' };

export function extensionFor({ compression, encryption = 'none' }: ExtensionParts): string {
  const base = compression === 'gz' ? 'tar.gz' : compression === 'zst' ? 'tar.zst' : 'tar';
  return encryption === 'none' ? base : `${base}.${encryption}`;
}

const EXT_RE = /\{\{\s*\.Extension\s*\}\}/g;

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
  weekday: number;
  offsetMin: number;
  zone: string;
}

/** Calendar fields of `date` as seen in `timeZone`. */
export function zonedParts(date: Date, timeZone: string): Parts {
  const t = date.getTime();
  const span = timeZone === 'UTC' ? UTC_SPAN : Number.isFinite(t) ? zoneSpan(t, timeZone) : null;
  if (!span) return zonedPartsIntl(date, timeZone);
  const w = new Date(t + span.offsetMs);
  return {
    year: w.getUTCFullYear(),
    month: w.getUTCMonth() + 1,
    day: w.getUTCDate(),
    hour: w.getUTCHours(),
    minute: w.getUTCMinutes(),
    second: w.getUTCSeconds(),
    ms: date.getUTCMilliseconds(),
    weekday: w.getUTCDay(),
    offsetMin: Math.round(span.offsetMs / 60_000),
    zone: span.zone,
  };
}

/**
 * A zone's offset and abbreviation over one 15-minute stretch of time, when both are the same at
 * its start and end (offsets change at most once in such a stretch, and since 1970 on its edges,
 * but the cache does not rely on it: a stretch holding a change is not cached). Reading the
 * calendar fields of many instants (a retention plan of hundreds of backups) then costs
 * arithmetic instead of an Intl call each.
 */
interface ZoneSpan {
  offsetMs: number;
  zone: string;
}
const UTC_SPAN: ZoneSpan = { offsetMs: 0, zone: 'UTC' };
const SPAN_MS = 15 * 60_000;
const SPANS = new Map<string, Map<number, ZoneSpan | null>>();

function zoneSpan(t: number, timeZone: string): ZoneSpan | null {
  let byKey = SPANS.get(timeZone);
  if (!byKey) {
    if (SPANS.size > 64) SPANS.clear();
    byKey = new Map();
    SPANS.set(timeZone, byKey);
  }
  const key = Math.floor(t / SPAN_MS);
  let span = byKey.get(key);
  if (span === undefined) {
    const a = zonedPartsIntl(new Date(key * SPAN_MS), timeZone);
    const b = zonedPartsIntl(new Date(key * SPAN_MS + SPAN_MS - 1000), timeZone);
    const offA = Date.UTC(a.year, a.month - 1, a.day, a.hour, a.minute, a.second) - key * SPAN_MS;
    const offB = Date.UTC(b.year, b.month - 1, b.day, b.hour, b.minute, b.second) - (key * SPAN_MS + SPAN_MS - 1000);
    span = offA === offB && a.zone === b.zone && offA % 1000 === 0 ? { offsetMs: offA, zone: a.zone } : null;
    if (byKey.size > 100_000) byKey.clear();
    byKey.set(key, span);
  }
  return span;
}

/** zonedParts straight from Intl (no cache). */
export function zonedPartsIntl(date: Date, timeZone: string): Parts {
  const p: Record<string, string> = {};
  for (const { type, value } of partsFormatter(timeZone).formatToParts(date)) p[type] = value;
  const year = Number(p.year),
    month = Number(p.month),
    day = Number(p.day);
  const hour = Number(p.hour),
    minute = Number(p.minute),
    second = Number(p.second);
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  const offsetMin = Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60_000);
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday!);
  return {
    year,
    month,
    day,
    hour,
    minute,
    second,
    ms: date.getUTCMilliseconds(),
    weekday,
    offsetMin,
    zone: zoneAbbreviation(date, timeZone, p.timeZoneName, offsetMin),
  };
}

// Building an Intl.DateTimeFormat costs far more than using one: one per zone (and locale).
const FORMATTERS = new Map<string, Intl.DateTimeFormat>();
function cachedFormatter(key: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let f = FORMATTERS.get(key);
  if (!f) {
    f = make();
    if (FORMATTERS.size > 256) FORMATTERS.clear();
    FORMATTERS.set(key, f);
  }
  return f;
}

function partsFormatter(timeZone: string): Intl.DateTimeFormat {
  return cachedFormatter(
    `us:${timeZone}`,
    () =>
      new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        weekday: 'short',
        timeZoneName: 'short',
      }),
  );
}

/**
 * The zone abbreviation as Go's t.Format("MST") prints it (tz database abbreviations: UTC,
 * CET/CEST, EST/EDT, BST, ...). Intl knows US names in en-US and European names in en-GB;
 * where neither has one, Go prints the numeric form the tz database uses (+04, +0530, -03).
 */
function zoneAbbreviation(date: Date, timeZone: string, enUS: string | undefined, offsetMin: number): string {
  const isGmtForm = (z: string | undefined) => !z || /^GMT[+-]/.test(z);
  if (!isGmtForm(enUS)) return enUS!;
  const gb = cachedFormatter(`gb:${timeZone}`, () => new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' }))
    .formatToParts(date)
    .find((x) => x.type === 'timeZoneName')?.value;
  if (!isGmtForm(gb)) return gb!;
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  return `${sign}${pad(Math.floor(a / 60))}${a % 60 ? pad(a % 60) : ''}`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function dayOfYear(p: Parts): number {
  return Math.round((Date.UTC(p.year, p.month - 1, p.day) - Date.UTC(p.year, 0, 1)) / 86_400_000) + 1;
}

function weekNumber(p: Parts, firstDay: 0 | 1): number {
  const yday = dayOfYear(p) - 1;
  const wday = (p.weekday - firstDay + 7) % 7;
  return Math.floor((yday + 7 - wday) / 7);
}

/** strftime in a time zone. Unknown tokens are kept as written. */
export function strftime(format: string, date: Date, timeZone = 'UTC'): string {
  const p = zonedParts(date, timeZone);
  return format.replace(/%([a-zA-Z%])/g, (m, c: string) => {
    switch (c) {
      case 'a':
        return DAYS[p.weekday]!.slice(0, 3);
      case 'A':
        return DAYS[p.weekday]!;
      case 'b':
      case 'h':
        return MONTHS[p.month - 1]!.slice(0, 3);
      case 'B':
        return MONTHS[p.month - 1]!;
      // timeutil formats %c with Go's "Mon Jan 2 15:04:05 2006": the day is not padded.
      case 'c':
        return `${DAYS[p.weekday]!.slice(0, 3)} ${MONTHS[p.month - 1]!.slice(0, 3)} ${p.day} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)} ${p.year}`;
      case 'd':
        return pad(p.day);
      case 'e':
        return String(p.day).padStart(2, ' ');
      case 'f':
        return pad(p.ms * 1000, 6);
      case 'F':
        return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
      case 'H':
        return pad(p.hour);
      case 'I':
        return pad(p.hour % 12 === 0 ? 12 : p.hour % 12);
      case 'j':
        return pad(dayOfYear(p), 3);
      case 'm':
        return pad(p.month);
      case 'M':
        return pad(p.minute);
      case 'p':
        return p.hour < 12 ? 'AM' : 'PM';
      case 's':
        return String(Math.floor(date.getTime() / 1000));
      case 'S':
        return pad(p.second);
      case 'T':
        return `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
      case 'u':
        return String(p.weekday === 0 ? 7 : p.weekday);
      case 'U':
        return pad(weekNumber(p, 0));
      case 'w':
        return String(p.weekday);
      case 'W':
        return pad(weekNumber(p, 1));
      case 'x':
        return `${pad(p.month)}/${pad(p.day)}/${pad(p.year % 100)}`;
      case 'X':
        return `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
      case 'y':
        return pad(p.year % 100);
      case 'Y':
        return String(p.year);
      case 'z': {
        const s = p.offsetMin < 0 ? '-' : '+';
        const a = Math.abs(p.offsetMin);
        return `${s}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
      }
      case 'Z':
        return p.zone;
      case '%':
        return '%';
      default:
        return m;
    }
  });
}

/**
 * The archive's file name for a run started at `date`. As in offen, `{{ .Extension }}` is
 * the compression's extension (`tar.gz`) and an encryption suffix (`.gpg`, `.age`, `.aes`)
 * is appended to whatever name results, also to a literal one (`test.tar.gz` ->
 * `test.tar.gz.gpg`).
 */
export function backupFilename(template: string, date: Date, timeZone: string, ext: ExtensionParts): string {
  const withExt = template.replace(EXT_RE, extensionFor({ compression: ext.compression }));
  const name = strftime(withExt, date, timeZone);
  return ext.encryption && ext.encryption !== 'none' ? `${name}.${ext.encryption}` : name;
}

/**
 * Does the template hold a strftime token (anything but `%%`)? A name without one is the
 * same on every run: offen documents that each run then replaces the previous backup of
 * that name, and offsite does so atomically (see UploadOptions.replace).
 */
export function hasTimeTokens(template: string): boolean {
  return /%(?!%)./.test(template.replace(/%%/g, ''));
}

/**
 * The literal text before the first strftime token or template in a file name
 * template: the pruning prefix used when BACKUP_PRUNING_PREFIX is unset, so
 * pruning never touches files that this template could not have produced.
 */
export function staticPrefix(template: string): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if (ch === '%') {
      if (template[i + 1] === '%') {
        out += '%';
        i++;
        continue;
      }
      break;
    }
    if (ch === '{' && template[i + 1] === '{') break;
    out += ch;
  }
  return out;
}

// ------------------------------------------------------------------ reading a time back

type Field = 'Y' | 'y' | 'm' | 'b' | 'B' | 'd' | 'e' | 'j' | 'H' | 'I' | 'p' | 'M' | 'S' | 'f' | 's' | 'z' | 'ignored';

const MONTH_NAMES = MONTHS.join('|');
const MONTH_ABBRS = MONTHS.map((m) => m.slice(0, 3)).join('|');
const DAY_NAMES = DAYS.join('|');
const DAY_ABBRS = DAYS.map((d) => d.slice(0, 3)).join('|');

/** The regular expression (source) each token matches and the field it gives, if any. */
const TOKEN_RE: Record<string, [string, Field]> = {
  a: [DAY_ABBRS, 'ignored'],
  A: [DAY_NAMES, 'ignored'],
  b: [MONTH_ABBRS, 'b'],
  h: [MONTH_ABBRS, 'b'],
  B: [MONTH_NAMES, 'B'],
  d: ['\\d{2}', 'd'],
  e: ['[ \\d]\\d', 'e'],
  f: ['\\d{6}', 'f'],
  H: ['\\d{2}', 'H'],
  I: ['\\d{2}', 'I'],
  j: ['\\d{3}', 'j'],
  m: ['\\d{2}', 'm'],
  M: ['\\d{2}', 'M'],
  p: ['AM|PM', 'p'],
  s: ['-?\\d+', 's'],
  S: ['\\d{2}', 'S'],
  u: ['[1-7]', 'ignored'],
  U: ['\\d{2}', 'ignored'],
  w: ['[0-6]', 'ignored'],
  W: ['\\d{2}', 'ignored'],
  y: ['\\d{2}', 'y'],
  Y: ['\\d{4}', 'Y'],
  z: ['[+-]\\d{4}', 'z'],
  Z: ['[A-Za-z]+|[+-]\\d{2,4}', 'ignored'],
};

/** Composite tokens, spelled out in the tokens above (%c's day is not padded: `%-d`). */
const COMPOSITE: Record<string, string> = { F: '%Y-%m-%d', T: '%H:%M:%S', X: '%H:%M:%S', x: '%m/%d/%y', c: '%a %b %-d %H:%M:%S %Y' };

interface NamePattern {
  re: RegExp;
  fields: Field[];
}
const PATTERNS = new Map<string, NamePattern>();

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function namePattern(template: string): NamePattern {
  const cached = PATTERNS.get(template);
  if (cached) return cached;
  const fields: Field[] = [];
  let src = '';
  const emit = (fmt: string): void => {
    for (let i = 0; i < fmt.length; i++) {
      const ch = fmt[i]!;
      if (ch !== '%' || i + 1 >= fmt.length) {
        src += escapeRe(ch);
        continue;
      }
      const c = fmt[++i]!;
      if (c === '%') {
        src += '%';
        continue;
      }
      if (c === '-' && fmt[i + 1] === 'd') {
        i++;
        src += '(\\d{1,2})';
        fields.push('d');
        continue;
      }
      if (COMPOSITE[c]) {
        emit(COMPOSITE[c]);
        continue;
      }
      const t = TOKEN_RE[c];
      if (!t) {
        src += escapeRe(`%${c}`);
        continue;
      } // strftime keeps unknown tokens as written
      src += `(${t[0]})`;
      fields.push(t[1]);
    }
  };
  const pieces = template.split(EXT_RE);
  pieces.forEach((piece, i) => {
    if (i > 0) {
      src += '(?:.+?)';
    }
    emit(piece);
  });
  // encryption may append .gpg / .age / .aes to any name
  const p = { re: new RegExp(`^${src}(?:\\.(?:gpg|age|aes))?$`), fields };
  if (PATTERNS.size > 64) PATTERNS.clear();
  PATTERNS.set(template, p);
  return p;
}

/** Instants whose wall-clock time in `timeZone` is `wallMs` (as if UTC): none in a gap, two in an overlap. */
function wallToInstants(wallMs: number, timeZone: string): number[] {
  const out: number[] = [];
  for (const probe of [wallMs - 86_400_000, wallMs + 86_400_000]) {
    const off = zonedParts(new Date(probe), timeZone).offsetMin * 60_000;
    const t = wallMs - off;
    const p = zonedParts(new Date(t), timeZone);
    const back = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) + p.ms;
    if (back === wallMs && !out.includes(t)) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

/**
 * The time a backup was made, read back from its file name through the template that named it
 * (BACKUP_FILENAME with strftime tokens and `{{ .Extension }}`, evaluated in `timeZone`), or null
 * when the name was not made by this template or the template holds no date (no %Y/%y/%s/%F/%c).
 * An encryption suffix (.gpg, .age, .aes) appended to the name is accepted. A wall-clock time
 * that happened twice (the hour a zone falls back) without %z is read as the earlier instant.
 * The result is checked by formatting it again: it gives back exactly `name`.
 */
export function parseTimeFromName(template: string, name: string, timeZone = 'UTC'): Date | null {
  const { re, fields } = namePattern(template);
  const m = re.exec(name);
  if (!m) return null;
  const v: Partial<Record<Field, string>> = {};
  fields.forEach((f, i) => {
    if (f !== 'ignored' && v[f] === undefined) v[f] = m[i + 1]!;
  });
  const num = (s: string | undefined, dflt: number) => (s === undefined ? dflt : Number(s.trim()));
  let candidates: number[];
  const ms = Math.floor(num(v.f, 0) / 1000);
  if (v.s !== undefined) {
    candidates = [Number(v.s) * 1000 + ms];
  } else {
    let year: number;
    if (v.Y !== undefined) year = Number(v.Y);
    else if (v.y !== undefined) {
      const yy = Number(v.y);
      year = yy < 69 ? 2000 + yy : 1900 + yy;
    } else return null;
    let month =
      v.m !== undefined ? Number(v.m) : v.b !== undefined ? MONTHS.findIndex((x) => x.startsWith(v.b!)) + 1 : v.B !== undefined ? MONTHS.indexOf(v.B) + 1 : 0;
    let day = v.d !== undefined ? Number(v.d) : v.e !== undefined ? num(v.e, 1) : 0;
    if (month === 0 && day === 0 && v.j !== undefined) {
      month = 1;
      day = Number(v.j);
    }
    month ||= 1;
    day ||= 1;
    let hour = num(v.H, 0);
    if (v.H === undefined && v.I !== undefined) hour = (Number(v.I) % 12) + (v.p === 'PM' ? 12 : 0);
    const wall = Date.UTC(year, month - 1, day, hour, num(v.M, 0), num(v.S, 0), ms);
    if (Number.isNaN(wall)) return null;
    if (v.z !== undefined) {
      const sign = v.z[0] === '-' ? -1 : 1;
      candidates = [wall - sign * (Number(v.z.slice(1, 3)) * 60 + Number(v.z.slice(3, 5))) * 60_000];
    } else {
      candidates = wallToInstants(wall, timeZone);
    }
  }
  // the extension as written in the name, to format the template back
  for (const t of candidates) {
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) continue;
    if (formatsBackTo(template, d, timeZone, name)) return d;
  }
  return null;
}

function formatsBackTo(template: string, date: Date, timeZone: string, name: string): boolean {
  const pieces = template.split(EXT_RE).map((p) => strftime(p, date, timeZone));
  // the text the extension placeholders stand for is whatever lies between the formatted pieces
  let pos = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (i === 0) {
      if (!name.startsWith(piece)) return false;
      pos = piece.length;
      continue;
    }
    const last = i === pieces.length - 1;
    const at = last ? findTail(name, piece, pos) : name.indexOf(piece, pos + 1);
    if (at <= pos) return false;
    pos = at + piece.length;
  }
  const rest = name.slice(pos);
  return rest === '' || /^\.(?:gpg|age|aes)$/.test(rest);
}

/** Where `piece` ends the name (optionally followed by an encryption suffix), after `from`. */
function findTail(name: string, piece: string, from: number): number {
  for (const end of [name.length, name.length - 4]) {
    const at = end - piece.length;
    if (at > from && name.slice(at, end) === piece && (end === name.length || /^\.(?:gpg|age|aes)$/.test(name.slice(end)))) return at;
  }
  return -1;
}
