/**
 * gaol's commands in-process against @garden-ts/server + backend-fake: output formats, --json,
 * -q, exit codes and one-line errors.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createClient } from '@garden-ts/client';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGarden, gaol, startFakeGarden } from './harness.js';

let garden: FakeGarden;
let sock: string;
let work: string;

beforeAll(async () => {
  garden = await startFakeGarden();
  sock = garden.socketPath;
  work = mkdtempSync(join(tmpdir(), 'gaol-cmd-'));
});
afterAll(async () => {
  await garden?.close();
  rmSync(work, { recursive: true, force: true });
});

const client = () => createClient({ socketPath: sock });

async function tarOf(entries: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(entries)) pack.entry({ name }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function tarEntries(buf: Buffer): Promise<Record<string, string>> {
  const extract = tar.extract();
  const out: Record<string, string> = {};
  extract.end(buf);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out[entry.header.name] = entry.header.type === 'directory' ? '<dir>' : Buffer.concat(chunks).toString();
  }
  return out;
}

describe('without a server', () => {
  it('prints help and the version, exit 0', async () => {
    const help = await gaol(undefined, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: gaol [OPTIONS] COMMAND');
    expect(help.stdout).toContain('  shell ');
    const cmdHelp = await gaol(undefined, ['create', '--help']);
    expect(cmdHelp.stdout).toContain('-n, --handle HANDLE');
    expect((await gaol(undefined, ['help', 'cp'])).stdout).toContain('Usage: gaol cp [OPTIONS] SRC DST');
    expect((await gaol(undefined, ['--version'])).stdout).toMatch(/^gaol \d+\.\d+\.\d+\n$/);
  });

  it('fails with one line and 125 on usage errors', async () => {
    for (const [args, line] of [
      [['frobnicate'], 'gaol: unknown command "frobnicate" (see \'gaol --help\')'],
      [['lsit'], 'gaol: unknown command "lsit" (did you mean "list"?)'],
      [['create', '--nope'], "gaol create: unknown option --nope (see 'gaol create --help')"],
      [
        ['destroy'],
        "gaol destroy: missing arguments: expected HANDLE [HANDLE...] (see 'gaol destroy --help')",
      ],
      [
        ['create', '-k', 'lots'],
        'gaol create: --limit-memory: invalid size "lots" (e.g. 1048576, 512M, 1.5G)',
      ],
      [['-t', 'nohost', 'ping'], 'gaol: invalid target "nohost": expected unix:///path/to.sock or host:port'],
    ] as const) {
      const r = await gaol(undefined, [...args]);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr, args.join(' ')).toBe(`${line}\n`);
      expect(r.stdout).toBe('');
    }
  });

  it('says which server it cannot reach (and shows the stack only with --debug)', async () => {
    const missing = join(work, 'no.sock');
    const r = await gaol(missing, ['ping']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(
      `gaol: cannot reach the Garden server at ${missing}: no such socket (is gardend running? set -t/--target or GAOL_TARGET)\n`,
    );
    const env = await gaol(undefined, ['ping'], { env: { GAOL_TARGET: `unix://${missing}` } });
    expect(env.stderr).toContain(`at unix://${missing}: no such socket`);
    const dbg = await gaol(missing, ['--debug', 'ping']);
    expect(dbg.stderr.split('\n').length).toBeGreaterThan(3);
    expect(dbg.stderr).toContain('    at ');
  });
});

describe('against a server', () => {
  it('ping, create, list, ps, info, destroy', async () => {
    expect(await gaol(sock, ['ping'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const created = await gaol(sock, [
      'create',
      '-n',
      'c1',
      '-e',
      'A=1',
      '--property',
      'team=a',
      '-k',
      '64M',
      '-g',
      '5m',
    ]);
    expect(created).toMatchObject({ code: 0, stdout: 'c1\n', stderr: '' });
    const generated = await gaol(sock, ['create']);
    expect(generated.stdout).toMatch(/^\S+\n$/);
    const other = generated.stdout.trim();

    const info = await (await client().lookup('c1')).info();
    expect(info.properties).toEqual({ team: 'a' });
    const limits = await (await client().lookup('c1')).currentMemoryLimits();
    expect(limits.limitInBytes).toBe(64n << 20n);

    expect((await gaol(sock, ['list'])).stdout.split('\n').sort()).toEqual(['', 'c1', other].sort());
    expect((await gaol(sock, ['list', '-p', 'team=a'])).stdout).toBe('c1\n');
    expect(JSON.parse((await gaol(sock, ['list', '-p', 'team=a', '--json'])).stdout)).toEqual(['c1']);
    expect((await gaol(sock, ['list', '-p', 'team=a', '-v'])).stdout).toBe('c1\n  team=a\n\n');
    expect((await gaol(sock, ['list', '-p', 'team=a', '-v', '--separator', '--\n'])).stdout).toBe(
      'c1\n  team=a\n--\n',
    );

    const ps = await gaol(sock, ['ps', '-f', 'team=a']);
    expect(ps.stdout).toMatch(
      /^HANDLE\s+STATE\s+IP\s+PROCESSES\s+PROPERTIES\nc1\s+active\s+\S+\s+0\s+team=a\n$/,
    );
    expect((await gaol(sock, ['ps', '-q', '--filter', 'team=a'])).stdout).toBe('c1\n');
    const psJson = JSON.parse((await gaol(sock, ['ps', '--json', '-f', 'team=a'])).stdout);
    expect(psJson).toEqual([
      expect.objectContaining({ handle: 'c1', state: 'active', properties: { team: 'a' } }),
    ]);

    const human = await gaol(sock, ['info', 'c1']);
    expect(human.stdout).toMatch(/^handle:\s+c1\nstate:\s+active\n/);
    expect(human.stdout).toContain('properties.team: a');
    expect(JSON.parse((await gaol(sock, ['info', 'c1', '--json'])).stdout)).toMatchObject({
      handle: 'c1',
      state: 'active',
    });
    const both = JSON.parse((await gaol(sock, ['info', '--json', 'c1', other])).stdout);
    expect(both.map((i: { handle: string }) => i.handle)).toEqual(['c1', other]);

    const missing = await gaol(sock, ['info', 'nope']);
    expect(missing).toMatchObject({ code: 125, stdout: '', stderr: 'gaol: no such container: nope\n' });

    const destroyed = await gaol(sock, ['destroy', other, 'nope']);
    expect(destroyed).toMatchObject({ code: 125, stdout: '', stderr: 'gaol: no such container: nope\n' });
    expect((await gaol(sock, ['list'])).stdout).toBe('c1\n');
    expect((await gaol(sock, ['destroy', 'c1'])).code).toBe(0);
  });

  it('create passes every option through', async () => {
    const r = await gaol(
      sock,
      [
        'create',
        '-n',
        'full',
        '-r',
        'raw:///rootfs',
        '-p',
        '-m',
        '/src:/dst',
        '-m',
        'rel:/ro:ro',
        '--network',
        '10.9.0.0/30',
        '--limit-cpu',
        '512',
        '--limit-disk',
        '1G',
        '--limit-inodes',
        '1000',
        '--limit-pids',
        '50',
        '--limit-bandwidth',
        '1M',
        '--net-in',
        '0:8080',
      ],
      { cwd: '/work' },
    );
    expect(r).toMatchObject({ code: 0, stdout: 'full\n' });
    const c = await client().lookup('full');
    // The weight reads back as Guardian reports it: as limit_in_shares.
    expect(await c.currentCPULimits()).toMatchObject({ limitInShares: 512n });
    expect(await c.currentDiskLimits()).toMatchObject({ byteHard: 1n << 30n, inodeHard: 1000n });
    expect(await c.currentBandwidthLimits()).toEqual({
      rateInBytesPerSecond: 1n << 20n,
      burstRateInBytesPerSecond: 1n << 20n,
    });
    expect((await c.info()).mappedPorts).toEqual([expect.objectContaining({ containerPort: 8080 })]);
    await client().destroy('full');

    const bad = await gaol(sock, ['create', '-m', 'nocolon']);
    expect(bad).toMatchObject({
      code: 125,
      stderr:
        'gaol create: --bind-mount: expected HOST:CONTAINER[:ro|rw], got "nocolon" (see \'gaol create --help\')\n',
    });
    const dup = await gaol(sock, ['create', '-n', 'dup']);
    expect(dup.code).toBe(0);
    const again = await gaol(sock, ['create', '-n', 'dup']);
    expect(again.code).toBe(125);
    expect(again.stderr).toMatch(/^gaol: .*dup.*\n$/);
    expect(again.stderr.split('\n')).toHaveLength(2);
    await client().destroy('dup');
  });

  it('properties, get-property, set-property, remove-property, set-grace, capacity, metrics', async () => {
    await gaol(sock, ['create', '-n', 'p1', '--property', 'b=2', '--property', 'a=1']);
    expect((await gaol(sock, ['properties', 'p1'])).stdout).toBe('a\t1\nb\t2\n');
    expect(JSON.parse((await gaol(sock, ['properties', 'p1', '--json'])).stdout)).toEqual({ a: '1', b: '2' });
    expect((await gaol(sock, ['set-property', 'p1', 'c', 'x y'])).code).toBe(0);
    expect((await gaol(sock, ['get-property', 'p1', 'c'])).stdout).toBe('x y\n');
    expect((await gaol(sock, ['get-property', 'p1', 'c', '--json'])).stdout).toBe('"x y"\n');
    expect((await gaol(sock, ['remove-property', 'p1', 'c'])).code).toBe(0);
    const gone = await gaol(sock, ['get-property', 'p1', 'c']);
    expect(gone.code).toBe(125);
    expect(gone.stderr).toMatch(/^gaol: .+\n$/);

    expect((await gaol(sock, ['set-grace', 'p1', '-g', '90s'])).code).toBe(0);
    expect((await gaol(sock, ['set-grace', 'p1', '2m'])).code).toBe(0);
    expect(await gaol(sock, ['set-grace', 'p1', '-g', 'soon'])).toMatchObject({
      code: 125,
      stderr: 'gaol set-grace: --grace: invalid duration "soon" (e.g. 30s, 5m, 1h30m; 0 = none)\n',
    });

    const cap = await gaol(sock, ['capacity']);
    expect(cap.stdout).toMatch(/^memoryInBytes:\s+\d+ \(.+\)\n/m);
    const capJson = await gaol(sock, ['capacity', '--json']);
    const capacity = await client().capacity();
    expect(capJson.stdout).toContain(`"memoryInBytes": ${capacity.memoryInBytes}`);

    const m = await gaol(sock, ['metrics', 'p1']);
    expect(m.stdout).toMatch(/^memoryStat\.activeAnon:/);
    expect(m.stdout).toMatch(/\nage:\s+\S+ \(\d+ ns\)\n/);
    const mj = JSON.parse((await gaol(sock, ['metrics', 'p1', '--json'])).stdout);
    expect(typeof mj.age).toBe('number');
    await client().destroy('p1');
  });

  it('run, exec and attach: output, exit codes 0/N/127, detached ids', async () => {
    await gaol(sock, ['create', '-n', 'r1']);
    const echo = await gaol(sock, ['run', 'r1', '-a', '-c', 'echo "hello  world"']);
    expect(echo).toMatchObject({ code: 0, stdout: 'hello  world\n', stderr: '' });
    const viaDashes = await gaol(sock, [
      'run',
      'r1',
      '-a',
      '--',
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    expect(viaDashes).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    const env = await gaol(sock, [
      'run',
      'r1',
      '-a',
      '-e',
      'GREETING=hi',
      '-d',
      '/tmp',
      '-c',
      'sh -c "echo $GREETING; pwd"',
    ]);
    expect(env.stdout).toBe('hi\n/tmp\n');
    const stdin = await gaol(sock, ['run', 'r1', '-a', '-c', 'cat'], { stdin: 'piped\n' });
    expect(stdin.stdout).toBe('piped\n');

    const detached = await gaol(sock, ['run', 'r1', '--id', 'bg1', '-c', 'sleep 0.3']);
    expect(detached).toMatchObject({ code: 0, stdout: 'bg1\n' });
    const attached = await gaol(sock, ['attach', 'r1', '-p', 'bg1']);
    expect(attached.code).toBe(0);
    const noProc = await gaol(sock, ['attach', 'r1', 'nope']);
    expect(noProc).toMatchObject({ code: 125, stderr: 'gaol: no such process: nope\n' });

    expect(await gaol(sock, ['exec', 'r1', 'sh', '-c', 'exit 42'])).toMatchObject({ code: 42 });
    expect(await gaol(sock, ['exec', 'r1', 'echo', '-n', 'x'])).toMatchObject({ code: 0, stdout: 'x' });
    const notFound = await gaol(sock, ['exec', 'r1', 'no-such-program']);
    expect(notFound).toMatchObject({
      code: 127,
      stdout: '',
      stderr: 'gaol: exec: "no-such-program": executable file not found in $PATH\n',
    });
    // Without -i stdin is not attached: cat sees nothing and is ended with the process.
    const interactive = await gaol(sock, ['exec', '-i', 'r1', 'cat'], { stdin: 'in\n' });
    expect(interactive.stdout).toBe('in\n');
    const d = await gaol(sock, ['exec', '-d', 'r1', 'sleep', '0.1']);
    expect(d.stdout).toMatch(/^\S+\n$/);
    expect(await gaol(sock, ['exec', 'nope', 'true'])).toMatchObject({
      code: 125,
      stderr: 'gaol: no such container: nope\n',
    });
    expect(await gaol(sock, ['run', 'r1', '-a'])).toMatchObject({
      code: 125,
      stderr:
        'gaol run: missing the command: -c "COMMAND ARGS" or -- COMMAND ARGS (see \'gaol run --help\')\n',
    });
    await client().destroy('r1');
  });

  it('forwards SIGINT as terminate, then kill, and exits with the process status (128+N)', async () => {
    await gaol(sock, ['create', '-n', 's1']);
    const signals = new EventEmitter();
    const running = gaol(sock, ['exec', 's1', 'sleep', '30'], { signals });
    await new Promise((r) => setTimeout(r, 300));
    signals.emit('SIGINT');
    const r = await running;
    expect(r.code).toBe(143);
    await client().destroy('s1');
  });

  it('refuses a shell without a terminal and tar to or from a terminal', async () => {
    await gaol(sock, ['create', '-n', 't1']);
    expect(await gaol(sock, ['shell', 't1'])).toMatchObject({
      code: 125,
      stderr:
        'gaol: the input device is not a TTY: gaol shell needs a terminal (for a shell without one: gaol exec -i t1 sh)\n',
    });
    expect(await gaol(sock, ['exec', '-it', 't1', 'sh'])).toMatchObject({ code: 125 });
    const out = await gaol(sock, ['stream-out', 't1', '-s', '/'], { tty: { stdout: true } });
    expect(out.stderr).toMatch(/^gaol: refusing to write a tar archive to a terminal/);
    const inn = await gaol(sock, ['stream-in', 't1', '-d', '/'], { tty: { stdin: true } });
    expect(inn.stderr).toMatch(/^gaol: expected a tar archive on stdin, not a terminal/);
    await client().destroy('t1');
  });

  it('rm refuses containers with processes unless -f; -f ignores unknown handles', async () => {
    await gaol(sock, ['create', '-n', 'busy']);
    await gaol(sock, ['run', 'busy', '--id', 'long', '-c', 'sleep 60']);
    const refused = await gaol(sock, ['rm', 'busy']);
    expect(refused).toMatchObject({
      code: 125,
      stdout: '',
      stderr: 'gaol: container busy has 1 running process(es): stop it first (gaol stop busy) or use rm -f\n',
    });
    expect(await gaol(sock, ['rm', '-f', 'busy', 'ghost'])).toMatchObject({
      code: 0,
      stdout: 'busy\n',
      stderr: '',
    });
    await gaol(sock, ['create', '-n', 'idle']);
    expect(await gaol(sock, ['rm', 'idle'])).toMatchObject({ code: 0, stdout: 'idle\n' });
    expect((await gaol(sock, ['rm', 'ghost'])).code).toBe(125);
  });

  it('stop ends the processes of a container', async () => {
    await gaol(sock, ['create', '-n', 'st']);
    await gaol(sock, ['run', 'st', '--id', 'p', '-c', 'sleep 60']);
    expect((await gaol(sock, ['stop', '-k', 'st'])).code).toBe(0);
    const status = await (await client().lookup('st')).attach('p', {}).then((p) => p.wait());
    expect(status).toBe(137);
    await client().destroy('st');
  });

  it('net-in prints the host port; net-out sends the rule', async () => {
    await gaol(sock, ['create', '-n', 'n1']);
    const r = await gaol(sock, ['net-in', 'n1', '-p', '8080']);
    expect(r.stdout).toMatch(/^\d+\n$/);
    const j = JSON.parse((await gaol(sock, ['net-in', 'n1', '-p', '9090', '-H', '0', '--json'])).stdout);
    expect(j).toEqual({ hostPort: expect.any(Number), containerPort: 9090 });
    const out = await gaol(sock, [
      'net-out',
      'n1',
      '-p',
      'tcp',
      '--network',
      '10.0.0.0/30',
      '--port',
      '443',
      '--log',
    ]);
    expect(out).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const legacy = await gaol(sock, [
      'net-out',
      'n1',
      '-p',
      'udp',
      '--ip-start',
      '1.2.3.4',
      '--ip-end',
      '1.2.3.5',
      '--port-start',
      '53',
      '--port-end',
      '54',
    ]);
    expect(legacy.code).toBe(0);
    expect(await gaol(sock, ['net-out', 'n1', '-p', 'icmp', '--port', '80'])).toMatchObject({
      code: 125,
      stderr: "gaol net-out: --port needs --protocol tcp or udp (see 'gaol net-out --help')\n",
    });
    await client().destroy('n1');
  });

  it('stream-in and stream-out move tar archives through stdin/stdout', async () => {
    await gaol(sock, ['create', '-n', 'f1']);
    const archive = await tarOf({ 'a.txt': 'alpha', 'd/b.txt': 'beta' });
    expect(await gaol(sock, ['stream-in', 'f1', '-d', '/data'], { stdin: archive })).toMatchObject({
      code: 0,
    });
    const out = await gaol(sock, ['stream-out', 'f1', '-s', '/data/']);
    expect(out.code).toBe(0);
    const entries = await tarEntries(out.stdoutBuffer);
    expect(entries['a.txt'] ?? entries['./a.txt']).toBe('alpha');
    expect(Object.entries(entries).find(([k]) => k.endsWith('d/b.txt'))?.[1]).toBe('beta');
    await client().destroy('f1');
  });

  it('cp copies files and directories both ways, by name or into directories', async () => {
    await gaol(sock, ['create', '-n', 'cp1']);
    const host = join(work, 'cp');
    mkdirSync(join(host, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(host, 'hello.txt'), 'hello from the host\n');
    writeFileSync(join(host, 'tree', 'sub', 'deep.txt'), 'deep');
    writeFileSync(join(host, 'tree', 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    symlinkSync('sub/deep.txt', join(host, 'tree', 'link'));
    const c = await client().lookup('cp1');
    const run = async (cmd: string) => {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (d) => chunks.push(d));
      await (await c.run({ path: 'sh', args: ['-c', cmd] }, { stdout: out, stderr: out })).wait();
      return Buffer.concat(chunks).toString();
    };

    // Host → container: into an existing directory, to a new name, a directory tree.
    expect(await gaol(sock, ['cp', join(host, 'hello.txt'), 'cp1:/tmp'])).toMatchObject({
      code: 0,
      stdout: '',
      stderr: '',
    });
    expect(await run('cat /tmp/hello.txt')).toBe('hello from the host\n');
    expect((await gaol(sock, ['cp', 'hello.txt', 'cp1:/tmp/renamed.txt'], { cwd: host })).code).toBe(0);
    expect(await run('cat /tmp/renamed.txt')).toBe('hello from the host\n');
    expect((await gaol(sock, ['cp', './tree', 'cp1:/srv/'], { cwd: host })).code).toBe(0);
    expect(await run('cat /srv/tree/sub/deep.txt')).toBe('deep');
    expect((await gaol(sock, ['cp', join(host, 'tree'), 'cp1:/app'])).code).toBe(0);
    expect(await run('cat /app/sub/deep.txt')).toBe('deep');

    // Container → host: to a new name, into a directory, a directory tree.
    const back = join(work, 'back');
    mkdirSync(back);
    expect(await gaol(sock, ['cp', 'cp1:/tmp/hello.txt', join(back, 'copy.txt')])).toMatchObject({
      code: 0,
      stdout: '',
    });
    expect(readFileSync(join(back, 'copy.txt'), 'utf8')).toBe('hello from the host\n');
    expect((await gaol(sock, ['cp', 'cp1:/tmp/renamed.txt', '.'], { cwd: back })).code).toBe(0);
    expect(readFileSync(join(back, 'renamed.txt'), 'utf8')).toBe('hello from the host\n');
    expect((await gaol(sock, ['cp', 'cp1:/app', join(back, 'app2')])).code).toBe(0);
    expect(readFileSync(join(back, 'app2', 'sub', 'deep.txt'), 'utf8')).toBe('deep');
    expect((await gaol(sock, ['cp', 'cp1:/srv/', join(back, 'srv-contents')])).code).toBe(0);
    expect(readFileSync(join(back, 'srv-contents', 'tree', 'sub', 'deep.txt'), 'utf8')).toBe('deep');

    // - is a tar archive on stdout / stdin.
    const tarOut = await gaol(sock, ['cp', 'cp1:/tmp/hello.txt', '-']);
    expect(await tarEntries(tarOut.stdoutBuffer)).toEqual({ 'hello.txt': 'hello from the host\n' });
    expect(
      (await gaol(sock, ['cp', '-', 'cp1:/piped'], { stdin: await tarOf({ 'p.txt': 'piped' }) })).code,
    ).toBe(0);
    expect(await run('cat /piped/p.txt')).toBe('piped');

    // Errors: one line, 125.
    expect(await gaol(sock, ['cp', join(host, 'missing'), 'cp1:/tmp'])).toMatchObject({
      code: 125,
      stderr: `gaol: cannot copy ${join(host, 'missing')}: no such file or directory\n`,
    });
    expect(await gaol(sock, ['cp', 'a:/x', 'b:/y'])).toMatchObject({ code: 125 });
    expect(await gaol(sock, ['cp', 'x', 'y'])).toMatchObject({
      code: 125,
      stderr: 'gaol cp: one of SRC and DST must be a container path (HANDLE:PATH)\n',
    });
    expect(await gaol(sock, ['cp', 'cp1:/tmp/hello.txt', join(work, 'nodir', 'x')])).toMatchObject({
      code: 125,
    });
    expect(await gaol(sock, ['cp', 'nope:/x', back])).toMatchObject({
      code: 125,
      stderr: 'gaol: no such container: nope\n',
    });
    await client().destroy('cp1');
  });
});
