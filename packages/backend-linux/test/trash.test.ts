/**
 * The trash (issue 10, item 3): a destroyed container's files go however deep the container made
 * them, and a removal that keeps failing is retried a bounded number of times (one per start),
 * each logged with the entry and the reason, then quarantined with one error line and left alone.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackendLogger } from '../src/index.js';
import { exec, storeState, testEnv } from './helpers.js';

const env = testEnv('trash');
afterAll(() => env.cleanup());

/** A logger keeping what it was told. */
function recorder(): BackendLogger & {
  lines: { level: string; obj: Record<string, unknown>; msg?: string }[];
} {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) =>
    lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const trash = join(env.depot, 'trash');
const quarantine = join(env.depot, 'quarantine');
const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

// Without a disk store the writable layer is in the depot entry, which the trash removes; with one
// it is a btrfs subvolume, deleted by an ioctl (no walk of the files).
it.each([
  ['in the depot entry (no disk store)', false],
  ['in a disk store volume', undefined],
] as const)(
  "removes a tree far deeper than PATH_MAX that a container built (no 'File name too long'), %s",
  async (_where, diskStore) => {
    const log = recorder();
    const backend = env.backend({ logger: log, ...(diskStore === false ? { diskStore } : {}) });
    const c = await backend.create({});
    // The issue's loop: as deep as the shell can go (its cwd hits PATH_MAX inside the container).
    const r = await exec(c, {
      path: 'sh',
      args: [
        '-c',
        'cd /tmp && i=0; while mkdir d 2>/dev/null && cd d 2>/dev/null; do i=$((i+1)); done; echo $i',
      ],
      dir: '/',
    });
    const depth = Number(r.stdout);
    const { containerPath } = await c.info();
    // On the host the deepest directory's path is longer than PATH_MAX.
    expect(`${containerPath}/upper/tmp/`.length + depth * 2).toBeGreaterThan(4096);
    await backend.destroy(c.handle);
    await backend.settled();
    expect(list(trash)).toEqual([]);
    if (diskStore === undefined) expect(storeState(env.depot)).toMatchObject({ volumes: 0, qgroups: 0 });
    expect(log.lines.filter((l) => l.level !== 'info')).toEqual([]);
    await backend.stop();
  },
);

// The writable layer in the depot entry (no disk store): what the trash has to remove.
describe('a removal that keeps failing (an immutable file left in the upper dir)', () => {
  let stuck: string | undefined;
  afterAll(() => {
    // Let the sweeper of env.cleanup() remove everything.
    for (const dir of [trash, quarantine])
      if (existsSync(dir)) execFileSync('chattr', ['-R', '-i', dir], { stdio: 'ignore' });
    if (stuck && existsSync(stuck)) execFileSync('chattr', ['-i', stuck]);
  });

  it('is retried once per start, each attempt logged, then quarantined with one error and left alone', async () => {
    const first = recorder();
    const backend = env.backend({ logger: first, diskStore: false });
    const c = await backend.create({});
    await exec(c, { path: 'sh', args: ['-c', 'echo x > /tmp/stuck'], dir: '/' });
    const { containerPath } = await c.info();
    stuck = join(containerPath, 'upper', 'tmp', 'stuck');
    execFileSync('chattr', ['+i', stuck]);
    await backend.destroy(c.handle);
    await backend.settled();
    await backend.stop();
    const [entry] = list(trash);
    expect(entry).toMatch(/~1$/);
    const warned = first.lines.filter((l) => l.level === 'warn');
    expect(warned).toHaveLength(1);
    expect(warned[0]?.msg).toMatch(/attempt 1 of 3\); retried at the next start/);
    // the entry that could not go, and why
    expect(warned[0]?.obj).toMatchObject({ code: 'EPERM', stage: 'remove-tree' });
    expect(String((warned[0]?.obj.err as Error | undefined)?.message)).toMatch(/upper\/tmp\/stuck: EPERM/);

    const starts: ReturnType<typeof recorder>[] = [];
    for (let i = 0; i < 3; i++) {
      const log = recorder();
      starts.push(log);
      const b = env.backend({ logger: log, diskStore: false });
      await b.start();
      await b.settled();
      await b.stop();
    }
    expect(starts[0]?.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringMatching(/attempt 2 of 3/),
    ]);
    const quarantined = starts[1]?.lines.filter((l) => l.level === 'error') ?? [];
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]?.msg).toMatch(
      /could not remove a destroyed container's files in 3 attempts; moved to .*\/quarantine\/.* and not retried/,
    );
    expect(list(trash)).toEqual([]);
    expect(list(quarantine)).toHaveLength(1);
    // The start after that does not try again: nothing logged about it.
    expect(starts[2]?.lines.filter((l) => l.level !== 'info')).toEqual([]);
    expect(list(quarantine)).toHaveLength(1);
  });
});
