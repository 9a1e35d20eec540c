import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseNetwork, parsePortRange } from '../src/commands/network.js';
import { parseCount, parseKeyValue, parsePort, parseSize, splitCommandLine } from '../src/values.js';

describe('splitCommandLine', () => {
  it('splits like sh, without expansions', () => {
    expect(splitCommandLine(`sh -c 'echo "a  b"; exit 3'`)).toEqual(['sh', '-c', 'echo "a  b"; exit 3']);
    expect(splitCommandLine(`echo "x \\"y\\" \\$HOME" a\\ b '' c`)).toEqual([
      'echo',
      'x "y" $HOME',
      'a b',
      '',
      'c',
    ]);
    expect(splitCommandLine('  ls   -l  ')).toEqual(['ls', '-l']);
    expect(() => splitCommandLine(`echo 'open`)).toThrow(`--command: unterminated ' in "echo 'open"`);
  });

  it('agrees with /bin/sh on quoted words (property test)', () => {
    const word = fc.string({
      unit: fc.constantFrom('a', 'b', ' ', '"', "'", '\\', '$', '-', '='),
      maxLength: 8,
    });
    const quote = (w: string) => `'${w.replaceAll("'", `'\\''`)}'`;
    const lines = fc.sample(fc.array(word, { minLength: 1, maxLength: 4 }), { numRuns: 40, seed: 7 });
    for (const words of lines) {
      const line = words.map(quote).join(' ');
      const viaSh = execFileSync('/bin/sh', ['-c', `for w in ${line}; do printf '%s\\0' "$w"; done`])
        .toString()
        .split('\0')
        .slice(0, -1);
      expect(splitCommandLine(line)).toEqual(viaSh);
    }
  });
});

describe('option values', () => {
  it('reads binary sizes', () => {
    expect(parseSize('1024', '--x')).toBe(1024n);
    expect(parseSize('512M', '--x')).toBe(512n * 1024n * 1024n);
    expect(parseSize('1.5g', '--x')).toBe(1610612736n);
    expect(parseSize('10KiB', '--x')).toBe(10240n);
    expect(parseSize('2GB', '--x')).toBe(2n << 30n);
    expect(() => parseSize('lots', '--limit-memory')).toThrow(
      '--limit-memory: invalid size "lots" (e.g. 1048576, 512M, 1.5G)',
    );
    expect(() => parseSize('20P', '--x')).not.toThrow();
    expect(() => parseSize('99999999999999999999', '--x')).toThrow('too large');
  });

  it('reads counts, ports and NAME=VALUE', () => {
    expect(parseCount('42', '--n')).toBe(42n);
    expect(() => parseCount('-1', '--limit-pids')).toThrow('--limit-pids: expected a whole number, got "-1"');
    expect(parsePort('8080', '-p')).toBe(8080);
    expect(() => parsePort('70000', '-p')).toThrow('-p: expected a port number (0-65535), got "70000"');
    expect(parseKeyValue('a=b=c', '--property')).toEqual(['a', 'b=c']);
    expect(() => parseKeyValue('=b', '--property')).toThrow('--property: expected NAME=VALUE, got "=b"');
  });

  it('turns networks into inclusive ranges', () => {
    expect(parseNetwork('10.0.0.0/8')).toEqual({ start: '10.0.0.0', end: '10.255.255.255' });
    expect(parseNetwork('192.168.1.77/30')).toEqual({ start: '192.168.1.76', end: '192.168.1.79' });
    expect(parseNetwork('1.2.3.4')).toEqual({ start: '1.2.3.4', end: '1.2.3.4' });
    expect(parseNetwork('1.2.3.4-1.2.3.9')).toEqual({ start: '1.2.3.4', end: '1.2.3.9' });
    expect(parseNetwork('2001:db8::/126')).toEqual({
      start: '2001:db8:0:0:0:0:0:0',
      end: '2001:db8:0:0:0:0:0:3',
    });
    expect(parseNetwork('::ffff:10.0.0.1/128')).toEqual({
      start: '0:0:0:0:0:ffff:a00:1',
      end: '0:0:0:0:0:ffff:a00:1',
    });
    expect(() => parseNetwork('10.0.0.0/33')).toThrow('--network: invalid prefix length in "10.0.0.0/33"');
    expect(() => parseNetwork('nope')).toThrow('--network: invalid IP address "nope"');
    expect(parsePortRange('8000-8999')).toEqual({ start: 8000, end: 8999 });
    expect(() => parsePortRange('9-8')).toThrow('ends before it starts');
  });
});
