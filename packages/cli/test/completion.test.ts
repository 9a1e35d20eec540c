/**
 * Shell completion: the candidates logic, and the generated scripts loaded into real interactive
 * bash and zsh in a terminal (tmux), pressing Tab against a server with containers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@garden-ts/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeWords, renderCompletion, wordsOfLine } from '../src/completion.js';
import { type FakeGarden, startFakeGarden } from './harness.js';
import { gaolOnPath, Terminal } from './tmux.js';

let garden: FakeGarden;
let dir: string;
const handles = async () => ['web-1', 'web-2', 'db'];

beforeAll(async () => {
  garden = await startFakeGarden();
  dir = mkdtempSync(join(tmpdir(), 'gaol-completion-'));
  const client = createClient({ socketPath: garden.socketPath });
  for (const handle of ['web-1', 'web-2', 'db']) await client.create({ handle });
});
afterAll(async () => {
  Terminal.closeAll();
  await garden?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('candidates', () => {
  it('completes commands, options, option values and handles', async () => {
    expect((await completeWords(['cr'], handles)).values).toEqual(['create']);
    expect((await completeWords(['--t'], handles)).values).toEqual(['--target']);
    expect((await completeWords(['destroy', 'web'], handles)).values).toEqual(['web-1', 'web-2']);
    expect((await completeWords(['-t', '/x.sock', 'info', ''], handles)).values).toEqual([
      'web-1',
      'web-2',
      'db',
    ]);
    expect((await completeWords(['exec', '--w'], handles)).values).toEqual(['--workdir']);
    expect((await completeWords(['net-out', 'db', '-p', 'ic'], handles)).values).toEqual(['icmp', 'icmpv6']);
    expect(await completeWords(['create', '-r', ''], handles)).toMatchObject({ values: [], files: true });
    // After the handle, exec's words belong to the program: files.
    expect(await completeWords(['exec', 'db', 'ls', '-'], handles)).toMatchObject({
      values: [],
      files: true,
    });
    expect(await completeWords(['cp', 'w'], handles)).toMatchObject({
      values: ['web-1:', 'web-2:'],
      files: true,
      nospace: true,
    });
    expect((await completeWords(['completion', ''], handles)).values).toEqual(['bash', 'zsh']);
    expect((await completeWords(['events', '--type', 'process'], handles)).values).toEqual([
      'process',
      'process.exited',
    ]);
    expect((await completeWords(['events', 'web-'], handles)).values).toEqual(['web-1', 'web-2']);
    expect((await completeWords(['nope', ''], handles)).values).toEqual([]);
  });

  it('passes the target given on the line to the handle lookup', async () => {
    const seen: (string | undefined)[] = [];
    const spy = async (t: string | undefined) => {
      seen.push(t);
      return [];
    };
    await completeWords(['-t', 'a.sock', 'info', ''], spy);
    await completeWords(['info', '--target=b.sock', ''], spy);
    expect(seen).toEqual(['a.sock', 'b.sock']);
  });

  it("reads bash's line and answers for bash's word breaks", () => {
    expect(wordsOfLine('gaol cp web-1:/tm')).toEqual(['cp', 'web-1:/tm']);
    expect(wordsOfLine('ls; ./gaol info ')).toEqual(['info', '']);
    expect(wordsOfLine("gaol exec 'we")).toEqual(['exec', 'we']);
    const r = { values: ['web-1:', 'web-2:'], files: true, nospace: true };
    expect(renderCompletion(r, 'w', 'bash')).toBe(':files\n:nospace\nweb-1:\nweb-2:\n');
    expect(renderCompletion({ values: ['x:a=b'], files: false, nospace: false }, 'x:a=', 'bash')).toBe('b\n');
    expect(renderCompletion({ values: ['web-1:'], files: false, nospace: true }, 'w', 'zsh')).toBe(
      ':nospace\nweb-1:\n',
    );
  });
});

describe('in a real terminal', { timeout: 60_000 }, () => {
  const env = () => ({
    PATH: `${gaolOnPath(dir)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: dir,
    GAOL_TARGET: `unix://${garden.socketPath}`,
    PS1: '$ ',
  });

  it('bash: Tab completes commands, handles and option values', async () => {
    const term = await Terminal.start({
      command: ['bash', '--norc', '--noprofile', '-i'],
      env: env(),
      cwd: dir,
    });
    try {
      await term.waitForPrompt();
      await term.line('source <(gaol completion bash)');
      await term.waitForPrompt();
      // A typed X shows whether completion added a space.
      await term.type('gaol cre');
      await term.press('Tab');
      await term.type('X');
      await term.waitFor(/\$ gaol create X$/m);
      await term.press('C-u');
      await term.type('gaol destroy we');
      await term.press('Tab');
      await term.waitFor(/\$ gaol destroy web-$/m);
      await term.press('Tab', 'Tab');
      await term.waitFor(/web-1\s+web-2/);
      await term.press('C-u');
      await term.type('gaol net-out db -p tc');
      await term.press('Tab');
      await term.type('X');
      await term.waitFor(/\$ gaol net-out db -p tcp X$/m);
      await term.press('C-u');
      await term.type('gaol cp d');
      await term.press('Tab');
      await term.type('X');
      // A handle becomes HANDLE: with no space after it.
      await term.waitFor(/\$ gaol cp db:X$/m);
      await term.press('C-u');
    } finally {
      term.close();
    }
  });

  it('zsh: Tab completes commands and handles', async () => {
    const term = await Terminal.start({ command: ['zsh', '-f', '-i'], env: env(), cwd: dir });
    try {
      await term.waitForPrompt();
      await term.line('autoload -Uz compinit && compinit -u && source <(gaol completion zsh)');
      await term.waitForPrompt();
      await term.type('gaol cre');
      await term.press('Tab');
      await term.type('X');
      await term.waitFor(/\$ gaol create X$/m);
      await term.press('C-u');
      await term.type('gaol info d');
      await term.press('Tab');
      await term.type('X');
      await term.waitFor(/\$ gaol info db X$/m);
      await term.press('C-u');
      await term.type('gaol destroy web');
      await term.press('Tab', 'Tab');
      await term.waitFor(/web-1\s+web-2/);
    } finally {
      term.close();
    }
  });
});
