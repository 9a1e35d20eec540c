/**
 * gaol's non-interactive commands against the canonical Go Garden server (code.cloudfoundry.org/
 * garden/server over the Go in-memory backend, built and started by the Go conformance harness):
 * the CLI speaks the wire as the Go client expects it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GoGardenServer, startGoGardenServer } from '../../../test-e2e/go-conformance/go-server.mjs';
import { gaol } from './harness.js';

let go: GoGardenServer;
let sock: string;
let work: string;

beforeAll(async () => {
  go = await startGoGardenServer();
  sock = go.socketPath;
  work = mkdtempSync(join(tmpdir(), 'gaol-go-'));
}, 180_000);
afterAll(async () => {
  await go?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('gaol against the canonical Go server', () => {
  it('ping, capacity, create, list with property filters, ps, info, destroy', async () => {
    expect(await gaol(sock, ['ping'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const cap = JSON.parse((await gaol(sock, ['capacity', '--json'])).stdout);
    expect(cap).toEqual({
      memoryInBytes: expect.any(Number),
      diskInBytes: expect.any(Number),
      schedulableDiskInBytes: expect.any(Number),
      maxContainers: expect.any(Number),
    });
    expect(
      await gaol(sock, ['create', '-n', 'go-a', '--property', 'team=a', '-e', 'X=1', '-g', '10m']),
    ).toMatchObject({
      code: 0,
      stdout: 'go-a\n',
    });
    expect((await gaol(sock, ['create', '-n', 'go-b', '--property', 'team=b'])).code).toBe(0);
    expect((await gaol(sock, ['list'])).stdout.split('\n').filter(Boolean).sort()).toEqual(['go-a', 'go-b']);
    expect((await gaol(sock, ['list', '-p', 'team=b'])).stdout).toBe('go-b\n');
    expect((await gaol(sock, ['ps', '-q', '-f', 'team=a'])).stdout).toBe('go-a\n');
    expect((await gaol(sock, ['ps'])).stdout).toMatch(/^HANDLE\s+STATE\s+IP\s+PROCESSES\s+PROPERTIES\n/);
    const info = JSON.parse((await gaol(sock, ['info', 'go-a', '--json'])).stdout);
    expect(info).toMatchObject({ handle: 'go-a', state: 'active', properties: { team: 'a' } });
    expect(await gaol(sock, ['info', 'nope'])).toMatchObject({
      code: 125,
      stderr: 'gaol: no such container: nope\n',
    });
    const dup = await gaol(sock, ['create', '-n', 'go-a']);
    expect(dup.code).toBe(125);
    expect(dup.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(await gaol(sock, ['destroy', 'go-b'])).toMatchObject({ code: 0, stdout: '' });
  });

  it('properties, set-grace, metrics, net-in, net-out, stop', async () => {
    expect((await gaol(sock, ['set-property', 'go-a', 'k', 'v'])).code).toBe(0);
    expect((await gaol(sock, ['get-property', 'go-a', 'k'])).stdout).toBe('v\n');
    expect((await gaol(sock, ['properties', 'go-a'])).stdout).toContain('k\tv\n');
    expect((await gaol(sock, ['remove-property', 'go-a', 'k'])).code).toBe(0);
    expect((await gaol(sock, ['get-property', 'go-a', 'k'])).code).toBe(125);
    expect((await gaol(sock, ['set-grace', 'go-a', '-g', '1h'])).code).toBe(0);
    const metrics = JSON.parse((await gaol(sock, ['metrics', 'go-a', '--json'])).stdout);
    expect(metrics).toMatchObject({ memoryStat: expect.any(Object), age: expect.any(Number) });
    expect((await gaol(sock, ['net-in', 'go-a', '-p', '8080'])).stdout).toMatch(/^\d+\n$/);
    expect(
      (await gaol(sock, ['net-out', 'go-a', '-p', 'tcp', '--network', '10.0.0.0/24', '--port', '80-81']))
        .code,
    ).toBe(0);
    expect((await gaol(sock, ['stop', 'go-a'])).code).toBe(0);
  });

  it('run, exec and attach: output, exit codes and 127', async () => {
    expect(await gaol(sock, ['run', 'go-a', '-a', '-c', 'echo hello from go'])).toMatchObject({
      code: 0,
      stdout: 'hello from go\n',
    });
    expect(await gaol(sock, ['exec', 'go-a', 'sh', '-c', 'exit 7'])).toMatchObject({ code: 7 });
    expect(await gaol(sock, ['exec', 'go-a', 'sh', '-c', 'echo oops >&2'])).toMatchObject({
      code: 0,
      stderr: 'oops\n',
    });
    expect(await gaol(sock, ['exec', '-i', 'go-a', 'cat'], { stdin: 'through go\n' })).toMatchObject({
      stdout: 'through go\n',
    });
    expect(await gaol(sock, ['exec', 'go-a', 'nosuch'])).toMatchObject({
      code: 127,
      stderr: 'gaol: exec: "nosuch": executable file not found in $PATH\n',
    });
    const started = await gaol(sock, ['run', 'go-a', '--id', 'go-p', '-c', 'sleep 0.2']);
    expect(started).toMatchObject({ code: 0, stdout: 'go-p\n' });
    expect(await gaol(sock, ['attach', 'go-a', '--pid', 'go-p'])).toMatchObject({ code: 0 });
    expect(await gaol(sock, ['attach', 'go-a', '-p', 'unknown'])).toMatchObject({ code: 125 });
  });

  it('stream-in, stream-out and cp both ways', async () => {
    const host = join(work, 'src');
    mkdirSync(join(host, 'dir'), { recursive: true });
    writeFileSync(join(host, 'dir', 'f.txt'), 'through the go server\n');
    expect((await gaol(sock, ['cp', join(host, 'dir'), 'go-a:/data'])).code).toBe(0);
    expect((await gaol(sock, ['exec', 'go-a', 'cat', '/data/f.txt'])).stdout).toBe('through the go server\n');
    const tarOut = await gaol(sock, ['stream-out', 'go-a', '-s', '/data']);
    expect(tarOut.code).toBe(0);
    expect(tarOut.stdoutBuffer.includes(Buffer.from('through the go server'))).toBe(true);
    expect(
      (await gaol(sock, ['stream-in', 'go-a', '-d', '/copy'], { stdin: tarOut.stdoutBuffer })).code,
    ).toBe(0);
    expect((await gaol(sock, ['exec', 'go-a', 'cat', '/copy/data/f.txt'])).stdout).toBe(
      'through the go server\n',
    );
    const back = join(work, 'back');
    expect((await gaol(sock, ['cp', 'go-a:/copy/data/f.txt', back])).code).toBe(0);
    expect(readFileSync(back, 'utf8')).toBe('through the go server\n');
  });

  it('events: the Go server has no event stream, said in one line (125)', async () => {
    expect(await gaol(sock, ['events'])).toEqual({
      code: 125,
      stdout: '',
      stderr: `gaol: the server at unix://${sock} has no event stream (GET /events is a garden-ts extension; Guardian and the Go server do not serve it)\n`,
      stdoutBuffer: Buffer.alloc(0),
    });
  });

  it('rm -f and destroy', async () => {
    expect(await gaol(sock, ['rm', '-f', 'go-a', 'ghost'])).toMatchObject({ code: 0, stdout: 'go-a\n' });
    expect((await gaol(sock, ['list'])).stdout).toBe('');
  });
});
