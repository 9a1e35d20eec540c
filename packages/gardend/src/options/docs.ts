/**
 * `gardend --help` and the options tables of the READMEs, both rendered from the option schema.
 */
import { CONFIG_ENV } from './load.js';
import {
  type BackendName,
  envName,
  flagName,
  type OptionKey,
  type OptionSpec,
  optionList,
} from './schema.js';

const COLUMN = 29;
const WIDTH = 100;

/** Markers around the generated table in a README. */
export const TABLE_BEGIN =
  '<!-- gardend-options:begin (generated: pnpm --filter @garden-ts/gardend run options-tables) -->';
export const TABLE_END = '<!-- gardend-options:end -->';

function usage(key: OptionKey, spec: OptionSpec<unknown>): string {
  const metavar = spec.type.metavar;
  return `--${flagName(key)}${metavar ? ` ${metavar}` : ''}${spec.type.repeatable ? ' …' : ''}`;
}

function defaultOf(spec: OptionSpec<unknown>): string | undefined {
  if (spec.required) return undefined;
  if (spec.default !== undefined) {
    const shown = spec.type.show(spec.default);
    return shown === '' && spec.type.repeatable ? 'none' : shown;
  }
  return spec.defaultText;
}

/** Options grouped by the backends they apply to, in schema order. */
function groups(): Array<{ title: string; options: Array<{ key: OptionKey; spec: OptionSpec<unknown> }> }> {
  const out = new Map<string, Array<{ key: OptionKey; spec: OptionSpec<unknown> }>>();
  for (const o of optionList()) {
    const title = groupTitle(o.spec.backends);
    out.set(title, [...(out.get(title) ?? []), o]);
  }
  return [...out].map(([title, options]) => ({ title, options }));
}

function groupTitle(backends: readonly BackendName[] | undefined): string {
  if (backends === undefined) return 'Options';
  if (backends.length > 1) return `Backends ${backends.join(' and ')}`;
  return backends[0] === 'linux'
    ? 'Linux backend (--backend linux; root only)'
    : `Backend ${backends[0]} (--backend ${backends[0]})`;
}

function wrap(text: string, indent: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

function entry(left: string, text: string): string {
  const lines = wrap(text, COLUMN);
  const pad = ' '.repeat(COLUMN);
  const head = `  ${left}`;
  const first = head.length < COLUMN ? head.padEnd(COLUMN) + lines[0] : `${head}\n${pad}${lines[0]}`;
  return [first, ...lines.slice(1).map((l) => pad + l)].join('\n');
}

/** The `--help` text. */
export function renderHelp(): string {
  const out = [
    'Usage: gardend --backend fake|linux|module [options]',
    '',
    ...wrap(
      'Serves the Garden API over a unix socket (default) or TCP. Every option can also be set in ' +
        'the environment (GARDEND_ and the flag name in capitals, dashes as underscores, e.g. ' +
        'GARDEND_BIND_SOCKET) or in a JSON config file (--config FILE; its keys are the flag names, ' +
        'e.g. {"backend": "linux", "max-containers": 250}). Flags win over the environment, the ' +
        'environment over the file, the file over the defaults. A boolean option is --NAME, ' +
        '--NAME=true|false or --no-NAME; durations are Go durations (30s, 5m, 1h30m).',
      0,
    ),
  ];
  for (const { title, options } of groups()) {
    out.push('', `${title}:`);
    if (title === 'Options') out.push(entry('--config FILE', `JSON config file (env ${CONFIG_ENV})`));
    for (const { key, spec } of options) {
      const dflt = defaultOf(spec);
      const suffix = spec.required ? ' (required)' : dflt !== undefined ? ` (default ${dflt})` : '';
      out.push(entry(usage(key, spec), `${spec.help}${suffix}`));
    }
    if (title === 'Options')
      out.push(entry('-h, --help', 'show this help'), entry('--version', 'print the version'));
  }
  return `${out.join('\n')}\n`;
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** The README options table (markdown), between {@link TABLE_BEGIN} and {@link TABLE_END}. */
export function renderOptionsTable(): string {
  const rows = [
    '| Option | Environment | Default | Backends | Meaning |',
    '| --- | --- | --- | --- | --- |',
    `| \`--config FILE\` | \`${CONFIG_ENV}\` | none | all | JSON config file; keys are the flag names (\`"bind-socket"\`) |`,
  ];
  for (const { key, spec } of optionList()) {
    const dflt = spec.required
      ? 'required'
      : spec.default !== undefined
        ? `\`${defaultOf(spec)}\``
        : cell(spec.defaultText ?? 'none');
    rows.push(
      `| \`${usage(key, spec).replaceAll('|', '\\|')}\` | \`${envName(key)}\` | ${dflt} | ${spec.backends?.join(', ') ?? 'all'} | ${cell(spec.help)} |`,
    );
  }
  return `${TABLE_BEGIN}\n${rows.join('\n')}\n${TABLE_END}`;
}

/** `readme` with its options table replaced by the current one. @throws Error when the markers are missing. */
export function withOptionsTable(readme: string): string {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin === -1 || end === -1 || end < begin)
    throw new Error('the README has no gardend options table markers');
  return readme.slice(0, begin) + renderOptionsTable() + readme.slice(end + TABLE_END.length);
}
