/**
 * Child server for the kill -9 restart test (bundled by the test with tsup): creates a container
 * with properties, limits and two processes, then prints READY and waits to be SIGKILLed.
 * argv: depot cgroupParent rootfs hostNetns
 */
import { createLinuxBackend } from '../src/index.js';

const [depot, cgroupParent, rootfs, hostNetns] = process.argv.slice(2) as [string, string, string, string];
const backend = createLinuxBackend({ depot, cgroupParent, defaultRootfs: rootfs, network: { hostNetns } });
await backend.start();
const c = await backend.create({
  handle: 'survivor',
  properties: { owner: 'restart-test' },
  limits: { memory: { limitInBytes: 48n << 20n }, pid: { max: 100n } },
  netIn: [{ hostPort: 0, containerPort: 8080 }],
  netOut: [{ protocol: 1, networks: [{ start: '198.51.100.10' }], ports: [{ start: 8000 }] }],
});
await c.netIn(0, 9090);
await c.setProperty('set-later', 'yes');
await c.setGraceTime(5_000_000_000n);
const long = await c.run({ id: 'long', path: 'sleep', args: ['1000'] }, {});
await c.stop(true); // kills 'long' (137) and records the stopped state
await long.wait();
await c.run(
  { id: 'later', path: 'sh', args: ['-c', 'sleep 2; echo after-crash; echo err-after >&2; exit 5'] },
  {},
);
await c.run({ id: 'long2', path: 'sleep', args: ['1000'] }, {});
process.stdout.write('READY\n');
setInterval(() => {}, 1000);
