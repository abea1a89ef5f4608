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
  year: number; month: number; day: number; hour: number; minute: number; second: number; ms: number;
  weekday: number; offsetMin: number; zone: string;
}

/** Calendar fields of `date` as seen in `timeZone`. */
export function zonedParts(date: Date, timeZone: string): Parts {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
    hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short', timeZoneName: 'short',
  });
  const p: Record<string, string> = {};
  for (const { type, value } of fmt.formatToParts(date)) p[type] = value;
  const year = Number(p.year), month = Number(p.month), day = Number(p.day);
  const hour = Number(p.hour), minute = Number(p.minute), second = Number(p.second);
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  const offsetMin = Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60_000);
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday!);
  return { year, month, day, hour, minute, second, ms: date.getUTCMilliseconds(), weekday, offsetMin, zone: zoneAbbreviation(date, timeZone, p.timeZoneName, offsetMin) };
}

/**
 * The zone abbreviation as Go's t.Format("MST") prints it (tz database abbreviations: UTC,
 * CET/CEST, EST/EDT, BST, ...). Intl knows US names in en-US and European names in en-GB;
 * where neither has one, Go prints the numeric form the tz database uses (+04, +0530, -03).
 */
function zoneAbbreviation(date: Date, timeZone: string, enUS: string | undefined, offsetMin: number): string {
  const isGmtForm = (z: string | undefined) => !z || /^GMT[+-]/.test(z);
  if (!isGmtForm(enUS)) return enUS!;
  const gb = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' }).formatToParts(date).find((x) => x.type === 'timeZoneName')?.value;
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
      case 'a': return DAYS[p.weekday]!.slice(0, 3);
      case 'A': return DAYS[p.weekday]!;
      case 'b': case 'h': return MONTHS[p.month - 1]!.slice(0, 3);
      case 'B': return MONTHS[p.month - 1]!;
      // timeutil formats %c with Go's "Mon Jan 2 15:04:05 2006": the day is not padded.
      case 'c': return `${DAYS[p.weekday]!.slice(0, 3)} ${MONTHS[p.month - 1]!.slice(0, 3)} ${p.day} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)} ${p.year}`;
      case 'd': return pad(p.day);
      case 'e': return String(p.day).padStart(2, ' ');
      case 'f': return pad(p.ms * 1000, 6);
      case 'F': return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
      case 'H': return pad(p.hour);
      case 'I': return pad(p.hour % 12 === 0 ? 12 : p.hour % 12);
      case 'j': return pad(dayOfYear(p), 3);
      case 'm': return pad(p.month);
      case 'M': return pad(p.minute);
      case 'p': return p.hour < 12 ? 'AM' : 'PM';
      case 's': return String(Math.floor(date.getTime() / 1000));
      case 'S': return pad(p.second);
      case 'T': return `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
      case 'u': return String(p.weekday === 0 ? 7 : p.weekday);
      case 'U': return pad(weekNumber(p, 0));
      case 'w': return String(p.weekday);
      case 'W': return pad(weekNumber(p, 1));
      case 'x': return `${pad(p.month)}/${pad(p.day)}/${pad(p.year % 100)}`;
      case 'X': return `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
      case 'y': return pad(p.year % 100);
      case 'Y': return String(p.year);
      case 'z': { const s = p.offsetMin < 0 ? '-' : '+'; const a = Math.abs(p.offsetMin); return `${s}${pad(Math.floor(a / 60))}${pad(a % 60)}`; }
      case 'Z': return p.zone;
      case '%': return '%';
      default: return m;
    }
  });
}

/** The archive's file name for a run started at `date`. */
export function backupFilename(template: string, date: Date, timeZone: string, ext: ExtensionParts): string {
  const withExt = template.replace(EXT_RE, extensionFor(ext));
  return strftime(withExt, date, timeZone);
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
      if (template[i + 1] === '%') { out += '%'; i++; continue; }
      break;
    }
    if (ch === '{' && template[i + 1] === '{') break;
    out += ch;
  }
  return out;
}
