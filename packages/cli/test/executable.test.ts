/**
 * The installed command (bin/gaol.js → dist/gaol.js) as a process: exit codes reach the shell,
 * all output is flushed before gaol exits, a closed pipe ends it quietly.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@garden-ts/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGarden, startFakeGarden } from './harness.js';
import { GAOL_JS } from './tmux.js';

const execFileAsync = promisify(execFile);
let garden: FakeGarden;

beforeAll(async () => {
  garden = await startFakeGarden();
  await createClient({ socketPath: garden.socketPath }).create({ handle: 'x1' });
});
afterAll(() => garden?.close());

function gaolProcess(args: string[], input?: Buffer) {
  return new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [GAOL_JS, '-t', garden.socketPath, ...args]);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(input);
  });
}

/** The files `file` imports statically, transitively (dist chunks import each other by ./name). */
function staticImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const m of readFileSync(file, 'utf8').matchAll(
    /^(?:import|export)\b[^;]*?from\s*"(\.\/[^"]+)"|^import\s*"(\.\/[^"]+)"/gm,
  )) {
    staticImports(join(dirname(file), (m[1] ?? m[2]) as string), seen);
  }
  return seen;
}

describe('gaol as a process', () => {
  it("loads the client only when a command needs it (gaol's own start stays small)", () => {
    const entry = join(dirname(GAOL_JS), '..', 'dist', 'gaol.js');
    const eager = [...staticImports(entry)];
    expect(eager.length).toBeGreaterThan(1);
    for (const file of eager)
      expect(readFileSync(file, 'utf8'), file).not.toContain('function createClient(');
    const total = eager.reduce((n, f) => n + statSync(f).size, 0);
    // Parser, command table, help and errors: tens of KiB, not the client's ~220 KiB.
    expect(total).toBeLessThan(64 * 1024);
  });

  it('exits with the program code, 127, and 125 with one line', async () => {
    expect((await gaolProcess(['exec', 'x1', 'sh', '-c', 'exit 3'])).code).toBe(3);
    expect((await gaolProcess(['exec', 'x1', 'nope'])).code).toBe(127);
    const bad = await gaolProcess(['info', 'ghost']);
    expect(bad).toMatchObject({ code: 125, stderr: 'gaol: no such container: ghost\n' });
    expect(bad.stdout.length).toBe(0);
  });

  it('writes all of a large output before exiting', async () => {
    const big = Buffer.alloc(4 << 20, 'abcdefghijklmnopqrstuvwxyz\n');
    const r = await gaolProcess(['exec', '-i', 'x1', 'cat'], big);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(big.length);
    expect(r.stdout.equals(big)).toBe(true);
  });

  it('ends quietly with 141 (128 + SIGPIPE) when its stdout is closed early', async () => {
    // More output than a pipe holds, read by a consumer that stops after one byte.
    const { stdout } = await execFileAsync('bash', [
      '-c',
      `head -c 2000000 /dev/zero | ${process.execPath} ${GAOL_JS} -t ${garden.socketPath} exec -i x1 cat 2>/tmp/gaol-epipe-$$.err | head -c 1 | wc -c; echo "status=\${PIPESTATUS[1]}"; cat /tmp/gaol-epipe-$$.err; rm -f /tmp/gaol-epipe-$$.err`,
    ]);
    expect(stdout).toBe('1\nstatus=141\n');
  });
});
