/**
 * Reads gardend's configuration from its sources, by the option schema. Precedence: command-line
 * flags over `GARDEND_*` environment variables over the config file (`--config FILE` or
 * `GARDEND_CONFIG`) over the schema's defaults.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ListenOptions } from '@garden-ts/server';
import {
  type BackendName,
  envName,
  flagName,
  type GardendConfig,
  type OptionKey,
  type OptionSpec,
  optionList,
} from './schema.js';
import { type ParseContext, ValueError } from './value-types.js';

/** A configuration gardend cannot run with; `message` names the flag, variable or file key. */
export class UsageError extends Error {}

/** Where a value came from (for messages: `--depot`, `GARDEND_DEPOT`, `/etc/gardend.json: depot`). */
export interface ValueSource {
  kind: 'flag' | 'env' | 'file' | 'default';
  name: string;
}

export interface LoadInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Relative paths of flags and variables resolve against it. */
  cwd: string;
  /** Reads the config file (tests pass their own). */
  readFile?: (path: string) => string;
}

export type Loaded =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: GardendConfig; listen: ListenOptions; sources: Record<OptionKey, ValueSource> };

/** The config-file flag and variable (the file cannot name another file). */
export const CONFIG_FLAG = 'config';
export const CONFIG_ENV = 'GARDEND_CONFIG';

const byFlag = new Map(optionList().map((o) => [flagName(o.key), o]));
const byEnv = new Map(optionList().map((o) => [envName(o.key), o]));

interface Raw {
  key: OptionKey;
  source: ValueSource;
  parse: () => unknown;
}

/**
 * Resolves the configuration.
 * @throws UsageError naming the offending flag, variable, file or key.
 */
export function loadOptions(input: LoadInput): Loaded {
  const flags = parseArgv(input.argv, { baseDir: input.cwd });
  if (flags.help) return { kind: 'help' };
  if (flags.version) return { kind: 'version' };

  const values = new Map<OptionKey, Raw>();
  const configPath = flags.config ?? nonEmpty(input.env[CONFIG_ENV]);
  if (configPath !== undefined) {
    const file = resolve(input.cwd, configPath);
    for (const raw of readConfigFile(file, input.readFile ?? ((p) => readFileSync(p, 'utf8')))) {
      values.set(raw.key, raw);
    }
  }
  for (const raw of fromEnv(input.env, { baseDir: input.cwd })) values.set(raw.key, raw);
  for (const raw of flags.values) values.set(raw.key, raw);

  const config = {} as Record<OptionKey, unknown>;
  const sources = {} as Record<OptionKey, ValueSource>;
  for (const { key, spec } of optionList()) {
    const raw = values.get(key);
    if (raw) {
      try {
        config[key] = raw.parse();
      } catch (err) {
        if (err instanceof ValueError) throw new UsageError(`${raw.source.name} ${err.message}`);
        throw err;
      }
      sources[key] = raw.source;
    } else {
      config[key] = spec.default;
      sources[key] = { kind: 'default', name: `--${flagName(key)}` };
    }
  }
  const resolved = config as GardendConfig;
  if (resolved.backend === undefined) throw new UsageError('--backend is required (fake, linux or module)');
  checkBackendScope(resolved.backend, sources);
  if (resolved.backend === 'module' && resolved.backendModule === undefined) {
    throw new UsageError('--backend module needs --backend-module PATH|PKG');
  }
  if (resolved.debugBindIp === undefined) {
    for (const key of ['debugBindPort', 'debugContainerMetrics', 'debugContainerMetricsLimit'] as const) {
      if (sources[key].kind !== 'default') {
        throw new UsageError(
          `${sources[key].name} needs --debug-bind-ip (the debug server is off without it)`,
        );
      }
    }
  }
  return { kind: 'run', config: resolved, listen: listenOf(resolved, sources), sources };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Options set for a backend other than the one served are a mistake, not something to ignore. */
function checkBackendScope(backend: BackendName, sources: Record<OptionKey, ValueSource>): void {
  for (const { key, spec } of optionList()) {
    if (sources[key].kind === 'default' || spec.backends === undefined || spec.backends.includes(backend))
      continue;
    throw new UsageError(
      `${sources[key].name} only applies to --backend ${spec.backends.join(' or ')} (serving ${backend})`,
    );
  }
}

function listenOf(config: GardendConfig, sources: Record<OptionKey, ValueSource>): ListenOptions {
  const tcp = config.bindIp !== undefined || config.bindPort !== undefined;
  if (!tcp) return { socketPath: config.bindSocket };
  if (sources.bindSocket.kind !== 'default') {
    throw new UsageError(`${sources.bindSocket.name} cannot be combined with --bind-ip/--bind-port`);
  }
  if (config.bindIp === undefined || config.bindPort === undefined) {
    throw new UsageError('--bind-ip and --bind-port go together');
  }
  return { host: config.bindIp, port: config.bindPort };
}

// ---- the command line --------------------------------------------------------------------------

interface ParsedArgv {
  values: Raw[];
  config?: string;
  help: boolean;
  version: boolean;
}

/**
 * `--name VALUE`, `--name=VALUE`; booleans as `--name`, `--name=false` or `--no-name`; `-h`,
 * `--help`, `--version`, `--config FILE`. A later flag overrides an earlier one, except for lists
 * (repeatable flags), whose repetitions add up.
 */
function parseArgv(argv: readonly string[], ctx: ParseContext): ParsedArgv {
  const out: ParsedArgv = { values: [], help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') {
      out.help = true;
      continue;
    }
    if (arg === '--version') {
      out.version = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (options start with --)`);
    }
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      i++;
      return next;
    };
    if (name === CONFIG_FLAG) {
      const file = takeValue();
      if (file === '') throw new UsageError('--config must not be empty');
      out.config = file;
      continue;
    }
    let option = byFlag.get(name);
    if (option === undefined && name.startsWith('no-') && inline === undefined) {
      const positive = byFlag.get(name.slice(3));
      if (positive?.spec.type.boolean) {
        option = positive;
        name = name.slice(3);
        inline = 'false';
      }
    }
    if (option === undefined) throw new UsageError(`unknown option --${name} (see --help)`);
    const { key, spec } = option;
    const text = spec.type.boolean && inline === undefined ? 'true' : takeValue();
    const source: ValueSource = { kind: 'flag', name: `--${name}` };
    if (spec.type.repeatable) {
      // Each repetition adds its items to those of the earlier flags.
      const earlier = out.values.find((v) => v.key === key);
      const parseOne = () => (spec.type.parseFlag ?? spec.type.parse)(text, ctx) as unknown[];
      if (earlier) {
        const before = earlier.parse;
        earlier.parse = () => [...(before() as unknown[]), ...parseOne()];
      } else out.values.push({ key, source, parse: parseOne });
      continue;
    }
    out.values.push({ key, source, parse: () => spec.type.parse(text, ctx) });
  }
  return out;
}

// ---- the environment ---------------------------------------------------------------------------

/** `GARDEND_*` variables; an empty one counts as unset; an unknown one is refused (a typo is not ignored). */
function fromEnv(env: Readonly<Record<string, string | undefined>>, ctx: ParseContext): Raw[] {
  const out: Raw[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('GARDEND_') || name === CONFIG_ENV || value === undefined || value === '') continue;
    const option = byEnv.get(name);
    if (option === undefined) throw new UsageError(`${name} is not a gardend option (see gardend --help)`);
    const { key, spec } = option;
    out.push({ key, source: { kind: 'env', name }, parse: () => spec.type.parse(value, ctx) });
  }
  return out;
}

// ---- the config file ---------------------------------------------------------------------------

/**
 * A JSON object whose keys are the flag names without `--` (`"bind-socket": "/run/garden.sock"`);
 * strings, numbers and booleans as the option's type takes them; relative paths are relative to
 * the file's directory.
 */
function readConfigFile(file: string, read: (path: string) => string): Raw[] {
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    throw new UsageError(`--config ${file}: cannot read it: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config ${file}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--config ${file}: must hold a JSON object of options, e.g. {"backend": "linux"}`);
  }
  const ctx: ParseContext = { baseDir: dirname(file) };
  const out: Raw[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    const option = byFlag.get(name);
    if (option === undefined) {
      throw new UsageError(
        `${file}: unknown option ${JSON.stringify(name)} (keys are the flag names without --, e.g. "bind-socket")`,
      );
    }
    const { key, spec } = option as { key: OptionKey; spec: OptionSpec<unknown> };
    out.push({
      key,
      source: { kind: 'file', name: `${file}: ${name}` },
      parse: () => spec.type.fromJson(value, ctx),
    });
  }
  return out;
}
