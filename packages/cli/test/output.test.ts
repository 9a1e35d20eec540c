import {
  ContainerNotFoundError,
  ExecutableNotFoundError,
  GardenConnectionError,
  GardenError,
  ProcessNotFoundError,
} from '@garden-ts/client';
import { describe, expect, it } from 'vitest';
import { describeError, ExitCode, exitCodeOfStatus, isCannotRun } from '../src/errors.js';
import { flatten, formatBytes, formatDuration, keyValues, table } from '../src/format.js';
import { progressLine, startProgress } from '../src/progress.js';
import { parseTarget } from '../src/target.js';

describe('human formats', () => {
  it('formats durations like Go', () => {
    expect(formatDuration(0n)).toBe('0s');
    expect(formatDuration(250_000_000n)).toBe('250ms');
    expect(formatDuration(90_000_000_000n)).toBe('1m30s');
    expect(formatDuration(3_723_500_000_000n)).toBe('1h2m3.5s');
    expect(formatDuration(1500n)).toBe('1.5µs');
  });

  it('formats bytes, tables and key/values', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536n)).toBe('1.5 KiB');
    expect(formatBytes(256n << 20n)).toBe('256 MiB');
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['xx', '1'],
          ['y', '22'],
        ],
      ),
    ).toBe('A    LONGER\nxx   1\ny    22');
    expect(keyValues(flatten({ a: { b: 1n, c: [] }, age: 2_000_000_000n, memoryInBytes: 2048n }))).toBe(
      'a.b:           1\na.c:           []\nage:           2s (2000000000 ns)\nmemoryInBytes: 2048 (2.0 KiB)',
    );
  });

  it('draws progress only on a terminal, throttled, and erases it', () => {
    expect(progressLine('Copying', 512, 1024, 60)).toBe(
      `Copying [${'='.repeat(14)}${' '.repeat(13)}]  50%  512 B / 1.0 KiB`,
    );
    expect(progressLine('Copying', 2048, undefined)).toBe('Copying  2.0 KiB');
    const written: string[] = [];
    let t = 0;
    const p = startProgress(
      { isTTY: true, columns: 40, write: (s) => written.push(s) },
      { label: 'X', total: 100, now: () => t },
    );
    p.add(10);
    t = 50;
    p.add(10); // throttled
    t = 200;
    p.add(80);
    p.done();
    expect(written).toEqual([expect.stringContaining(' 10%'), expect.stringContaining('100%'), '\r\x1b[2K']);
    const quiet: string[] = [];
    const q = startProgress({ isTTY: false, write: (s) => quiet.push(s) }, { label: 'X' });
    q.add(5);
    q.done();
    expect(quiet).toEqual([]);
    expect(q.bytes).toBe(5);
  });
});

describe('targets', () => {
  it('reads unix sockets and host:port', () => {
    expect(parseTarget('unix:///tmp/garden.sock')).toMatchObject({
      kind: 'unix',
      socketPath: '/tmp/garden.sock',
    });
    expect(parseTarget('/run/g.sock')).toMatchObject({ kind: 'unix', socketPath: '/run/g.sock' });
    expect(parseTarget('./g.sock')).toMatchObject({ kind: 'unix', socketPath: './g.sock' });
    expect(parseTarget('127.0.0.1:7777')).toMatchObject({ kind: 'tcp', host: '127.0.0.1', port: 7777 });
    expect(parseTarget('tcp://garden.local:7777')).toMatchObject({
      kind: 'tcp',
      host: 'garden.local',
      port: 7777,
    });
    expect(parseTarget('[::1]:7777')).toMatchObject({
      kind: 'tcp',
      host: '::1',
      port: 7777,
      display: '[::1]:7777',
    });
    expect(() => parseTarget('localhost')).toThrow(
      'invalid target "localhost": expected unix:///path/to.sock or host:port',
    );
    expect(() => parseTarget('h:99999')).toThrow('invalid target');
    expect(() => parseTarget('unix://')).toThrow('no socket path');
  });
});

describe('exit codes and messages', () => {
  it('maps Garden errors by code', () => {
    expect(describeError(new ContainerNotFoundError('web'), 't')).toEqual({
      exitCode: 125,
      message: 'no such container: web',
    });
    expect(describeError(new ProcessNotFoundError('7'), 't')).toEqual({
      exitCode: 125,
      message: 'no such process: 7',
    });
    expect(
      describeError(new ExecutableNotFoundError('exec: "x": executable file not found in $PATH'), 't'),
    ).toEqual({
      exitCode: ExitCode.NotFound,
      message: 'exec: "x": executable file not found in $PATH',
    });
    expect(describeError(new GardenError('boom'), 't')).toEqual({ exitCode: 125, message: 'boom' });
    expect(describeError('weird', 't')).toEqual({ exitCode: 125, message: 'weird' });
  });

  it('says which server could not be reached, and why', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED /x.sock'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
    });
    expect(describeError(refused, 'unix:///x.sock').message).toBe(
      'cannot reach the Garden server at unix:///x.sock: connection refused (is gardend running? set -t/--target or GAOL_TARGET)',
    );
    const wrapped = new GardenError('request failed', {
      cause: Object.assign(new Error('dial unix:/x: i/o timeout'), { code: 'ETIMEDOUT' }),
    });
    expect(describeError(wrapped, 'x').message).toContain(': timed out (is gardend running?');
    // ENOENT of something else (a missing local file) is not a connection failure.
    expect(
      describeError(Object.assign(new Error('open a'), { code: 'ENOENT', syscall: 'open' }), 'x').message,
    ).toBe('open a');
  });

  it("reads the client's typed connection errors", () => {
    const dial = Object.assign(new Error('connect ECONNREFUSED /g.sock'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
    });
    const refused = new GardenConnectionError(
      'cannot connect to the Garden server at unix:/g.sock: connect ECONNREFUSED /g.sock',
      {
        address: 'unix:/g.sock',
        transportCode: 'ECONNREFUSED',
        cause: dial,
      },
    );
    expect(describeError(refused, 'unix:///g.sock')).toEqual({
      exitCode: 125,
      message:
        'cannot reach the Garden server at unix:///g.sock: connection refused (is gardend running? set -t/--target or GAOL_TARGET)',
    });
    const lost = new GardenConnectionError(
      'connection to the Garden server at unix:/g.sock lost before the process exited: read ECONNRESET',
      {
        address: 'unix:/g.sock',
        transportCode: 'ECONNRESET',
      },
    );
    expect(describeError(lost, 'unix:///g.sock')).toEqual({ exitCode: 125, message: lost.message });
  });

  it('passes exit statuses through, including 128+N', () => {
    expect(exitCodeOfStatus(0)).toBe(0);
    expect(exitCodeOfStatus(143)).toBe(143);
    expect(exitCodeOfStatus(255)).toBe(255);
    expect(exitCodeOfStatus(-1)).toBe(125);
    expect(exitCodeOfStatus(256)).toBe(125);
    expect(isCannotRun(new GardenError('running /x failed at exec: permission denied'))).toBe(true);
    expect(isCannotRun(new GardenError('no space left'))).toBe(false);
  });
});
