import type { Env } from './validate.ts';

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
