import type { Env } from './validate.ts';
import { quote } from '../errors.ts';

/**
 * Expand `$VAR` and `${VAR}` from env exactly like Go's os.ExpandEnv (offen expands
 * BACKUP_FILENAME, BACKUP_LATEST_SYMLINK and BACKUP_PRUNING_PREFIX with it): unset -> empty;
 * `$` followed by one shell special character (`*#$@!?-` or a digit) names that one
 * character; `${}` and an unclosed `${` are dropped; a `$` followed by nothing that
 * can start a name (or at the end) stays as written.
 */
export function expandVars(input: string, env: Env): string {
  let out = '';
  let i = 0;
  for (let j = 0; j < input.length; j++) {
    if (input[j] !== '$' || j + 1 >= input.length) continue;
    out += input.slice(i, j);
    const [name, width] = shellName(input.slice(j + 1));
    if (name === '' && width > 0) {
      // invalid syntax: drop it
    } else if (name === '') {
      out += '$';
    } else {
      out += env[name] ?? '';
    }
    j += width;
    i = j + 1;
  }
  return i === 0 ? input : out + input.slice(i);
}

const isSpecial = (c: string | undefined) => c !== undefined && '*#$@!?-0123456789'.includes(c);
const isAlnum = (c: string | undefined) => c !== undefined && /^[A-Za-z0-9_]$/.test(c);

/** Go's getShellName: the variable name after a `$` and how many characters it used. */
function shellName(s: string): [string, number] {
  if (s[0] === '{') {
    if (s.length > 2 && isSpecial(s[1]) && s[2] === '}') return [s[1]!, 3];
    for (let i = 1; i < s.length; i++) {
      if (s[i] === '}') return i === 1 ? ['', 2] : [s.slice(1, i), i + 1];
    }
    return ['', 1];
  }
  if (isSpecial(s[0])) return [s[0]!, 1];
  let i = 0;
  while (i < s.length && isAlnum(s[i])) i++;
  return [s.slice(0, i), i];
}

/**
 * Shell-style expansion of one conf.d line, as offen's reader does it (mvdan.cc/sh's
 * shell.Expand, heredoc rules: quotes are kept as written and do not stop expansion):
 * `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:=word}`, `${NAME=word}`,
 * `${NAME:+word}`, `${NAME+word}`, `${#NAME}`; `\$`, `\\` and `` \` `` escape. Unset names
 * expand to nothing. Command substitution (`$(...)`, backticks) and arithmetic are refused.
 * Throws an Error naming the problem.
 */
export function shellExpand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === '\\' && i + 1 < input.length && '$\\`'.includes(input[i + 1]!)) {
      out += input[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') throw new Error('command substitution (`...`) is not supported');
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      i++;
      continue;
    }
    const n = input[i + 1]!;
    if (n === '(') throw new Error(input[i + 2] === '(' ? 'arithmetic expansion $((...)) is not supported' : 'command substitution $(...) is not supported');
    if (n === '{') {
      const end = closingBrace(input, i + 2);
      if (end < 0) throw new Error(`unclosed \${ in ${quote(input)}`);
      out += parameter(input.slice(i + 2, end), lookup);
      i = end + 1;
      continue;
    }
    const name = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9#?$!*@-])/.exec(input.slice(i + 1));
    if (!name) {
      out += '$';
      i++;
      continue;
    }
    out += lookup(name[0]) ?? '';
    i += 1 + name[0].length;
  }
  return out;
}

function closingBrace(s: string, from: number): number {
  let depth = 1;
  for (let j = from; j < s.length; j++) {
    if (s[j] === '\\') {
      j++;
      continue;
    }
    if (s[j] === '$' && s[j + 1] === '{') {
      depth++;
      j++;
      continue;
    }
    if (s[j] === '}' && --depth === 0) return j;
  }
  return -1;
}

function parameter(body: string, lookup: (name: string) => string | undefined): string {
  if (body.startsWith('#') && body.length > 1) {
    const name = body.slice(1);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`\${${body}} is not supported`);
    return String([...(lookup(name) ?? '')].length);
  }
  const m = /^([A-Za-z_][A-Za-z0-9_]*|[0-9#?$!*@-])(?:(:?)([-=+?])([\s\S]*))?$/.exec(body);
  if (!m) throw new Error(`\${${body}} is not supported; use $NAME, \${NAME} or \${NAME:-default}`);
  const [, name, colon, op, word] = m;
  const value = lookup(name!);
  if (!op) return value ?? '';
  const unset = colon ? value === undefined || value === '' : value === undefined;
  const w = () => shellExpand(word ?? '', lookup);
  switch (op) {
    case '-':
    case '=':
      return unset ? w() : value!;
    case '+':
      return unset ? '' : w();
    default:
      if (unset) throw new Error(`${name}: ${w() || 'parameter null or not set'}`);
      return value!;
  }
}
