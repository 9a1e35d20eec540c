/**
 * A deliberately small POSIX-sh subset for the simulated `sh -c`: simple commands joined by `;`,
 * newlines, `&&` and `||`; single/double quotes and backslash escapes; `$NAME`, `${NAME}` and `$?`
 * expansion; redirections `>&2`, `1>&2`, `2>&1`, `> file`, `>> file`, `2> file`. Anything fancier
 * (pipes, subshells, globbing) is a syntax error so tests notice instead of getting silent nonsense.
 */

/** Where a command's stdout or stderr goes. */
export type Redirect =
  | { kind: 'fd'; fd: 1 | 2 }
  | { kind: 'file'; path: Word; append: boolean }
  | { kind: 'null' };

/** A word as literal text and variable references, expanded when its command runs (so `$?` works). */
export type Word = Array<string | { variable: string }>;

/** Expands a word. */
export function expandWord(word: Word, lookup: (name: string) => string): string {
  return word.map((part) => (typeof part === 'string' ? part : lookup(part.variable))).join('');
}

export interface SimpleCommand {
  words: Word[];
  stdout?: Redirect;
  stderr?: Redirect;
}

/** How a command is joined to the one before it. */
export type Connector = ';' | '&&' | '||';

export interface Statement {
  connector: Connector;
  command: SimpleCommand;
}

export class ShellSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShellSyntaxError';
  }
}

type Token = { kind: 'word'; value: Word } | { kind: 'op'; value: string };

const SPECIAL = new Set([';', '\n', '&', '|', '>', '<', '(', ')', '`']);

/** Splits a script into tokens. */
export function tokenize(script: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const lookup = (variable: string) => ({ variable });
  const expand = (): string | { variable: string } => {
    // at '$'
    i++;
    if (script[i] === '{') {
      const close = script.indexOf('}', i);
      if (close < 0) throw new ShellSyntaxError('bad substitution');
      const name = script.slice(i + 1, close);
      i = close + 1;
      return lookup(name);
    }
    if (script[i] === '?') {
      i++;
      return lookup('?');
    }
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(script.slice(i));
    if (!match) return '$';
    i += match[0].length;
    return lookup(match[0]);
  };
  while (i < script.length) {
    const c = script[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < script.length && script[i] !== '\n') i++;
      continue;
    }
    if (c === ';' || c === '\n') {
      tokens.push({ kind: 'op', value: ';' });
      i++;
      continue;
    }
    const two = script.slice(i, i + 2);
    if (two === '&&' || two === '||' || two === '>>') {
      tokens.push({ kind: 'op', value: two });
      i += 2;
      continue;
    }
    if (two === '>&') {
      const fd = script[i + 2];
      if (fd !== '1' && fd !== '2')
        throw new ShellSyntaxError(`unsupported redirection ${script.slice(i, i + 3)}`);
      tokens.push({ kind: 'op', value: `>&${fd}` });
      i += 3;
      continue;
    }
    if (c === '>') {
      tokens.push({ kind: 'op', value: '>' });
      i++;
      continue;
    }
    if (SPECIAL.has(c)) throw new ShellSyntaxError(`unsupported syntax near '${c}'`);
    // A word, possibly with an fd prefix for a redirection (`2>`, `1>&2`).
    if ((c === '1' || c === '2') && script[i + 1] === '>') {
      const rest = script.slice(i + 1, i + 4);
      if (rest.startsWith('>&')) {
        const fd = rest[2];
        if (fd !== '1' && fd !== '2') throw new ShellSyntaxError(`unsupported redirection ${c}${rest}`);
        tokens.push({ kind: 'op', value: `${c}>&${fd}` });
        i += 4;
        continue;
      }
      const append = rest.startsWith('>>');
      tokens.push({ kind: 'op', value: `${c}${append ? '>>' : '>'}` });
      i += append ? 3 : 2;
      continue;
    }
    const word: Word = [];
    const add = (part: string | { variable: string }): void => {
      const last = word[word.length - 1];
      if (typeof part === 'string' && typeof last === 'string') word[word.length - 1] = last + part;
      else word.push(part);
    };
    while (i < script.length) {
      const ch = script[i]!;
      if (ch === ' ' || ch === '\t' || SPECIAL.has(ch)) break;
      if (ch === "'") {
        const close = script.indexOf("'", i + 1);
        if (close < 0) throw new ShellSyntaxError('unterminated quoted string');
        add(script.slice(i + 1, close));
        i = close + 1;
      } else if (ch === '"') {
        i++;
        while (i < script.length && script[i] !== '"') {
          const d = script[i]!;
          if (d === '\\' && i + 1 < script.length && '"\\$`\n'.includes(script[i + 1]!)) {
            add(script[i + 1]!);
            i += 2;
          } else if (d === '$') add(expand());
          else {
            add(d);
            i++;
          }
        }
        if (i >= script.length) throw new ShellSyntaxError('unterminated quoted string');
        i++;
      } else if (ch === '\\') {
        if (i + 1 < script.length && script[i + 1] !== '\n') add(script[i + 1]!);
        i += 2;
      } else if (ch === '$') add(expand());
      else {
        add(ch);
        i++;
      }
    }
    tokens.push({ kind: 'word', value: word });
  }
  return tokens;
}

function fileRedirect(path: Word | undefined, append: boolean): Redirect {
  if (path === undefined) throw new ShellSyntaxError('missing redirection target');
  return path.length === 1 && path[0] === '/dev/null' ? { kind: 'null' } : { kind: 'file', path, append };
}

/** Parses a script into statements. */
export function parseScript(script: string): Statement[] {
  const tokens = tokenize(script);
  const statements: Statement[] = [];
  let connector: Connector = ';';
  let current: SimpleCommand = { words: [] };
  const flush = (next: Connector): void => {
    const empty = current.words.length === 0 && !current.stdout && !current.stderr;
    if (empty && next !== ';') throw new ShellSyntaxError(`syntax error: unexpected "${next}"`);
    if (!empty) statements.push({ connector, command: current });
    connector = next;
    current = { words: [] };
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind === 'word') {
      current.words.push(token.value);
      continue;
    }
    const target = (): Word | undefined => {
      const next = tokens[i + 1];
      if (next?.kind !== 'word') return undefined;
      i++;
      return next.value;
    };
    switch (token.value) {
      case ';':
      case '&&':
      case '||':
        flush(token.value);
        break;
      case '>&2':
      case '1>&2':
        current.stdout = { kind: 'fd', fd: 2 };
        break;
      case '>&1':
      case '1>&1':
        current.stdout = { kind: 'fd', fd: 1 };
        break;
      case '2>&1':
        current.stderr = { kind: 'fd', fd: 1 };
        break;
      case '2>&2':
        current.stderr = { kind: 'fd', fd: 2 };
        break;
      case '>':
      case '1>':
        current.stdout = fileRedirect(target(), false);
        break;
      case '>>':
      case '1>>':
        current.stdout = fileRedirect(target(), true);
        break;
      case '2>':
        current.stderr = fileRedirect(target(), false);
        break;
      case '2>>':
        current.stderr = fileRedirect(target(), true);
        break;
      default:
        throw new ShellSyntaxError(`unsupported syntax near '${token.value}'`);
    }
  }
  if (connector !== ';' && current.words.length === 0)
    throw new ShellSyntaxError('syntax error: unexpected end of file');
  flush(';');
  return statements;
}
