import {
  type Container,
  ContainerNotFoundError,
  ErrorCode,
  ExecutableNotFoundError,
  GardenError,
} from '@garden-ts/api-types';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { rejectionOf } from '../support/errors.js';
import {
  Collector,
  controlledStdin,
  lines,
  pseudoRandomBytes,
  pseudoRandomText,
  runToExit,
  sha256,
} from '../support/streams.js';
import { makeTar, tarStream } from '../support/tar.js';

const MiB = 1024 * 1024;

/** Asserts that `expected` lines appear in `actual`, in this order (other lines may interleave). */
function expectLinesInOrder(actual: string[], expected: string[]): void {
  let from = 0;
  for (const line of expected) {
    const at = actual.indexOf(line, from);
    expect(at, `line '${line}' after position ${from} in:\n${actual.join('\n')}`).toBeGreaterThanOrEqual(0);
    from = at + 1;
  }
}

/** Run: the simulated commands, exit codes, stdio, env, dir and process ids. */
export function processes(h: Harness): void {
  let container: Container;
  beforeAll(async () => {
    container = await h.create({ env: ['CONTRACT_CONTAINER=1', 'SHARED=from-container'] });
  });

  it('echo writes its arguments joined by spaces and a newline to stdout', async () => {
    const r = await runToExit(container, { path: 'echo', args: ['hello', 'contract', 'world'] });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('hello contract world\n');
    expect(r.stderr).toBe('');
  });

  it('echo without arguments prints an empty line', async () => {
    const r = await runToExit(container, { path: 'echo' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('\n');
  });

  it('echo keeps an argument containing spaces as one argument', async () => {
    const r = await runToExit(container, { path: 'echo', args: ['a  b', 'c'] });
    expect(r.stdout).toBe('a  b c\n');
  });

  it('true exits 0 with no output', async () => {
    const r = await runToExit(container, { path: 'true' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
  });

  it('false exits 1', async () => {
    expect((await runToExit(container, { path: 'false' })).exitCode).toBe(1);
  });

  it.each([0, 1, 2, 42, 127, 255])('sh -c "exit %i" exits with that status', async (status) => {
    const r = await runToExit(container, { path: 'sh', args: ['-c', `exit ${status}`] });
    expect(r.exitCode).toBe(status);
  });

  it('sh -c "echo TEXT >&2" writes to stderr only', async () => {
    const r = await runToExit(container, { path: 'sh', args: ['-c', 'echo to-stderr >&2'] });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('to-stderr\n');
    expect(r.stdout).toBe('');
  });

  it('stdout and stderr of concurrent processes do not mix', async () => {
    const [out, err] = await Promise.all([
      runToExit(container, { path: 'echo', args: ['only-out'] }),
      runToExit(container, { path: 'sh', args: ['-c', 'echo only-err >&2'] }),
    ]);
    expect(out.stdout).toBe('only-out\n');
    expect(out.stderr).toBe('');
    expect(err.stdout).toBe('');
    expect(err.stderr).toBe('only-err\n');
  });

  it('sleep exits 0 after the given time', async () => {
    const started = Date.now();
    const r = await runToExit(container, { path: 'sleep', args: ['0.2'] });
    expect(r.exitCode).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(180);
  });

  it('cat copies stdin to stdout and exits 0 at stdin EOF', async () => {
    const r = await runToExit(container, { path: 'cat' }, 'line one\nline two\n');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('line one\nline two\n');
    expect(r.stderr).toBe('');
  });

  it('cat with an immediately ended stdin prints nothing and exits 0', async () => {
    const r = await runToExit(container, { path: 'cat' }, '');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('');
  });

  it('stdin written in several pieces arrives in order', async () => {
    const stdin = controlledStdin();
    const stdout = new Collector();
    const process = await container.run({ path: 'cat' }, { stdin, stdout });
    for (const piece of ['alpha ', 'beta ', 'gamma']) stdin.write(piece);
    stdin.end();
    expect(await process.wait()).toBe(0);
    expect(stdout.text()).toBe('alpha beta gamma');
  });

  it('without stdin, cat keeps running until it is killed', async () => {
    const process = await container.run({ path: 'cat' }, {});
    const early = await Promise.race([
      process.wait(),
      new Promise((r) => setTimeout(() => r('running'), 200)),
    ]);
    expect(early).toBe('running');
    await process.signal(1);
    expect(await process.wait()).toBe(137);
  });

  it('1 MiB through cat arrives intact (hash)', async () => {
    const payload = pseudoRandomText(MiB);
    const r = await runToExit(container, { path: 'cat' }, payload);
    expect(r.exitCode).toBe(0);
    expect(r.stdoutBytes.length).toBe(payload.length);
    expect(sha256(r.stdoutBytes)).toBe(sha256(payload));
  });

  it('1 MiB of binary stdout arrives intact (cat of a streamed-in file, hash)', async () => {
    const payload = pseudoRandomBytes(MiB, 4321);
    const archive = await makeTar([{ name: 'payload.bin', content: payload }]);
    await container.streamIn({ path: '/tmp/contract-binary-stdout', tarStream: tarStream(archive) });
    const r = await runToExit(container, { path: 'cat', args: ['/tmp/contract-binary-stdout/payload.bin'] });
    expect(r.exitCode).toBe(0);
    expect(r.stdoutBytes.length).toBe(payload.length);
    expect(sha256(r.stdoutBytes)).toBe(sha256(payload));
  });

  it('every output byte is delivered before wait() resolves and the writables are not ended', async () => {
    const payload = pseudoRandomText(256 * 1024, 7);
    const r = await runToExit(container, { path: 'cat' }, payload);
    expect(sha256(r.stdoutBytes)).toBe(sha256(payload));
    expect(r.stdoutStream.writableEnded).toBe(false);
    expect(r.stderrStream.writableEnded).toBe(false);
  });

  it('pwd prints the given dir', async () => {
    const r = await runToExit(container, { path: 'pwd', dir: '/tmp' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('/tmp\n');
  });

  it('pwd prints a dir that did not exist before (it is created)', async () => {
    const dir = `/tmp/${h.handle('workdir')}/nested`;
    const r = await runToExit(container, { path: 'pwd', dir });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${dir}\n`);
  });

  it('pwd without a dir prints an absolute directory (the user home)', async () => {
    const r = await runToExit(container, { path: 'pwd' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^\/.*\n$/);
  });

  it('env prints the container env, then the process env, in order', async () => {
    const r = await runToExit(container, { path: 'env', env: ['PROC_FIRST=a', 'PROC_SECOND=b c'] });
    expect(r.exitCode).toBe(0);
    expectLinesInOrder(lines(r.stdout), [
      'CONTRACT_CONTAINER=1',
      'SHARED=from-container',
      'PROC_FIRST=a',
      'PROC_SECOND=b c',
    ]);
  });

  it('a process env entry overrides the container entry with the same key', async () => {
    const other = await h.create({ env: ['CONTAINER_ENV=1', 'TEST=hi'] });
    const r = await runToExit(other, { path: 'env', env: ['TEST=hello', 'FRUIT=banana'] });
    const out = lines(r.stdout);
    expectLinesInOrder(out, ['CONTAINER_ENV=1', 'TEST=hello', 'FRUIT=banana']);
    expect(out).not.toContain('TEST=hi');
  });

  it('env of one process does not leak into the next', async () => {
    await runToExit(container, { path: 'env', env: ['LEAKY=yes'] });
    const r = await runToExit(container, { path: 'env' });
    expect(lines(r.stdout)).not.toContain('LEAKY=yes');
    expect(lines(r.stdout)).toContain('CONTRACT_CONTAINER=1');
  });

  it('a given process id is used', async () => {
    const id = h.handle('pid');
    const r = await runToExit(container, { id, path: 'true' });
    expect(r.process.id).toBe(id);
  });

  it('process ids are generated when absent, unique per run', async () => {
    const [a, b] = await Promise.all([
      runToExit(container, { path: 'true' }),
      runToExit(container, { path: 'true' }),
    ]);
    expect(a.process.id.length).toBeGreaterThan(0);
    expect(b.process.id.length).toBeGreaterThan(0);
    expect(a.process.id).not.toBe(b.process.id);
  });

  it('an empty process id is replaced by a generated one', async () => {
    const r = await runToExit(container, { id: '', path: 'true' });
    expect(r.process.id.length).toBeGreaterThan(0);
  });

  it("a duplicate id of a running process fails with `process ID '<id>' already in use`", async () => {
    const id = h.handle('dup-running');
    const first = await container.run({ id, path: 'sleep', args: ['100'] }, {});
    const err = await rejectionOf(container.run({ id, path: 'true' }, {}));
    expect(err).toBeInstanceOf(GardenError);
    expect((err as Error).message).toContain(`process ID '${id}' already in use`);
    await first.signal(1);
    expect(await first.wait()).toBe(137);
  });

  it('a duplicate id of an exited process still fails', async () => {
    const id = h.handle('dup-exited');
    await runToExit(container, { id, path: 'true' });
    const err = await rejectionOf(container.run({ id, path: 'true' }, {}));
    expect((err as Error).message).toContain(`process ID '${id}' already in use`);
  });

  it('the same process id may be used in two different containers', async () => {
    const other = await h.create();
    const id = h.handle('cross-container');
    const a = await runToExit(container, { id, path: 'echo', args: ['a'] });
    const b = await runToExit(other, { id, path: 'echo', args: ['b'] });
    expect([a.process.id, a.stdout, b.process.id, b.stdout]).toEqual([id, 'a\n', id, 'b\n']);
  });

  it('an unknown executable fails with ExecutableNotFoundError', async () => {
    const err = await rejectionOf(container.run({ path: '/definitely/not/a/binary' }, {}));
    expect(err).toBeInstanceOf(ExecutableNotFoundError);
    expect((err as ExecutableNotFoundError).code).toBe(ErrorCode.ExecutableNotFound);
    expect(err).not.toBeInstanceOf(ContainerNotFoundError);
  });

  it('an unknown bare command name fails with ExecutableNotFoundError', async () => {
    const err = await rejectionOf(container.run({ path: 'no-such-command-anywhere' }, {}));
    expect(err).toBeInstanceOf(ExecutableNotFoundError);
  });

  describe.skipIf(!h.caps.peas)('peas (caps.peas)', () => {
    const NS = 'for n in mnt net pid; do readlink /proc/self/ns/$n; done';

    it("a pea runs in its own rootfs and mount namespace, in the container's network and pid namespaces", async () => {
      const box = await runToExit(container, {
        path: 'sh',
        args: ['-c', `${NS}; echo box > /tmp/box-marker`],
      });
      const pea = await runToExit(container, {
        path: 'sh',
        args: ['-c', `${NS}; test -e /tmp/box-marker && echo sees-box-file; echo pea > /tmp/pea-marker`],
        image: { uri: h.peaImage as string },
      });
      expect([box.exitCode, pea.exitCode]).toEqual([0, 0]);
      const [boxMnt, boxNet, boxPid] = lines(box.stdout);
      const [peaMnt, peaNet, peaPid, extra] = lines(pea.stdout);
      expect(peaMnt).not.toBe(boxMnt);
      expect([peaNet, peaPid]).toEqual([boxNet, boxPid]);
      expect(extra).toBeUndefined(); // the container's files are not the pea's
      expect((await runToExit(container, { path: 'cat', args: ['/tmp/pea-marker'] })).exitCode).not.toBe(0);
    });

    it("a pea's exit status, stdout and stderr arrive as any process's", async () => {
      const r = await runToExit(container, {
        path: 'sh',
        args: ['-c', 'echo out; echo err >&2; exit 7'],
        image: { uri: h.peaImage as string },
      });
      expect([r.exitCode, r.stdout, r.stderr]).toEqual([7, 'out\n', 'err\n']);
    });
  });
}
