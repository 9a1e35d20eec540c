// `gaol create` then `gaol destroy`, each a fresh CLI process, against a garden-ts server with
// backend-linux (root): what a person or a script pays per command. The CLI's own start is broken
// out, because Node's start dominates: details `node` (`node -e 0`), `start` (`gaol --version`:
// Node plus gaol's parser and command table, no client), `create` and `destroy` (each a whole
// `gaol` process: start, loading the bundled client, one or two requests) and `api` (the same
// create + destroy through the client inside the bench process: the server's share).
// Peer: gogaol (test-e2e/go-conformance/cmd/gogaol), the same two commands on the canonical Go
// client, as the Go `gaol` CLI runs them, against its own identical garden-ts linux server.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GO_CONFORMANCE_DIR, goExecutable } from '../../test-e2e/go-conformance/go-server.mjs';
import { startLinuxServer, stats, stopLinuxServer } from './linux-support/common.mjs';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'packages', 'cli');
// The command as installed (bin/gaol.js imports the build in dist/).
const GAOL = join(CLI, 'bin', 'gaol.js');
const GOGAOL = join(GO_CONFORMANCE_DIR, 'bin', 'gogaol');

/** @param {number[]} xs */
const p50 = (xs) => stats(xs).p50;

/** Wall time of one process run, in ms. @param {string} file @param {string[]} args */
async function timed(file, args) {
  const t0 = performance.now();
  await run(file, args);
  return performance.now() - t0;
}

/**
 * @typedef {{ env: import('./linux-support/common.mjs').LinuxServer, n: number, seq: number }} Ctx
 * @param {Ctx} ctx
 * @param {(args: string[]) => Promise<number>} cli runs one CLI command, resolves with its ms
 * @param {boolean} withStart also time Node's and gaol's bare start
 */
async function cycles(ctx, cli, withStart) {
  const sock = ctx.env.socketPath;
  /** @type {Record<string, number[]>} */
  const t = { total: [], create: [], destroy: [], node: [], start: [], api: [] };
  for (let i = 0; i < ctx.n; i++) {
    const handle = `bench-cli-${process.pid}-${ctx.seq++}`;
    ctx.env.handles.add(handle);
    const create = await cli(['-t', sock, 'create', '-n', handle]);
    const destroy = await cli(['-t', sock, 'destroy', handle]);
    ctx.env.handles.delete(handle);
    t.total?.push(create + destroy);
    t.create?.push(create);
    t.destroy?.push(destroy);
    if (withStart) {
      t.node?.push(await timed(process.execPath, ['-e', '0']));
      t.start?.push(await timed(process.execPath, [GAOL, '--version']));
      const client = /** @type {import('@garden-ts/api-types').Client} */ (ctx.env.client);
      const t0 = performance.now();
      await client.create({ handle: `${handle}-api` });
      await client.destroy(`${handle}-api`);
      t.api?.push(performance.now() - t0);
    }
  }
  /** @type {Record<string, number>} */
  const details = {};
  for (const [k, v] of Object.entries(t)) if (k !== 'total' && v.length > 0) details[k] = p50(v);
  return { ...stats(t.total ?? []), ...details };
}

export default {
  name: 'cli-create-destroy',
  description:
    '`gaol create` + `gaol destroy` (two fresh CLI processes) against a garden-ts server with backend-linux; value = ms per create+destroy pair (p50). Details (p50 ms): create, destroy (each a whole gaol process), node (`node -e 0`), start (`gaol --version`: the CLI without the client), api (the same create+destroy through the client in-process). Peer: gogaol, the same commands on the canonical Go client (a native CLI), against its own identical server',
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  /** @param {{ quick?: boolean }} [options] */
  async setup(options = {}) {
    if (!existsSync(join(CLI, 'dist', 'gaol.js'))) {
      throw new Error('gaol is not built: pnpm --filter @garden-ts/cli build');
    }
    const env = await startLinuxServer('cli');
    return { env, seq: 0, n: options.quick ? 3 : 10 };
  },
  /** @param {Ctx} ctx */
  async measure(ctx) {
    return cycles(ctx, (args) => timed(process.execPath, [GAOL, ...args]), true);
  },
  /** @param {Ctx} ctx */
  async teardown(ctx) {
    await stopLinuxServer(ctx.env);
  },
  peer: {
    name: 'gogaol (Go client)',
    requires: ['go'],
    /** @param {{ quick?: boolean }} [options] */
    async setup(options = {}) {
      await run(goExecutable(), ['build', '-o', GOGAOL, './cmd/gogaol'], { cwd: GO_CONFORMANCE_DIR });
      const env = await startLinuxServer('cli-go');
      return { env, seq: 0, n: options.quick ? 3 : 10 };
    },
    /** @param {Ctx} ctx */
    async measure(ctx) {
      return cycles(ctx, (args) => timed(GOGAOL, args), false);
    },
    /** @param {Ctx} ctx */
    async teardown(ctx) {
      await stopLinuxServer(ctx.env);
    },
  },
};
