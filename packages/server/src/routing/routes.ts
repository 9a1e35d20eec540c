/** The Garden route table (protocol §6.1), in registration (= matching) order. */

/** Route names, as in Go's `routes.go`. */
export type RouteName =
  | 'Ping'
  | 'Capacity'
  | 'List'
  | 'Create'
  | 'Info'
  | 'BulkInfo'
  | 'BulkMetrics'
  | 'Destroy'
  | 'Stop'
  | 'StreamIn'
  | 'StreamOut'
  | 'CurrentBandwidthLimits'
  | 'CurrentCPULimits'
  | 'CurrentDiskLimits'
  | 'CurrentMemoryLimits'
  | 'NetIn'
  | 'NetOut'
  | 'BulkNetOut'
  | 'Stdout'
  | 'Stderr'
  | 'Run'
  | 'Attach'
  | 'SetGraceTime'
  | 'Properties'
  | 'Property'
  | 'SetProperty'
  | 'RemoveProperty'
  | 'Metrics';

export interface RouteDef {
  name: RouteName;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  pattern: string;
  /** Hijacked routes are served on the raw socket (protocol §1.2). */
  hijacked: boolean;
  /**
   * The request or response body is a stream (StreamIn, StreamOut): served through Node's HTTP
   * server, never the front door's fast path for complete requests.
   */
  streams: boolean;
}

type Kind = 'plain' | 'streams' | 'hijacked';

const r = (name: RouteName, method: RouteDef['method'], pattern: string, kind: Kind = 'plain'): RouteDef => ({
  name,
  method,
  pattern,
  hijacked: kind === 'hijacked',
  streams: kind === 'streams',
});

export const ROUTES: readonly RouteDef[] = [
  r('Ping', 'GET', '/ping'),
  r('Capacity', 'GET', '/capacity'),
  r('List', 'GET', '/containers'),
  r('Create', 'POST', '/containers'),
  r('Info', 'GET', '/containers/:handle/info'),
  r('BulkInfo', 'GET', '/containers/bulk_info'),
  r('BulkMetrics', 'GET', '/containers/bulk_metrics'),
  r('Destroy', 'DELETE', '/containers/:handle'),
  r('Stop', 'PUT', '/containers/:handle/stop'),
  r('StreamIn', 'PUT', '/containers/:handle/files', 'streams'),
  r('StreamOut', 'GET', '/containers/:handle/files', 'streams'),
  r('CurrentBandwidthLimits', 'GET', '/containers/:handle/limits/bandwidth'),
  r('CurrentCPULimits', 'GET', '/containers/:handle/limits/cpu'),
  r('CurrentDiskLimits', 'GET', '/containers/:handle/limits/disk'),
  r('CurrentMemoryLimits', 'GET', '/containers/:handle/limits/memory'),
  r('NetIn', 'POST', '/containers/:handle/net/in'),
  r('NetOut', 'POST', '/containers/:handle/net/out'),
  r('BulkNetOut', 'POST', '/containers/:handle/net/out/bulk'),
  r('Stdout', 'GET', '/containers/:handle/processes/:pid/attaches/:streamid/stdout', 'hijacked'),
  r('Stderr', 'GET', '/containers/:handle/processes/:pid/attaches/:streamid/stderr', 'hijacked'),
  r('Run', 'POST', '/containers/:handle/processes', 'hijacked'),
  r('Attach', 'GET', '/containers/:handle/processes/:pid', 'hijacked'),
  r('SetGraceTime', 'PUT', '/containers/:handle/grace_time'),
  r('Properties', 'GET', '/containers/:handle/properties'),
  r('Property', 'GET', '/containers/:handle/properties/:key'),
  r('SetProperty', 'PUT', '/containers/:handle/properties/:key'),
  r('RemoveProperty', 'DELETE', '/containers/:handle/properties/:key'),
  r('Metrics', 'GET', '/containers/:handle/metrics'),
];
