/**
 * gaol as a person uses it: typed into an interactive bash in a real terminal (tmux), against
 * `gardend --backend linux` with real containers, reading the screen. Covers `shell` (prompt,
 * window size and resize, Ctrl-C, Ctrl-D, exit codes), `exec -it`, signals and exit codes
 * (126, 127, 128+N), `cp` both ways, `run`/`attach`, `events` and Ctrl-C, and destroy.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@garden-ts/client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { gaolOnPath, Terminal } from '../tmux.js';
import { type LinuxGardend, startLinuxGardend } from './linux-gardend.js';

let gardend: LinuxGardend;
let term: Terminal;
let home: string;
let handle: string;
let marks = 0;

beforeAll(async () => {
  gardend = await startLinuxGardend('pty');
  home = join(gardend.dir, 'home');
  mkdirSync(home);
  // The container every test uses; its handle is $h in the terminal.
  handle = (await createClient({ socketPath: gardend.socketPath }).create({})).handle;
});

afterAll(async () => {
  Terminal.closeAll();
  await gardend?.stop();
});

// A fresh terminal per test: one that fails midway (a shell still running) does not spill over.
beforeEach(async () => {
  term = await Terminal.start({
    command: ['bash', '--norc', '--noprofile', '-i'],
    env: {
      PATH: `${gaolOnPath(gardend.dir)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: home,
      GAOL_TARGET: `unix://${gardend.socketPath}`,
      PS1: '$ ',
      h: handle,
    },
    cwd: home,
    columns: 100,
    rows: 30,
  });
  await term.waitForPrompt();
});

afterEach(() => term.close());

/** Runs a host command line in the terminal's bash and returns its exit status (as shown). */
async function status(line: string): Promise<number> {
  const mark = `exit${++marks}`;
  await term.line(`${line}; echo "${mark}=$?"`);
  const screen = await term.waitFor(new RegExp(`${mark}=(\\d+)`), 30_000);
  return Number(new RegExp(`${mark}=(\\d+)`).exec(screen)?.[1]);
}

const SHELL_PROMPT = '~ #';

describe('gaol in a terminal against gardend --backend linux', () => {
  it('shell: a prompt, the window size and its changes, Ctrl-C, Ctrl-D', async () => {
    await term.line('gaol shell $h');
    await term.waitForPrompt(SHELL_PROMPT);
    await term.line('echo $((6 * 7)) $TERM; tty');
    await term.waitFor(/^42 screen\n\/dev\/pts\/\d+$/m);
    await term.line('stty size');
    await term.waitFor(/^30 100$/m);
    // The terminal is resized: the process sees the new size.
    await term.resize(120, 40);
    await term.line('stty size');
    await term.waitFor(/^40 120$/m);
    await term.resize(100, 30);
    await term.line('stty size');
    await term.waitFor(/^30 100$/m);
    // Ctrl-C reaches the shell's foreground job (raw mode: it is a key, not gaol's SIGINT).
    await term.line('sleep 100');
    await new Promise((r) => setTimeout(r, 500));
    await term.press('C-c');
    await term.line('echo "after ctrl-c: $?"');
    await term.waitFor('after ctrl-c: 130');
    // Ctrl-D at the prompt ends the shell; gaol exits with its code.
    await term.press('C-d');
    await term.waitForPrompt();
    await term.line('echo "shell exit=$?"');
    await term.waitFor('shell exit=0');
    expect(await status('gaol shell $h <<< "" || true')).toBe(0);
  });

  it("shell: exits with the shell's code and restores the terminal", async () => {
    await term.line('gaol shell $h');
    await term.waitForPrompt(SHELL_PROMPT);
    await term.line('exit 7');
    await term.waitForPrompt();
    await term.line('echo "code=$?"; stty -a | grep -o -- "-\\?icanon" | head -1');
    // The local terminal is back in canonical (cooked) mode.
    await term.waitFor(/^code=7\nicanon$/m);
  });

  it('exec -it: a terminal for the program; input, Ctrl-C as 128+2; exec -t: Ctrl-C stays with gaol', async () => {
    await term.line(`gaol exec -it $h sh -c 'read line; echo "got:$line"; exit 5'; echo "exec exit=$?"`);
    await new Promise((r) => setTimeout(r, 1500));
    await term.line('hello there');
    await term.waitFor('got:hello there');
    await term.waitFor('exec exit=5');
    expect(await status('gaol exec -it $h stty size | grep -q "^30 100"')).toBe(0);
    await term.line('gaol exec -it $h sleep 100; echo "interrupted=$?"');
    await new Promise((r) => setTimeout(r, 1500));
    await term.press('C-c');
    await term.waitFor('interrupted=130');
    // -t without -i leaves the keyboard cooked: Ctrl-C is gaol's SIGINT, which terminates the
    // program (128 + SIGTERM).
    await term.line('gaol exec -t $h sleep 100; echo "terminated=$?"');
    await new Promise((r) => setTimeout(r, 1500));
    await term.press('C-c');
    await term.waitFor('terminated=143');
  });

  it('exit codes: 127 not found, 126 cannot run, 128+N signals; Ctrl-C without a terminal terminates', async () => {
    expect(await status('gaol exec $h no-such-program')).toBe(127);
    await term.waitFor('gaol: exec: "no-such-program": executable file not found in $PATH');
    expect(await status('gaol exec $h /etc/passwd')).toBe(126);
    expect(await status(`gaol exec $h sh -c 'kill -KILL $$'`)).toBe(137);
    expect(await status('gaol exec nope true')).toBe(125);
    await term.waitFor('gaol: no such container: nope');
    // gaol (not the program) gets SIGINT and terminates the process: 128 + SIGTERM.
    await term.line('gaol exec $h sleep 100; echo "terminated=$?"');
    await new Promise((r) => setTimeout(r, 1500));
    await term.press('C-c');
    await term.waitFor('terminated=143');
  });

  it('cp copies host files into the container and back, with a summary on the terminal', async () => {
    writeFileSync(join(home, 'note.txt'), 'a note from the host\n');
    mkdirSync(join(home, 'site', 'css'), { recursive: true });
    writeFileSync(join(home, 'site', 'index.html'), '<h1>hi</h1>\n');
    writeFileSync(join(home, 'site', 'css', 'a.css'), 'h1 {}\n');
    expect(await status('gaol cp note.txt $h:/tmp/')).toBe(0);
    await term.waitFor(`Successfully copied 21 B to ${handle}:/tmp/`);
    expect(await status('gaol cp site $h:/srv/www')).toBe(0);
    expect(await status('gaol exec $h cat /tmp/note.txt /srv/www/css/a.css > from-container.txt')).toBe(0);
    expect(readFileSync(join(home, 'from-container.txt'), 'utf8')).toBe('a note from the host\nh1 {}\n');
    expect(await status('gaol cp $h:/srv/www ./www-copy && gaol cp $h:/etc/passwd .')).toBe(0);
    expect(readFileSync(join(home, 'www-copy', 'index.html'), 'utf8')).toBe('<h1>hi</h1>\n');
    expect(readFileSync(join(home, 'passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    expect(await status('gaol cp $h:/no/such/file .')).toBe(125);
    await term.waitFor('no such file or directory');
  });

  it('run prints a process id; attach follows it to its exit code', async () => {
    await term.line(`pid=$(gaol run $h -c 'sh -c "sleep 2; echo later; exit 3"') && echo "pid:$pid"`);
    await term.waitFor(/pid:\S+/);
    expect(await status('gaol attach $h -p $pid')).toBe(3);
    await term.waitFor(/^later$/m);
    expect(await status(`gaol run $h -a -c 'echo attached'`)).toBe(0);
    await term.waitFor(/^attached$/m);
  });

  it('events: a line per event as containers come and go; Ctrl-C exits 130', async () => {
    await term.line('gaol events; echo "events exit=$?"');
    await term.waitFor('(Ctrl-C to stop)');
    const client = createClient({ socketPath: gardend.socketPath });
    const other = await client.create({ handle: `pty-events-${process.pid}` });
    // A short process id: the line stays within the terminal's 100 columns.
    await (await other.run({ id: 'ev4', path: 'sh', args: ['-c', 'exit 4'] }, {})).wait();
    await client.destroy(other.handle);
    const screen = await term.waitFor(new RegExp(`container\\.destroyed +${other.handle}$`, 'm'));
    expect(screen).toMatch(new RegExp(`Z  container\\.created +${other.handle}$`, 'm'));
    expect(screen).toMatch(new RegExp(`Z  process\\.exited +${other.handle}  process=ev4  exit=4$`, 'm'));
    await term.press('C-c');
    await term.waitFor('events exit=130');
  });

  it('destroy leaves no container', async () => {
    expect(await status('gaol destroy $h && gaol list | grep -c . ')).toBe(1);
    await term.waitFor(/^0$/m);
  });
});

describe("the README's quick start", () => {
  it('works as written: the "Try it with gaol" lines typed into a terminal', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Try it with `gaol`'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const lines = block
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l !== '');
    expect(lines[0]).toBe('export PATH="$PWD/node_modules/.bin:$PATH"');
    // That PATH entry holds gaol in a checkout after setup (a root devDependency's bin).
    expect(
      existsSync(join(import.meta.dirname, '..', '..', '..', '..', 'node_modules', '.bin', 'gaol')),
    ).toBe(true);
    expect(lines).toContain('gaol shell $h');
    for (const line of lines.slice(1)) {
      if (line === 'gaol shell $h') {
        await term.line(line);
        await term.waitForPrompt(SHELL_PROMPT);
        await term.line('cat /tmp/hello.txt; exit');
        await term.waitForPrompt();
        continue;
      }
      expect(await status(line), line).toBe(0);
    }
    const history = await term.history();
    expect(history).toMatch(/^hello$/m);
    expect(history).toMatch(/^HANDLE\s+STATE\s+IP\s+PROCESSES\s+PROPERTIES$/m);
  });
});
