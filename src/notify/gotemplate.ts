/**
 * The part of Go's text/template that notification templates use, for offen's `notifications.d`
 * files: `{{ define "name" }}...{{ end }}` blocks, `{{-`/`-}}` trimming, comments, field chains
 * (`.Stats.BackupFile.FullPath`, `$`, `$x.Field`), pipelines (`x | f`), function calls with
 * literal, field and parenthesised arguments, `if`/`else if`/`else`, `range` (with `$i, $v :=`
 * and `else`), `with`, `template "name" pipeline`, variables (`$x := ...`, `$x = ...`), and the
 * built-in functions and, or, not, len, index, print, printf, println, eq, ne, lt, le, gt, ge.
 * Values print as Go's fmt %v prints them. Anything else (an unknown function or keyword) is a
 * parse error, so a template offsite cannot run is refused when it is loaded, never skipped.
 * No npm package implements Go's text/template (checked 2026-11): this subset is tested against
 * the outputs of Go's engine for offen's templates.
 */

export class GoTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoTemplateError';
  }
}

/** A Go map (keys print sorted; a missing key is `<no value>`, not an error). */
export class GoMap extends Map<string, unknown> {}

export type GoFunc = (...args: unknown[]) => unknown;

// ---------------- lexing ----------------

type Tok =
  | { t: 'field'; path: string[] } // .A.B ; [] for "."
  | { t: 'var'; name: string; path: string[] } // $x.A ; name '' for "$"
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'ident'; v: string }
  | { t: 'pipe' }
  | { t: 'lparen' }
  | { t: 'rparen'; path: string[] }
  | { t: 'decl' }
  | { t: 'assign' }
  | { t: 'comma' };

function lexAction(src: string, where: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const path = (): string[] => {
    const out: string[] = [];
    while (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) {
      i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push(m[0]);
      i += m[0].length;
    }
    return out;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '|') {
      toks.push({ t: 'pipe' });
      i++;
      continue;
    }
    if (c === '(') {
      toks.push({ t: 'lparen' });
      i++;
      continue;
    }
    if (c === ')') {
      i++;
      toks.push({ t: 'rparen', path: path() });
      continue;
    }
    if (c === ',') {
      toks.push({ t: 'comma' });
      i++;
      continue;
    }
    if (c === ':' && src[i + 1] === '=') {
      toks.push({ t: 'decl' });
      i += 2;
      continue;
    }
    if (c === '=') {
      toks.push({ t: 'assign' });
      i++;
      continue;
    }
    if (c === '"') {
      const m = /^"(?:[^"\\\n]|\\.)*"/.exec(src.slice(i));
      if (!m) throw new GoTemplateError(`${where}: unterminated quoted string`);
      try {
        toks.push({ t: 'str', v: JSON.parse(m[0]) as string });
      } catch {
        throw new GoTemplateError(`${where}: bad string ${m[0]}`);
      }
      i += m[0].length;
      continue;
    }
    if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) throw new GoTemplateError(`${where}: unterminated raw string`);
      toks.push({ t: 'str', v: src.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    if (c === '.') {
      if (/[A-Za-z_]/.test(src[i + 1] ?? '')) {
        toks.push({ t: 'field', path: path() });
        continue;
      }
      if (/[0-9]/.test(src[i + 1] ?? '')) {
        /* number below */
      } else {
        i++;
        toks.push({ t: 'field', path: [] });
        continue;
      }
    }
    if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(i))!;
      i += m[0].length;
      toks.push({ t: 'var', name: m[0].slice(1), path: path() });
      continue;
    }
    const num = /^[+-]?(?:0x[0-9a-fA-F]+|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)/.exec(src.slice(i));
    if (num && (/[0-9.]/.test(c) || ((c === '-' || c === '+') && /[0-9.]/.test(src[i + 1] ?? '')))) {
      toks.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      toks.push({ t: 'ident', v: id[0] });
      i += id[0].length;
      continue;
    }
    throw new GoTemplateError(`${where}: unexpected "${c}" in action`);
  }
  return toks;
}

// ---------------- parsing ----------------

type Operand =
  | { k: 'field'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'lit'; v: unknown }
  | { k: 'fn'; name: string }
  | { k: 'sub'; pipe: Pipeline; path: string[] };
type Command = Operand[];
interface Pipeline {
  decl: string[];
  assign: boolean;
  cmds: Command[];
}

type Node =
  | { n: 'text'; v: string }
  | { n: 'out'; pipe: Pipeline }
  | { n: 'if'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { n: 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { n: 'range'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { n: 'tmpl'; name: string; pipe: Pipeline | null };

const BUILTINS = new Set(['and', 'or', 'not', 'len', 'index', 'print', 'printf', 'println', 'eq', 'ne', 'lt', 'le', 'gt', 'ge']);
const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

interface Item {
  kind: 'text';
  v: string;
}
interface ActionItem {
  kind: 'action';
  toks: Tok[];
  line: number;
}

function split(src: string, file: string): Array<Item | ActionItem> {
  const items: Array<Item | ActionItem> = [];
  let i = 0;
  let trimNext = false;
  while (i <= src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) items.push({ kind: 'text', v: text });
      break;
    }
    const trimLeft = /^\{\{- /.test(src.slice(open)) || /^\{\{-\t|^\{\{-\n|^\{\{-\r/.test(src.slice(open));
    if (trimLeft) text = text.replace(/\s+$/, '');
    if (text) items.push({ kind: 'text', v: text });
    const line = src.slice(0, open).split('\n').length;
    const where = `${file}:${line}`;
    let j = open + 2 + (trimLeft ? 1 : 0);
    // comment
    const rest = src.slice(j);
    const cm = /^\s*\/\*[\s\S]*?\*\/\s*(-?)\}\}/.exec(rest);
    if (cm) {
      i = j + cm[0].length;
      trimNext = cm[1] === '-';
      continue;
    }
    // find the closing }} outside strings
    let k = j;
    let close = -1;
    while (k < src.length) {
      const ch = src[k];
      if (ch === '"') {
        k++;
        while (k < src.length && src[k] !== '"') {
          if (src[k] === '\\') k++;
          k++;
        }
        k++;
        continue;
      }
      if (ch === '`') {
        k = src.indexOf('`', k + 1);
        if (k < 0) break;
        k++;
        continue;
      }
      if (ch === '}' && src[k + 1] === '}') {
        close = k;
        break;
      }
      k++;
    }
    if (close < 0) throw new GoTemplateError(`${where}: unclosed action`);
    let body = src.slice(j, close);
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    items.push({ kind: 'action', toks: lexAction(body, where), line });
    i = close + 2;
  }
  return items;
}

class Parser {
  private pos = 0;
  readonly defines = new Map<string, Node[]>();
  private readonly items: Array<Item | ActionItem>;
  private readonly file: string;
  private readonly funcs: ReadonlySet<string>;
  constructor(items: Array<Item | ActionItem>, file: string, funcs: ReadonlySet<string>) {
    this.items = items;
    this.file = file;
    this.funcs = funcs;
  }

  /** Parse nodes until an `end`/`else` (returned as the terminator) or the end of input. */
  nodes(top: boolean): { nodes: Node[]; term: { kw: 'end' | 'else'; toks: Tok[]; line: number } | null } {
    const out: Node[] = [];
    while (this.pos < this.items.length) {
      const it = this.items[this.pos++]!;
      if (it.kind === 'text') {
        out.push({ n: 'text', v: it.v });
        continue;
      }
      const where = `${this.file}:${it.line}`;
      const [first, ...rest] = it.toks;
      if (!first) throw new GoTemplateError(`${where}: missing value for command`);
      const kw = first.t === 'ident' && KEYWORDS.has(first.v) ? first.v : null;
      if (kw === 'end' || kw === 'else') {
        if (top) throw new GoTemplateError(`${where}: unexpected {{${kw}}}`);
        return { nodes: out, term: { kw, toks: rest, line: it.line } };
      }
      if (kw === 'define') {
        if (!top) throw new GoTemplateError(`${where}: define inside an action`);
        const name = rest[0];
        if (!name || name.t !== 'str' || rest.length !== 1) throw new GoTemplateError(`${where}: expected {{ define "name" }}`);
        const body = this.nodes(false);
        if (!body.term || body.term.kw !== 'end') throw new GoTemplateError(`${where}: unexpected end of template in define "${name.v}"`);
        this.defines.set(name.v, body.nodes);
        continue;
      }
      if (kw === 'if' || kw === 'with' || kw === 'range') {
        out.push(this.control(kw, rest, where));
        continue;
      }
      if (kw === 'template') {
        const name = rest[0];
        if (!name || name.t !== 'str') throw new GoTemplateError(`${where}: expected {{ template "name" }}`);
        out.push({ n: 'tmpl', name: name.v, pipe: rest.length > 1 ? this.pipeline(rest.slice(1), where) : null });
        continue;
      }
      if (kw) throw new GoTemplateError(`${where}: {{${kw}}} is not supported by offsite's Go templates`);
      out.push({ n: 'out', pipe: this.pipeline(it.toks, where) });
    }
    if (!top) return { nodes: out, term: null };
    return { nodes: out, term: null };
  }

  private control(kw: 'if' | 'with' | 'range', toks: Tok[], where: string): Node {
    const pipe = this.pipeline(toks, where);
    const then = this.nodes(false);
    if (!then.term) throw new GoTemplateError(`${where}: unexpected end of template in {{${kw}}}`);
    let els: Node[] = [];
    if (then.term.kw === 'else') {
      const t = then.term.toks;
      if (t[0]?.t === 'ident' && (t[0].v === 'if' || t[0].v === 'with') && kw !== 'range') {
        // else if / else with: a nested control that shares our end
        els = [this.control(t[0].v, t.slice(1), `${this.file}:${then.term.line}`)];
        return { n: kw, pipe, then: then.nodes, else: els };
      }
      if (t.length) throw new GoTemplateError(`${this.file}:${then.term.line}: unexpected tokens after else`);
      const e = this.nodes(false);
      if (!e.term || e.term.kw !== 'end') throw new GoTemplateError(`${where}: expected {{end}} after {{else}}`);
      els = e.nodes;
    } else if (then.term.toks.length) {
      throw new GoTemplateError(`${this.file}:${then.term.line}: unexpected tokens after end`);
    }
    return { n: kw, pipe, then: then.nodes, else: els };
  }

  pipeline(toks: Tok[], where: string): Pipeline {
    let decl: string[] = [];
    let assign = false;
    // $x := / $i, $v := / $x =
    const declEnd = toks.findIndex((t) => t.t === 'decl' || t.t === 'assign');
    if (declEnd > 0 && toks.slice(0, declEnd).every((t) => t.t === 'var' || t.t === 'comma')) {
      decl = toks
        .slice(0, declEnd)
        .filter((t): t is Extract<Tok, { t: 'var' }> => t.t === 'var')
        .map((t) => t.name);
      assign = toks[declEnd]!.t === 'assign';
      toks = toks.slice(declEnd + 1);
    }
    const cmds: Command[] = [];
    let i = 0;
    const operand = (): Operand => {
      const t = toks[i++]!;
      switch (t.t) {
        case 'field':
          return { k: 'field', path: t.path };
        case 'var':
          return { k: 'var', name: t.name, path: t.path };
        case 'str':
          return { k: 'lit', v: t.v };
        case 'num':
          return { k: 'lit', v: t.v };
        case 'ident':
          if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true' };
          if (t.v === 'nil') return { k: 'lit', v: null };
          if (!BUILTINS.has(t.v) && !this.funcs.has(t.v)) throw new GoTemplateError(`${where}: function "${t.v}" not defined`);
          return { k: 'fn', name: t.v };
        case 'lparen': {
          let depth = 1;
          const start = i;
          while (i < toks.length && depth > 0) {
            if (toks[i]!.t === 'lparen') depth++;
            else if (toks[i]!.t === 'rparen') depth--;
            i++;
          }
          if (depth !== 0) throw new GoTemplateError(`${where}: unclosed left paren`);
          const close = toks[i - 1] as Extract<Tok, { t: 'rparen' }>;
          return { k: 'sub', pipe: this.pipeline(toks.slice(start, i - 1), where), path: close.path };
        }
        default:
          throw new GoTemplateError(`${where}: unexpected ${t.t} in operand`);
      }
    };
    let cmd: Command = [];
    while (i < toks.length) {
      if (toks[i]!.t === 'pipe') {
        if (!cmd.length) throw new GoTemplateError(`${where}: missing command before |`);
        cmds.push(cmd);
        cmd = [];
        i++;
        continue;
      }
      cmd.push(operand());
    }
    if (!cmd.length) throw new GoTemplateError(`${where}: missing value for command`);
    cmds.push(cmd);
    for (const c of cmds.slice(1)) if (c[0]!.k !== 'fn') throw new GoTemplateError(`${where}: only functions can follow | in a pipeline`);
    for (const c of cmds) if (c[0]!.k !== 'fn' && c.length > 1) throw new GoTemplateError(`${where}: can't give arguments to a non-function`);
    return { decl, assign, cmds };
  }
}

/** Parse every `define` of a template file; throws GoTemplateError naming the file and line. */
export function parseGoTemplates(src: string, file: string, funcNames: Iterable<string>): Map<string, GoTemplate> {
  const p = new Parser(split(src, file), file, new Set(funcNames));
  const top = p.nodes(true);
  const out = new Map<string, GoTemplate>();
  for (const [name, nodes] of p.defines) out.set(name, new GoTemplate(name, nodes, p.defines));
  // text outside define blocks that is not whitespace is the file's own (unnamed) template: allowed, unused
  void top;
  return out;
}

// ---------------- values ----------------

/** Go's fmt %v of a value. */
export function goString(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : goFloat(v);
  if (typeof v === 'boolean') return String(v);
  if (v instanceof Error) return v.message;
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (v instanceof Map)
    return `map[${[...v.keys()]
      .sort()
      .map((k) => `${k}:${goString(v.get(k))}`)
      .join(' ')}]`;
  if (typeof v === 'object' && Object.prototype.toString.call(v) === '[object Object]' && (v as object).constructor === Object) {
    return `{${Object.values(v as Record<string, unknown>)
      .map(goString)
      .join(' ')}}`;
  }
  return String(v);
}

function goFloat(v: number): string {
  // %v of a float64 is %g with the shortest representation
  if (v !== 0 && (Math.abs(v) < 1e-4 || Math.abs(v) >= 1e21)) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}

function truth(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (typeof v === 'object' && typeof (v as { valueOf(): unknown }).valueOf === 'function') {
    const p = (v as { valueOf(): unknown }).valueOf();
    if (typeof p === 'number') return p !== 0;
  }
  return true;
}

function prim(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && !(v instanceof Map) && !Array.isArray(v)) {
    const p = (v as { valueOf(): unknown }).valueOf();
    if (typeof p !== 'object') return p;
  }
  return v;
}

function field(v: unknown, name: string, where: string): unknown {
  if (v instanceof Map) return v.get(name);
  if (v !== null && typeof v === 'object' && name in (v as object)) {
    const f = (v as Record<string, unknown>)[name];
    return typeof f === 'function' ? (f as () => unknown).call(v) : f;
  }
  if (v === undefined || v === null) throw new GoTemplateError(`${where}: nil pointer evaluating .${name}`);
  throw new GoTemplateError(`${where}: can't evaluate field ${name}`);
}

function printf(format: string, ...args: unknown[]): string {
  let ai = 0;
  return format.replace(
    /%([-+# 0]*)(\d+)?(?:\.(\d+))?([vsdqftxXeEgbc%T])/g,
    (m, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
      if (verb === '%') return '%';
      if (ai >= args.length) return `%!${verb}(MISSING)`;
      const a = prim(args[ai++]);
      let s: string;
      switch (verb) {
        case 'v':
        case 's':
          s = goString(args[ai - 1]);
          break;
        case 'd':
          s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${goString(a)})`;
          break;
        case 'q':
          s = JSON.stringify(goString(a));
          break;
        case 'f':
        case 'F':
          s = typeof a === 'number' ? a.toFixed(prec === undefined ? 6 : Number(prec)) : `%!f(${goString(a)})`;
          break;
        case 'e':
        case 'E':
          s = typeof a === 'number' ? a.toExponential(prec === undefined ? 6 : Number(prec)).replace(/e([+-])(\d)$/, 'e$10$2') : goString(a);
          if (verb === 'E') s = s.toUpperCase();
          break;
        case 'g':
          s = typeof a === 'number' ? goFloat(a) : goString(a);
          break;
        case 't':
          s = String(a);
          break;
        case 'x':
        case 'X':
          s = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(goString(a)).toString('hex');
          if (verb === 'X') s = s.toUpperCase();
          break;
        case 'b':
          s = typeof a === 'number' ? Math.trunc(a).toString(2) : goString(a);
          break;
        case 'c':
          s = typeof a === 'number' ? String.fromCodePoint(a) : goString(a);
          break;
        case 'T':
          s =
            a === null
              ? '<nil>'
              : typeof a === 'number'
                ? Number.isInteger(a)
                  ? 'int'
                  : 'float64'
                : typeof a === 'string'
                  ? 'string'
                  : typeof a === 'boolean'
                    ? 'bool'
                    : 'object';
          break;
        default:
          s = m;
      }
      if (width) {
        const w = Number(width);
        const pad = flags.includes('0') && !flags.includes('-') ? '0' : ' ';
        s = flags.includes('-') ? s.padEnd(w) : s.padStart(w, pad);
      }
      return s;
    },
  );
}

function goSprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    // Sprint adds spaces between operands when neither is a string
    if (i > 0 && typeof args[i - 1] !== 'string' && typeof a !== 'string') out += ' ';
    out += goString(a);
  });
  return out;
}

function cmp(a: unknown, b: unknown, where: string): number {
  const x = prim(a);
  const y = prim(b);
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  throw new GoTemplateError(`${where}: incompatible types for comparison`);
}

function builtin(name: string, args: unknown[], where: string): unknown {
  switch (name) {
    case 'not':
      return !truth(args[0]);
    case 'len': {
      const v = args[0];
      if (typeof v === 'string') return Buffer.byteLength(v);
      if (Array.isArray(v)) return v.length;
      if (v instanceof Map) return v.size;
      throw new GoTemplateError(`${where}: len of ${goString(v)}`);
    }
    case 'index': {
      let v = args[0];
      for (const k of args.slice(1)) {
        if (Array.isArray(v)) v = v[Number(k)];
        else if (v instanceof Map) v = v.get(String(k));
        else if (typeof v === 'string') v = v.charCodeAt(Number(k));
        else throw new GoTemplateError(`${where}: can't index item of type ${typeof v}`);
      }
      return v;
    }
    case 'print':
      return goSprint(args);
    case 'println':
      return `${args.map(goString).join(' ')}\n`;
    case 'printf':
      return printf(goString(args[0]), ...args.slice(1));
    case 'eq': {
      if (args.length < 2) throw new GoTemplateError(`${where}: missing argument for comparison`);
      return args.slice(1).some((b) => prim(args[0]) === prim(b));
    }
    case 'ne':
      return prim(args[0]) !== prim(args[1]);
    case 'lt':
      return cmp(args[0], args[1], where) < 0;
    case 'le':
      return cmp(args[0], args[1], where) <= 0;
    case 'gt':
      return cmp(args[0], args[1], where) > 0;
    case 'ge':
      return cmp(args[0], args[1], where) >= 0;
  }
  throw new GoTemplateError(`${where}: function "${name}" not defined`);
}

// ---------------- execution ----------------

interface Scope {
  vars: Map<string, unknown>;
  parent: Scope | null;
}

function lookupVar(s: Scope, name: string, where: string): unknown {
  for (let c: Scope | null = s; c; c = c.parent) if (c.vars.has(name)) return c.vars.get(name);
  throw new GoTemplateError(`${where}: undefined variable: $${name}`);
}

function setVar(s: Scope, name: string, v: unknown, where: string): void {
  for (let c: Scope | null = s; c; c = c.parent)
    if (c.vars.has(name)) {
      c.vars.set(name, v);
      return;
    }
  throw new GoTemplateError(`${where}: undefined variable: $${name}`);
}

export class GoTemplate {
  readonly name: string;
  private readonly body: Node[];
  private readonly all: Map<string, Node[]>;
  constructor(name: string, body: Node[], all: Map<string, Node[]>) {
    this.name = name;
    this.body = body;
    this.all = all;
  }

  execute(data: unknown, funcs: Record<string, GoFunc>): string {
    const scope: Scope = { vars: new Map([['', data]]), parent: null };
    const out: string[] = [];
    this.run(this.body, data, scope, funcs, out, 0);
    return out.join('');
  }

  private run(nodes: Node[], dot: unknown, scope: Scope, funcs: Record<string, GoFunc>, out: string[], depth: number): void {
    const where = `template "${this.name}"`;
    if (depth > 100) throw new GoTemplateError(`${where}: exceeded maximum template depth`);
    for (const node of nodes) {
      switch (node.n) {
        case 'text':
          out.push(node.v);
          break;
        case 'out': {
          const v = this.pipe(node.pipe, dot, scope, funcs);
          if (!node.pipe.decl.length) out.push(goString(v));
          break;
        }
        case 'if':
        case 'with': {
          const inner: Scope = { vars: new Map(), parent: scope };
          const v = this.pipe(node.pipe, dot, inner, funcs);
          if (truth(v)) this.run(node.then, node.n === 'with' ? v : dot, inner, funcs, out, depth);
          else this.run(node.else, dot, inner, funcs, out, depth);
          break;
        }
        case 'range': {
          const inner: Scope = { vars: new Map(), parent: scope };
          const decl = node.pipe.decl;
          const v = this.pipe({ ...node.pipe, decl: [] }, dot, inner, funcs);
          const entries: Array<[unknown, unknown]> = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v instanceof Map
              ? [...v.keys()].sort().map((k) => [k, v.get(k)])
              : typeof v === 'number'
                ? Array.from({ length: Math.max(0, v) }, (_, i) => [i, i])
                : v === null || v === undefined
                  ? []
                  : (() => {
                      throw new GoTemplateError(`${where}: range can't iterate over ${goString(v)}`);
                    })();
          if (!entries.length) {
            this.run(node.else, dot, inner, funcs, out, depth);
            break;
          }
          for (const [k, x] of entries) {
            const it: Scope = { vars: new Map(), parent: inner };
            if (decl.length === 1) it.vars.set(decl[0]!, x);
            if (decl.length === 2) {
              it.vars.set(decl[0]!, k);
              it.vars.set(decl[1]!, x);
            }
            this.run(node.then, x, it, funcs, out, depth);
          }
          break;
        }
        case 'tmpl': {
          const body = this.all.get(node.name);
          if (!body) throw new GoTemplateError(`${where}: no such template "${node.name}"`);
          const d = node.pipe ? this.pipe(node.pipe, dot, scope, funcs) : undefined;
          const sub = new GoTemplate(node.name, body, this.all);
          sub.run(body, d, { vars: new Map([['', d]]), parent: null }, funcs, out, depth + 1);
          break;
        }
      }
    }
  }

  private pipe(p: Pipeline, dot: unknown, scope: Scope, funcs: Record<string, GoFunc>): unknown {
    const where = `template "${this.name}"`;
    let v: unknown;
    let first = true;
    for (const cmd of p.cmds) {
      v = this.command(cmd, dot, scope, funcs, first ? [] : [v]);
      first = false;
    }
    if (p.decl.length) {
      if (p.assign) setVar(scope, p.decl[0]!, v, where);
      else scope.vars.set(p.decl[0]!, v);
    }
    return v;
  }

  private command(cmd: Command, dot: unknown, scope: Scope, funcs: Record<string, GoFunc>, piped: unknown[]): unknown {
    const where = `template "${this.name}"`;
    const head = cmd[0]!;
    if (head.k !== 'fn') {
      if (piped.length) throw new GoTemplateError(`${where}: can't pipe into a non-function`);
      return this.operand(head, dot, scope, funcs);
    }
    const name = head.name;
    if (name === 'and' || name === 'or') {
      const ops = [...cmd.slice(1), ...piped.map((x) => ({ k: 'lit', v: x }) as Operand)];
      let last: unknown;
      for (const o of ops) {
        last = this.operand(o, dot, scope, funcs);
        if (name === 'and' ? !truth(last) : truth(last)) return last;
      }
      return last;
    }
    const args = [...cmd.slice(1).map((o) => this.operand(o, dot, scope, funcs)), ...piped];
    const f = funcs[name];
    if (f) {
      try {
        return f(...args);
      } catch (e) {
        throw new GoTemplateError(`${where}: error calling ${name}: ${(e as Error).message}`);
      }
    }
    return builtin(name, args, where);
  }

  private operand(o: Operand, dot: unknown, scope: Scope, funcs: Record<string, GoFunc>): unknown {
    const where = `template "${this.name}"`;
    let v: unknown;
    let path: string[];
    switch (o.k) {
      case 'lit':
        return o.v;
      case 'fn':
        return this.command([o], dot, scope, funcs, []);
      case 'field':
        v = dot;
        path = o.path;
        break;
      case 'var':
        v = lookupVar(scope, o.name, where);
        path = o.path;
        break;
      case 'sub':
        v = this.pipe(o.pipe, dot, { vars: new Map(), parent: scope }, funcs);
        path = o.path;
        break;
    }
    for (const name of path) v = field(v, name, where);
    return v;
  }
}
