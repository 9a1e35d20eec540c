/** Human output: aligned tables, key/value listings, byte sizes and durations. */

/** Columns padded to the widest cell, separated by three spaces (docker's `ps` look). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/**
 * Flattens a value into `[dotted.key, text]` pairs (arrays by index), for `info`/`metrics`/
 * `capacity` without `--json`. Durations are told apart by their key (`age`, `graceTime`).
 */
export function flatten(value: unknown, prefix = ''): [string, string][] {
  if (value === null || value === undefined) return prefix ? [[prefix, '']] : [];
  if (Array.isArray(value)) {
    if (value.length === 0) return prefix ? [[prefix, '[]']] : [];
    return value.flatMap((v, i) => flatten(v, `${prefix}[${i}]`));
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return prefix ? [[prefix, '{}']] : [];
    return entries.flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  const key = prefix.split('.').at(-1) ?? '';
  if (typeof value === 'bigint') {
    if (/^(age|graceTime)$/.test(key)) return [[prefix, `${formatDuration(value)} (${value} ns)`]];
    const bytes =
      /(Bytes|Limit)$/.test(key) || (prefix.startsWith('memoryStat.') && !/^(total)?pg/i.test(key));
    if (bytes && value >= 1024n) {
      return [[prefix, `${value} (${formatBytes(value)})`]];
    }
  }
  return [[prefix, String(value)]];
}

/** `key: value` lines with the values aligned. */
export function keyValues(pairs: readonly [string, string][]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length)) + 2;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`.trimEnd()).join('\n');
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** 1536n → "1.5 KiB". */
export function formatBytes(n: bigint | number): string {
  let v = Number(n);
  let u = 0;
  while (Math.abs(v) >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${UNITS[u]}`;
}

/** Nanoseconds → Go's style: "1h2m3s", "250ms", "0s". */
export function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  let rest = ns < 0n ? -ns : ns;
  if (rest < 1_000_000_000n) {
    if (rest >= 1_000_000n) return `${sign}${Number(rest) / 1e6}ms`;
    if (rest >= 1_000n) return `${sign}${Number(rest) / 1e3}µs`;
    return `${sign}${rest}ns`;
  }
  const h = rest / 3_600_000_000_000n;
  rest %= 3_600_000_000_000n;
  const m = rest / 60_000_000_000n;
  rest %= 60_000_000_000n;
  const s = Number(rest) / 1e9;
  const secs = `${Number.isInteger(s) ? s : s.toFixed(3).replace(/0+$/, '')}s`;
  if (h > 0n) return `${sign}${h}h${m}m${secs}`;
  if (m > 0n) return `${sign}${m}m${secs}`;
  return `${sign}${secs}`;
}
