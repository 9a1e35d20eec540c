/**
 * A strict parser of the Prometheus text exposition format 0.0.4 (promtool is not available), for
 * scrape tests. It throws, naming the line, on anything the format does not allow:
 *
 * - metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` (not `__…`),
 *   label values with only `\\`, `\"` and `\n` escapes, no repeated label in a sample;
 * - values: Go floats (`strconv.ParseFloat`: `NaN`, `+Inf`, `-Inf` in any case); an optional
 *   integer timestamp;
 * - `# HELP` / `# TYPE` at most once per family, `# TYPE` before the family's first sample, a
 *   known type, and every family's samples together (no interleaving);
 * - sample names fitting their family's type (`_bucket`/`_sum`/`_count` for histograms, …);
 * - no duplicate series; counters ≥ 0; histogram buckets with `le`, cumulative, ending with
 *   `le="+Inf"` equal to `_count`, per label set; summaries' `quantile` in [0, 1];
 * - the text ends with a newline.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Go's `strconv.ParseFloat`, which Prometheus uses: also `nan`/`inf`/`infinity` in any case. */
function parseValue(text: string, where: string): number {
  if (/^nan$/i.test(text)) return Number.NaN;
  if (/^\+?inf(inity)?$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (!FLOAT.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Splits `name{labels} value [ts]` into its parts. */
function parseSample(line: string, where: string): Sample {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  if (!METRIC.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      let j = i;
      while (j < line.length && line[j] !== '=') j++;
      const label = line.slice(i, j);
      if (!LABEL.test(label) || label.startsWith('__'))
        throw new Error(`${where}: bad label name ${JSON.stringify(label)}`);
      if (label in labels) throw new Error(`${where}: label ${label} repeated`);
      if (line[j + 1] !== '"') throw new Error(`${where}: label value of ${label} not quoted`);
      let k = j + 2;
      let value = '';
      for (;;) {
        const c = line[k];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[k + 1];
          if (e === '\\') value += '\\';
          else if (e === '"') value += '"';
          else if (e === 'n') value += '\n';
          else throw new Error(`${where}: bad escape \\${e}`);
          k += 2;
          continue;
        }
        value += c;
        k++;
      }
      labels[label] = value;
      i = k + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`${where}: expected , or } after a label`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`);
  const rest = line.slice(i + 1).split(' ');
  if (rest.length > 2 || rest.some((p) => p === '')) throw new Error(`${where}: bad value/timestamp part`);
  const value = parseValue(rest[0]!, where);
  if (rest[1] !== undefined && !/^-?\d+$/.test(rest[1])) throw new Error(`${where}: bad timestamp`);
  return { name, labels, value };
}

const SUFFIXES: Record<Family['type'], string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  for (const suffix of ['_bucket', '_sum', '_count', '']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, sample.length - suffix.length));
    if (f && SUFFIXES[f.type].includes(suffix)) return f;
  }
  return undefined;
}

const key = (s: Sample) =>
  `${s.name}{${Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
    .join(',')}}`;

/** Parses and checks an exposition; returns the families by name. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string | undefined];
      if (!METRIC.test(name)) throw new Error(`${where}: bad metric name in ${kind}`);
      let f = families.get(name);
      if (f && closed.has(name)) throw new Error(`${where}: ${kind} for ${name} after its samples ended`);
      if (!f) {
        f = { name, type: 'untyped', samples: [] };
        families.set(name, f);
        (f as { typed?: boolean }).typed = false;
      }
      if (current && current !== f) closed.add(current.name);
      current = f;
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        f.help = (rest ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      } else {
        if ((f as { typed?: boolean }).typed) throw new Error(`${where}: second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`${where}: TYPE for ${name} after its first sample`);
        if (!TYPES.has(rest ?? '')) throw new Error(`${where}: unknown type ${rest}`);
        f.type = rest as Family['type'];
        (f as { typed?: boolean }).typed = true;
      }
      return;
    }
    const sample = parseSample(line, where);
    let f = familyOf(sample.name, families);
    if (!f) {
      if (families.has(sample.name))
        throw new Error(`${where}: ${sample.name} does not fit its family's type`);
      f = { name: sample.name, type: 'untyped', samples: [] };
      families.set(sample.name, f);
    }
    if (closed.has(f.name)) throw new Error(`${where}: samples of ${f.name} are not together`);
    if (current && current !== f) closed.add(current.name);
    current = f;
    const k = key(sample);
    if (seen.has(k)) throw new Error(`${where}: duplicate series ${k}`);
    seen.add(k);
    if (f.type === 'counter' && !(sample.value >= 0)) throw new Error(`${where}: counter below 0`);
    if (f.type === 'histogram' && sample.name.endsWith('_bucket') && !('le' in sample.labels)) {
      throw new Error(`${where}: bucket without le`);
    }
    if (f.type === 'summary' && sample.name === f.name) {
      const q = Number(sample.labels.quantile);
      if (!(q >= 0 && q <= 1)) throw new Error(`${where}: bad quantile`);
    }
    f.samples.push(sample);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const g = key({ name: '', labels: rest, value: 0 });
    const group = groups.get(g) ?? { buckets: [] };
    groups.set(g, group);
    if (s.name.endsWith('_bucket'))
      group.buckets.push([le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), s.value]);
    if (s.name.endsWith('_count')) group.count = s.value;
  }
  for (const [labels, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]![1] < sorted[i - 1]![1]) throw new Error(`${f.name}${labels}: buckets not cumulative`);
    }
    const inf = sorted.at(-1);
    if (inf?.[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${labels}: no le="+Inf" bucket`);
    if (g.count === undefined || g.count !== inf[1])
      throw new Error(`${f.name}${labels}: +Inf bucket ≠ _count`);
  }
}

/** The value of one series (`undefined` when absent). */
export function seriesValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (
        Object.entries(labels).every(([k, v]) => s.labels[k] === v) &&
        Object.keys(s.labels).length === Object.keys(labels).length
      ) {
        return s.value;
      }
    }
  }
  return undefined;
}
