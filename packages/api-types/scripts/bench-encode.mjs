/**
 * Micro-benchmark of the hot encode paths (µs per encodeBody call) against the built dist.
 * Usage: node scripts/bench-encode.mjs [path/to/dist/index.js]
 */

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const target = resolve(process.argv[2] ?? new URL('../dist/index.js', import.meta.url).pathname);
const { MEMORY_STAT_KEYS, Wire, encodeBody } = await import(pathToFileURL(target).href);

const info = {
  state: 'active',
  events: [],
  hostIP: '10.254.0.1',
  containerIP: '10.254.0.2',
  containerIPv6: '',
  externalIP: '192.168.1.10',
  containerPath: '/var/vcap/data/garden/depot/bench-info',
  processIDs: [],
  properties: { app: 'bench', owner: 'wire-info', zone: 'z1' },
  mappedPorts: [{ hostPort: 61001, containerPort: 8080 }],
};
const memoryStat = {};
for (const k of MEMORY_STAT_KEYS) memoryStat[k] = 123456789n;
const metrics = {
  memoryStat,
  cpuStat: { usage: 987654321n, user: 1234n, system: 5678n },
  diskStat: {
    totalBytesUsed: 1n << 40n,
    totalInodesUsed: 42n,
    exclusiveBytesUsed: 7n,
    exclusiveInodesUsed: 3n,
  },
  networkStat: { rxBytes: 1000n, txBytes: 2000n },
  pidStat: { current: 3n, max: 0n },
  age: 60_000_000_000n,
  cpuEntitlement: 0n,
};

function bench(name, fn) {
  for (let i = 0; i < 20000; i++) fn();
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const n = 50000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    runs.push(Number(process.hrtime.bigint() - t0) / n / 1000);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name}: ${runs[2].toFixed(3)} µs (min ${runs[0].toFixed(3)})`);
}

bench('encodeBody(Wire.containerInfo, info)', () => encodeBody(Wire.containerInfo, info));
bench('encodeBody(Wire.metrics, m)', () => encodeBody(Wire.metrics, metrics));
