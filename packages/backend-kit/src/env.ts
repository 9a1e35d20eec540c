/** Process environment rules (linux-backend-reference §3.2). */

/** Guardian's default PATH for uid 0. */
export const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Guardian's default PATH for every other uid. */
export const USER_PATH = '/usr/local/bin:/usr/bin:/bin';

/** The default PATH for a uid (§3.2 rule 2). */
export function defaultPath(uid: number): string {
  return uid === 0 ? ROOT_PATH : USER_PATH;
}

/**
 * Merges `KEY=VALUE` lists in order: a later entry for a key replaces the earlier value **in the
 * earlier position** (linux-backend-reference §3.2: container `A=1 T=hi` + process `T=hello B=2`
 * gives `A=1 T=hello B=2`). An entry without `=` is its own key.
 */
export function mergeEnv(...lists: ReadonlyArray<readonly string[] | undefined>): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const list of lists) {
    for (const entry of list ?? []) {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? entry : entry.slice(0, eq);
      if (!values.has(key)) order.push(key);
      values.set(key, entry);
    }
  }
  return order.map((key) => values.get(key) as string);
}

function hasKey(env: readonly string[], key: string): boolean {
  return env.some((e) => e.startsWith(`${key}=`));
}

/**
 * A process's environment (§3.2): the container env, then the process env (merged as
 * {@link mergeEnv}), then, each only when absent, `PATH` (by uid), `USER` (the user string exactly
 * as given, `root` when none) and `HOME` (the resolved home). Nothing else is added.
 */
export function processEnv(
  containerEnv: readonly string[] | undefined,
  env: readonly string[] | undefined,
  user: { spec: string | undefined; uid: number; home: string },
): string[] {
  const out = mergeEnv(containerEnv, env);
  if (!hasKey(out, 'PATH')) out.push(`PATH=${defaultPath(user.uid)}`);
  if (!hasKey(out, 'USER')) out.push(`USER=${user.spec || 'root'}`);
  if (!hasKey(out, 'HOME')) out.push(`HOME=${user.home}`);
  return out;
}
