/**
 * The server to talk to: `-t/--target`, else `GAOL_TARGET`, else the unix socket gardend listens on
 * by default. Forms: `unix:///path/to.sock`, a socket path (`/tmp/garden.sock`, `./garden.sock`),
 * `host:port`, `tcp://host:port`, `[::1]:7777`.
 */
import { CliError } from './errors.js';

export const DEFAULT_TARGET = 'unix:///tmp/garden.sock';

/** A parsed target: the client's address plus how to show it. */
export type Target =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'tcp'; host: string; port: number; display: string };

/** @throws CliError for a target that is neither a socket path nor host:port. */
export function parseTarget(text: string): Target {
  const raw = text.trim();
  if (raw === '') throw new CliError('the target is empty (expected unix:///path or host:port)');
  if (raw.startsWith('unix:')) {
    const path = raw.replace(/^unix:(\/\/)?/, '');
    if (path === '') throw new CliError(`invalid target "${text}": no socket path after unix://`);
    return { kind: 'unix', socketPath: path, display: `unix://${path}` };
  }
  if (raw.startsWith('/') || raw.startsWith('./') || raw.startsWith('../') || raw.endsWith('.sock')) {
    return { kind: 'unix', socketPath: raw, display: `unix://${raw}` };
  }
  const hostPort = raw.replace(/^tcp:\/\//, '');
  const m = /^(?:\[([^\]]+)\]|([^:/\s]+)):(\d+)$/.exec(hostPort);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CliError(`invalid target "${text}": expected unix:///path/to.sock or host:port`);
  }
  const host = (m[1] ?? m[2]) as string;
  return { kind: 'tcp', host, port, display: m[1] ? `[${host}]:${port}` : `${host}:${port}` };
}

/** The address `createClient` takes. */
export function clientAddress(target: Target): { socketPath: string } | { host: string; port: number } {
  return target.kind === 'unix'
    ? { socketPath: target.socketPath }
    : { host: target.host, port: target.port };
}
