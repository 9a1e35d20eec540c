/** properties, get-property, set-property, remove-property. */
import type { CommandContext } from '../context.js';
import { ExitCode } from '../errors.js';

/** gaol's `properties HANDLE`: `NAME<TAB>VALUE` lines sorted by name, or a JSON object. */
export async function properties(ctx: CommandContext): Promise<number> {
  const props = await (await ctx.container(ctx.positional(0, 'HANDLE'))).properties();
  if (ctx.json) {
    await ctx.printJson(props);
    return ExitCode.Ok;
  }
  for (const name of Object.keys(props).sort()) ctx.print(`${name}\t${props[name]}`);
  return ExitCode.Ok;
}

/** `get-property HANDLE NAME`: the value alone (or as a JSON string). */
export async function getProperty(ctx: CommandContext): Promise<number> {
  const container = await ctx.container(ctx.positional(0, 'HANDLE'));
  const value = await container.property(ctx.positional(1, 'NAME'));
  if (ctx.json) await ctx.printJson(value);
  else ctx.print(value);
  return ExitCode.Ok;
}

/** `set-property HANDLE NAME VALUE`. */
export async function setProperty(ctx: CommandContext): Promise<number> {
  const container = await ctx.container(ctx.positional(0, 'HANDLE'));
  await container.setProperty(ctx.positional(1, 'NAME'), ctx.args.positionals[2] ?? '');
  return ExitCode.Ok;
}

/** `remove-property HANDLE NAME`. */
export async function removeProperty(ctx: CommandContext): Promise<number> {
  const container = await ctx.container(ctx.positional(0, 'HANDLE'));
  await container.removeProperty(ctx.positional(1, 'NAME'));
  return ExitCode.Ok;
}
