import { describe } from 'vitest';
import { attach } from './features/attach.js';
import { capacity } from './features/capacity.js';
import { errors } from './features/errors.js';
import { events } from './features/events.js';
import { files } from './features/files.js';
import { graceTime } from './features/grace-time.js';
import { info } from './features/info.js';
import { lifecycle } from './features/lifecycle.js';
import { limits } from './features/limits.js';
import { metrics } from './features/metrics.js';
import { net } from './features/net.js';
import { processes } from './features/processes.js';
import { properties } from './features/properties.js';
import { signals } from './features/signals.js';
import { stop } from './features/stop.js';
import { tty } from './features/tty.js';
import { defineFeature, type Feature, newRunId } from './harness.js';
import type { ContractOptions } from './types.js';

/** Every feature block, in the order they are reported. */
const FEATURES: Array<[string, Feature]> = [
  ['lifecycle', lifecycle],
  ['properties', properties],
  ['processes', processes],
  ['attach', attach],
  ['signals', signals],
  ['stop', stop],
  ['files', files],
  ['limits', limits],
  ['metrics', metrics],
  ['info', info],
  ['net', net],
  ['grace time', graceTime],
  ['capacity', capacity],
  ['tty', tty],
  ['errors', errors],
  ['events', events],
];

function validate(options: ContractOptions): void {
  if (typeof options.name !== 'string' || options.name === '') {
    throw new TypeError('runBackendContract: options.name must be a non-empty string');
  }
  if (typeof options.setup !== 'function')
    throw new TypeError('runBackendContract: options.setup must be a function');
  const scale = options.timeScale;
  if (scale !== undefined && !(Number.isFinite(scale) && scale > 0)) {
    throw new TypeError(`runBackendContract: options.timeScale must be a positive number, got ${scale}`);
  }
  for (const key of ['limits', 'networking', 'tty', 'privileged', 'diskLimits', 'metrics'] as const) {
    if (typeof options.capabilities?.[key] !== 'boolean') {
      throw new TypeError(`runBackendContract: options.capabilities.${key} must be a boolean`);
    }
  }
  const known = new Set(FEATURES.map(([name]) => name));
  for (const name of options.features ?? []) {
    if (!known.has(name)) {
      throw new TypeError(`runBackendContract: options.features: no feature named ${JSON.stringify(name)}`);
    }
  }
  for (const key of ['events', 'containerEvents', 'oomEvents', 'diskQuotas', 'peas'] as const) {
    const value = options.capabilities?.[key];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new TypeError(`runBackendContract: options.capabilities.${key} must be a boolean when given`);
    }
  }
  if (
    options.capabilities.peas === true &&
    (typeof options.peaImage !== 'string' || options.peaImage === '')
  ) {
    throw new TypeError(
      'runBackendContract: options.peaImage must name an image when capabilities.peas is true',
    );
  }
  const readBack = options.capabilities.cpuLimitsReadBack;
  if (readBack !== 'shares' && readBack !== 'v2-weight') {
    throw new TypeError(
      `runBackendContract: options.capabilities.cpuLimitsReadBack must be 'shares' or 'v2-weight', got ${String(readBack)}`,
    );
  }
}

/**
 * Registers the Garden backend contract suite as vitest `describe`/`it` blocks: one block per
 * feature (lifecycle, properties, processes, attach, signals, stop, files, limits, metrics, info,
 * net, grace time, capacity, tty, errors, events). Call it at the top level of a test file.
 *
 * Each feature block calls `options.setup()` once, destroys the containers its tests created
 * and then calls the target's `teardown()`. Tests needing a capability the backend does not
 * declare are reported as skipped.
 *
 * @throws TypeError when an option is missing or malformed (at registration time).
 */
export function runBackendContract(options: ContractOptions): void {
  validate(options);
  const runId = newRunId();
  describe(`Garden backend contract: ${options.name}`, () => {
    for (const [name, feature] of FEATURES) {
      if (options.features === undefined || options.features.includes(name)) {
        defineFeature(options, runId, name, feature);
      }
    }
  });
}
