/** ping and capacity: the server as a whole. */
import type { CommandContext } from '../context.js';
import { ExitCode } from '../errors.js';
import { flatten, keyValues } from '../format.js';

/** gaol's `ping`: silent; the exit code says whether the server answered. */
export async function ping(ctx: CommandContext): Promise<number> {
  await (await ctx.client()).ping();
  return ExitCode.Ok;
}

/** `capacity`: memory, disk and the container limit of the server. */
export async function capacity(ctx: CommandContext): Promise<number> {
  const cap = await (await ctx.client()).capacity();
  if (ctx.json) await ctx.printJson(cap);
  else ctx.print(keyValues(flatten(cap)));
  return ExitCode.Ok;
}
