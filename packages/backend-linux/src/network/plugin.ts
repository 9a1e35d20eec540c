/**
 * Network plugin mode (linux-backend-reference §8.7; how Cloud Foundry's container networking
 * plugs into Guardian): instead of the built-in bridge and firewall, an external binary is run
 *
 *   <path> <extra args…> --action up|down|net-in|net-out|bulk-net-out --handle <handle>
 *
 * with one JSON document on stdin (Guardian's external networker shapes; rules in Garden's wire
 * encoding):
 *
 * | action | stdin | stdout |
 * |---|---|---|
 * | `up` | `{"Pid": <init pid>, "Properties": {…}, "netin": [{host_port, container_port}], "netout_rules": [rule…]}` | `{"properties": {…}, "dns_servers": [ip…], "search_domains": [name…]}` (all optional; keys case-insensitive as Go decodes them) |
 * | `down` | `{"Pid": <init pid or 0>, "Properties": {…}}` | ignored |
 * | `net-in` | `{"HostIP": <external IP>, "HostPort": n, "ContainerIP": <ip>, "ContainerPort": m}` | optional `{"host_port": n, "container_port": m}` overriding the mapping |
 * | `net-out` | `{"container_ip": <ip>, "netout_rule": rule}` | ignored |
 * | `bulk-net-out` | `{"container_ip": <ip>, "netout_rules": [rule…]}` | ignored |
 *
 * A non-zero exit (or unparsable `up`/`net-in` output) fails the operation with the plugin's
 * stderr in the message.
 */
import { spawn } from 'node:child_process';
import { GardenError } from '@garden-ts/api-types';

export type PluginAction = 'up' | 'down' | 'net-in' | 'net-out' | 'bulk-net-out';

export interface PluginConfig {
  /** The plugin executable. */
  path: string;
  /** `--network-plugin-extra-arg` values, passed before `--action`. */
  extraArgs: readonly string[];
  /** Kill the plugin after this long (default 60 s). */
  timeoutMs?: number;
}

/** What `up` may return. */
export interface PluginUpResult {
  properties: Record<string, string>;
  dnsServers: string[];
  searchDomains: string[];
}

const MAX_OUTPUT = 1 << 20;

/**
 * Runs the plugin once and resolves with its stdout.
 * @throws GardenError `network plugin <action> failed: …` (exit status or signal, stderr).
 */
export function runPlugin(
  cfg: PluginConfig,
  action: PluginAction,
  handle: string,
  input: unknown,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cfg.path, [...cfg.extraArgs, '--action', action, '--handle', handle], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), cfg.timeoutMs ?? 60_000);
    const fail = (why: string, cause?: unknown) => {
      clearTimeout(timer);
      reject(
        new GardenError(
          `network plugin ${action} failed: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`,
          {
            cause,
          },
        ),
      );
    };
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += d.toString();
    });
    child.on('error', (e) => fail((e as Error).message, e));
    child.on('close', (code, signal) => {
      if (code === 0) {
        clearTimeout(timer);
        resolve(stdout);
      } else {
        fail(signal ? `killed by ${signal}` : `exit status ${code}`);
      }
    });
    // A plugin that does not read its stdin must not fail the write.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(input));
  });
}

/** Case-insensitive field of a decoded JSON object (Go's decoder matches names that way). */
function field(obj: Record<string, unknown>, name: string): unknown {
  const want = name.toLowerCase().replace(/_/g, '');
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase().replace(/_/g, '') === want) return v;
  return undefined;
}

function parseObject(action: PluginAction, text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new GardenError(`network plugin ${action} failed: its output is not JSON: ${text.slice(0, 200)}`, {
      cause: e,
    });
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new GardenError(`network plugin ${action} failed: its output is not a JSON object`);
  return v as Record<string, unknown>;
}

function strings(action: PluginAction, name: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
    throw new GardenError(`network plugin ${action} failed: ${name} must be a list of strings`);
  return v as string[];
}

/** Decodes `up`'s output. @throws GardenError naming what is malformed. */
export function parseUpResult(text: string): PluginUpResult {
  const o = parseObject('up', text);
  const props = field(o, 'properties') ?? {};
  if (typeof props !== 'object' || props === null || Array.isArray(props))
    throw new GardenError('network plugin up failed: properties must be an object of strings');
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(props)) {
    if (typeof v !== 'string')
      throw new GardenError(`network plugin up failed: property ${k} is not a string`);
    properties[k] = v;
  }
  return {
    properties,
    dnsServers: strings('up', 'dns_servers', field(o, 'dns_servers')),
    searchDomains: strings('up', 'search_domains', field(o, 'search_domains')),
  };
}

/** Decodes `net-in`'s optional output. */
export function parseNetInResult(text: string): { hostPort?: number; containerPort?: number } {
  const o = parseObject('net-in', text);
  const port = (name: string): number | undefined => {
    const v = field(o, name);
    if (v === undefined || v === null) return undefined;
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 65535)
      throw new GardenError(`network plugin net-in failed: ${name} must be a port number`);
    return v as number;
  };
  const hostPort = port('host_port');
  const containerPort = port('container_port');
  return {
    ...(hostPort ? { hostPort } : {}),
    ...(containerPort ? { containerPort } : {}),
  };
}
