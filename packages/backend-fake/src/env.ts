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
  return order.map((key) => values.get(key)!);
}
