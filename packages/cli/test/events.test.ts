/**
 * `gaol events` in-process against @garden-ts/server + backend-fake: human lines and NDJSON, the
 * handle and type filters, Ctrl-C / SIGTERM exit codes, the server ending the stream, and errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, GARDEN_EVENT_TYPES } from '@garden-ts/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../src/command-table.js';
import { eventLine, typeFilter } from '../src/commands/events.js';
import { type FakeGarden, gaol, type RunningGaol, startFakeGarden, startGaol } from './harness.js';

let garden: FakeGarden;
let sock: string;

beforeAll(async () => {
  garden = await startFakeGarden();
  sock = garden.socketPath;
});
afterAll(async () => {
  await garden?.close();
});

const client = () => createClient({ socketPath: sock });

async function until(what: () => boolean, label: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts `gaol events ...args` with a terminal on stderr and waits until it is subscribed. */
async function watching(args: string[], socket = sock): Promise<RunningGaol> {
  const g = startGaol(socket, ['events', ...args], { tty: { stderr: true } });
  await until(() => g.stderr.text().includes('watching events on'), 'the subscription');
  return g;
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('gaol events', () => {
  it('prints one line per event, as it happens, and exits 130 on Ctrl-C', async () => {
    const g = await watching([]);
    expect(g.stderr.text()).toBe(`gaol: watching events on unix://${sock} (Ctrl-C to stop)\n`);
    const c = await client().create({ handle: 'ev-1' });
    const proc = await c.run({ path: 'sh', args: ['-c', 'exit 3'] }, {});
    expect(await proc.wait()).toBe(3);
    await client().destroy('ev-1');
    await until(() => g.stdout.text().includes('container.destroyed'), 'the destroy');
    g.signals.emit('SIGINT');
    const r = await g.done;
    expect(r.code).toBe(130);
    const time = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
    expect(lines(r.stdout)).toEqual([
      expect.stringMatching(new RegExp(`^${time}  container.created    ev-1$`)),
      expect.stringMatching(new RegExp(`^${time}  process.exited       ev-1  process=${proc.id}  exit=3$`)),
      expect.stringMatching(new RegExp(`^${time}  container.destroyed  ev-1$`)),
    ]);
    // Only the "watching" line on stderr: Ctrl-C is no error.
    expect(lines(r.stderr)).toHaveLength(1);
  });

  it('--json: one JSON object per line (the client values); handles and --type filter', async () => {
    const g = await watching(['ev-a', '--type', 'process', '--type', 'container.destroyed', '--json']);
    for (const handle of ['ev-a', 'ev-b']) {
      const c = await client().create({ handle });
      await (await c.run({ path: 'true' }, {})).wait();
      await client().destroy(handle);
    }
    // A grace time that expires: reaped, then destroyed (only the latter passes --type).
    await client().create({ handle: 'ev-a', graceTime: '100ms' });
    await until(() => (g.stdout.text().match(/container\.destroyed/g) ?? []).length === 2, 'the reap');
    g.signals.emit('SIGTERM');
    const r = await g.done;
    expect(r.code).toBe(143);
    const events = lines(r.stdout).map((l) => JSON.parse(l));
    expect(events).toEqual([
      {
        type: 'process.exited',
        time: expect.any(String),
        handle: 'ev-a',
        processId: expect.any(String),
        exitStatus: 0,
      },
      { type: 'container.destroyed', time: expect.any(String), handle: 'ev-a' },
      { type: 'container.destroyed', time: expect.any(String), handle: 'ev-a' },
    ]);
  });

  it('exits 0 with a line on stderr when the server stops and ends the stream', async () => {
    const other = await startFakeGarden();
    const g = await watching([], other.socketPath);
    await createClient({ socketPath: other.socketPath }).create({ handle: 'last' });
    await until(() => g.stdout.text().includes('last'), 'the create');
    await other.close();
    const r = await g.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('gaol: the server ended the event stream (it is stopping)\n');
  });

  it('Ctrl-C while the server has not answered yet exits 130; no terminal, no "watching" line', async () => {
    // A server that accepts the connection and never answers.
    const dir = mkdtempSync(join(tmpdir(), 'gaol-events-'));
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(join(dir, 'silent.sock'), r));
    try {
      const g = startGaol(join(dir, 'silent.sock'), ['events']);
      await until(() => g.signals.listenerCount('SIGINT') > 0, 'the signal handler');
      await new Promise((r) => setTimeout(r, 100));
      g.signals.emit('SIGINT');
      expect(await g.done).toEqual({ code: 130, stdout: '', stderr: '', stdoutBuffer: Buffer.alloc(0) });
    } finally {
      silent.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with one line and 125: bad --type, unreachable server', async () => {
    const bad = await gaol(sock, ['events', '--type', 'container.born']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe(
      `gaol events: --type: unknown event type "container.born" (one of ${GARDEN_EVENT_TYPES.join(', ')}, or a group: container, process, image, events)\n`,
    );
    const gone = await gaol('/nonexistent/garden.sock', ['events']);
    expect(gone.code).toBe(125);
    expect(gone.stderr).toMatch(
      /^gaol: cannot reach the Garden server at \/nonexistent\/garden.sock: no such socket/,
    );
    expect(lines(gone.stderr)).toHaveLength(1);
  });
});

describe('event lines and filters', () => {
  it('formats every type, and types newer than gaol with their fields', () => {
    const time = '2026-01-02T03:04:05.678Z';
    expect(eventLine({ type: 'container.oom', time, handle: 'web' })).toBe(
      `${time}  container.oom        web`,
    );
    expect(eventLine({ type: 'events.dropped', time, count: 12 })).toBe(
      `${time}  events.dropped       count=12 (gaol read too slowly; these events were lost)`,
    );
    const newer = { type: 'container.paused', time, handle: 'web', reason: 'user' } as never;
    expect(eventLine(newer)).toBe(`${time}  container.paused     web  reason=user`);
  });

  it('filters by type or group; completion offers exactly the known types and groups', () => {
    const f = typeFilter(['container', 'process.exited']);
    expect(GARDEN_EVENT_TYPES.filter(f)).toEqual([
      'container.created',
      'container.destroyed',
      'container.reaped',
      'container.oom',
      'process.exited',
    ]);
    expect(typeFilter([])('anything.new')).toBe(true);
    const groups = [...new Set(GARDEN_EVENT_TYPES.map((t) => t.split('.')[0]))];
    expect([...EVENT_TYPES].sort()).toEqual([...GARDEN_EVENT_TYPES, ...groups].sort());
  });
});
