import { PassThrough } from 'node:stream';
import { ExecutableNotFoundError, GardenError, Signal } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { createFakeBackend } from '../src/index.js';
import { Collector, listTar } from './helpers.js';

async function setup(env: string[] = []) {
  const backend = createFakeBackend();
  const container = await backend.create({ env });
  const exec = async (
    path: string,
    args: string[] = [],
    extra: { env?: string[]; dir?: string; user?: string; stdin?: string } = {},
  ) => {
    const stdout = new Collector();
    const stderr = new Collector();
    const stdin = extra.stdin === undefined ? undefined : new PassThrough().end(extra.stdin);
    const process = await container.run(
      {
        path,
        args,
        ...(extra.env ? { env: extra.env } : {}),
        ...(extra.dir ? { dir: extra.dir } : {}),
        ...(extra.user ? { user: extra.user } : {}),
      },
      { stdout, stderr, ...(stdin ? { stdin } : {}) },
    );
    const status = await process.wait();
    return { status, stdout: stdout.text(), stderr: stderr.text() };
  };
  return { backend, container, exec };
}

describe('simulated commands', () => {
  it('echo joins args with single spaces', async () => {
    const { exec } = await setup();
    expect(await exec('echo', ['a', 'b  c', ''])).toEqual({ status: 0, stdout: 'a b  c \n', stderr: '' });
    expect(await exec('/bin/echo', ['-n', 'x'])).toEqual({ status: 0, stdout: 'x', stderr: '' });
    expect((await exec('/usr/bin/echo', [])).stdout).toBe('\n');
  });

  it('stty size prints the TTY window (rows columns) as set at run and by setTTY; no TTY is an error', async () => {
    const { container, exec } = await setup();
    expect(await exec('stty', ['size'])).toEqual({
      status: 1,
      stdout: '',
      stderr: 'stty: standard input: Not a tty\n',
    });
    const stdin = new PassThrough();
    const stdout = new Collector();
    const p = await container.run(
      { path: 'sh', args: ['-c', 'stty size; cat; stty size'], tty: { windowSize: { columns: 100 } } },
      { stdin, stdout },
    );
    await expect.poll(() => stdout.text()).toBe('24 100\n');
    await p.setTTY({ windowSize: { columns: 132, rows: 43 } });
    stdin.end();
    expect(await p.wait()).toBe(0);
    expect(stdout.text()).toBe('24 100\n43 132\n');
  });

  it('true and false', async () => {
    const { exec } = await setup();
    expect((await exec('true')).status).toBe(0);
    expect((await exec('/bin/false')).status).toBe(1);
  });

  it('cat copies stdin to stdout and prints files', async () => {
    const { exec } = await setup();
    expect(await exec('cat', [], { stdin: 'some input' })).toEqual({
      status: 0,
      stdout: 'some input',
      stderr: '',
    });
    const passwd = await exec('cat', ['/etc/passwd']);
    expect(passwd.stdout).toContain('vcap:x:2000:2000');
    expect(passwd.stdout).toContain('nobody:x:65534');
    expect(await exec('cat', ['/nope'])).toEqual({
      status: 1,
      stdout: '',
      stderr: 'cat: /nope: No such file or directory\n',
    });
    expect((await exec('cat', ['/root/x'], { user: 'alice' })).stderr).toContain('Permission denied');
  });

  it('sh -c runs exit, echo, redirections and sequences', async () => {
    const { exec } = await setup();
    expect((await exec('sh', ['-c', 'exit 42'])).status).toBe(42);
    expect(await exec('sh', ['-c', 'echo oops >&2'])).toEqual({ status: 0, stdout: '', stderr: 'oops\n' });
    expect(await exec('/bin/sh', ['-c', 'echo a; echo b >&2; exit 3'])).toEqual({
      status: 3,
      stdout: 'a\n',
      stderr: 'b\n',
    });
    expect(await exec('sh', ['-c', 'false; echo $?; true && echo yes || echo no'])).toMatchObject({
      stdout: '1\nyes\n',
    });
    expect((await exec('sh', ['-c', 'exit 300'])).status).toBe(300 & 255);
  });

  it('sh -c reports unknown commands with 127 and keeps going', async () => {
    const { exec } = await setup();
    expect(await exec('sh', ['-c', 'frobnicate --now'])).toEqual({
      status: 127,
      stdout: '',
      stderr: 'sh: frobnicate: not found\n',
    });
    expect(await exec('sh', ['-c', 'nope; echo after'])).toEqual({
      status: 0,
      stdout: 'after\n',
      stderr: 'sh: nope: not found\n',
    });
    expect((await exec('sh', ['-c', 'echo a | cat'])).status).toBe(2);
  });

  it('sh writes redirected output into the file tree as the user', async () => {
    const { exec, backend, container } = await setup();
    expect((await exec('sh', ['-c', 'echo one > /tmp/f; echo two >> /tmp/f'])).status).toBe(0);
    expect(backend.readFile(container.handle, '/tmp/f').toString()).toBe('one\ntwo\n');
    expect((await exec('sh', ['-c', 'cat /tmp/f'])).stdout).toBe('one\ntwo\n');
    const denied = await exec('sh', ['-c', 'echo x > /root/f'], { user: 'bob' });
    expect(denied.status).toBe(1);
    expect(denied.stderr).toContain('Permission denied');
  });

  it('sh reads a script from stdin', async () => {
    const { exec } = await setup();
    expect(await exec('sh', [], { stdin: 'echo from stdin\nexit 4\n' })).toEqual({
      status: 4,
      stdout: 'from stdin\n',
      stderr: '',
    });
  });

  it('sleep waits for real and accepts fractions', async () => {
    const { exec } = await setup();
    const started = performance.now();
    expect((await exec('sleep', ['0.05'])).status).toBe(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(await exec('sleep', ['soon'])).toEqual({
      status: 1,
      stdout: '',
      stderr: "sleep: invalid time interval 'soon'\n",
    });
  });

  it('pwd prints spec.dir, else the home of the user, else /', async () => {
    const { exec, backend, container } = await setup();
    expect((await exec('pwd', [], { dir: '/var/app' })).stdout).toBe('/var/app\n');
    expect((await exec('pwd', [], { dir: 'rel/dir' })).stdout).toBe('/rel/dir\n');
    expect((await exec('pwd', [], { user: 'alice' })).stdout).toBe('/home/alice\n');
    expect((await exec('pwd')).stdout).toBe('/root\n');
    expect((await exec('pwd', [], { user: '4242' })).stdout).toBe('/\n');
    // The working dir is created like Guardian's mkdir -p, owned by the process user.
    const [entry] = await listTar(await container.streamOut({ path: '/rel' }));
    expect(entry).toMatchObject({ name: 'rel/', type: 'directory', uid: 0 });
    expect(backend.handles()).toEqual([container.handle]);
  });

  it('env prints container env then process env, overriding in place', async () => {
    const { exec } = await setup(['CONTAINER_ENV=1', 'TEST=hi']);
    expect((await exec('env', [], { env: ['TEST=hello', 'FRUIT=banana'] })).stdout).toBe(
      'CONTAINER_ENV=1\nTEST=hello\nFRUIT=banana\n',
    );
    expect((await exec('sh', ['-c', 'echo "$TEST-$FRUIT"'], { env: ['FRUIT=kiwi'] })).stdout).toBe(
      'hi-kiwi\n',
    );
  });

  it('unknown executables are ExecutableNotFoundError', async () => {
    const { container } = await setup();
    await expect(container.run({ path: 'nonexistent' }, {})).rejects.toThrow(ExecutableNotFoundError);
    await expect(container.run({ path: 'nonexistent' }, {})).rejects.toThrow(
      'exec: "nonexistent": executable file not found in $PATH',
    );
    await expect(container.run({ path: '/opt/echo' }, {})).rejects.toThrow(/no such file or directory/);
  });

  it('unknown users are rejected', async () => {
    const { container } = await setup();
    await expect(container.run({ path: 'echo', user: 'mallory' }, {})).rejects.toThrow(
      new GardenError('unable to find user mallory: no matching entries in passwd file'),
    );
  });

  it('signals end sleep with 128 + signal', async () => {
    const { container } = await setup();
    const term = await container.run({ path: 'sleep', args: ['100'] }, {});
    await term.signal(Signal.Terminate);
    expect(await term.wait()).toBe(143);
    const kill = await container.run({ path: 'sh', args: ['-c', 'sleep 100; echo never'] }, {});
    await kill.signal(Signal.Kill);
    expect(await kill.wait()).toBe(137);
    await kill.signal(Signal.Terminate);
    expect(await kill.wait()).toBe(137);
  });

  it('tty merges stderr into stdout and records window size', async () => {
    const { container, backend } = await setup();
    const stdout = new Collector();
    const stderr = new Collector();
    const p = await container.run(
      { path: 'sh', args: ['-c', 'echo out; echo err >&2'], tty: { windowSize: { columns: 100 } } },
      { stdout, stderr },
    );
    expect(await p.wait()).toBe(0);
    expect(stdout.text()).toBe('out\nerr\n');
    expect(stderr.text()).toBe('');
    expect(backend.processTTY(container.handle, p.id)).toEqual({
      tty: true,
      windowSize: { columns: 100, rows: 24 },
    });
    await p.setTTY({ windowSize: { columns: 120, rows: 40 } });
    expect(backend.processTTY(container.handle, p.id).windowSize).toEqual({ columns: 120, rows: 40 });
  });
});
