import { describe, expect, it } from 'vitest';
import { expandWord, parseScript, ShellSyntaxError } from './shell-parser.js';

const env: Record<string, string> = { HOME: '/home/alice', EMPTY: '', '?': '3' };
const look = (name: string): string => env[name] ?? '';
const words = (script: string): string[][] =>
  parseScript(script).map((s) => s.command.words.map((w) => expandWord(w, look)));

describe('parseScript', () => {
  it('splits statements on ; newlines && and ||', () => {
    const statements = parseScript('echo a; echo b\necho c && echo d || exit 2');
    expect(statements.map((s) => s.connector)).toEqual([';', ';', ';', '&&', '||']);
    expect(words('echo a; echo b\necho c')).toEqual([
      ['echo', 'a'],
      ['echo', 'b'],
      ['echo', 'c'],
    ]);
  });

  it('handles quotes, escapes and variables', () => {
    expect(words(`echo 'a  b' "c \\"d\\" $HOME" e\\ f \${HOME}x $? ''`)).toEqual([
      ['echo', 'a  b', 'c "d" /home/alice', 'e f', '/home/alicex', '3', ''],
    ]);
    expect(words("echo '$HOME'")).toEqual([['echo', '$HOME']]);
  });

  it('parses redirections', () => {
    const [a, b, c, d] = parseScript('echo x >&2; echo y 1>&2; cat 2>&1; echo z > /tmp/f 2>/dev/null');
    expect(a!.command.stdout).toEqual({ kind: 'fd', fd: 2 });
    expect(b!.command.stdout).toEqual({ kind: 'fd', fd: 2 });
    expect(c!.command.stderr).toEqual({ kind: 'fd', fd: 1 });
    expect(d!.command.stdout).toEqual({ kind: 'file', path: ['/tmp/f'], append: false });
    expect(d!.command.stderr).toEqual({ kind: 'null' });
    expect(parseScript('echo a >> f')[0]!.command.stdout).toMatchObject({ kind: 'file', append: true });
  });

  it('ignores comments and empty statements', () => {
    expect(words('# nothing\n;; echo hi # trailing')).toEqual([['echo', 'hi']]);
    expect(parseScript('')).toEqual([]);
  });

  it('rejects what it does not support', () => {
    for (const script of [
      'echo a | cat',
      'echo $(id)',
      '(exit 1)',
      "echo 'open",
      'echo a &&',
      '&& echo',
      'echo >',
    ]) {
      expect(() => parseScript(script), script).toThrow(ShellSyntaxError);
    }
  });
});
