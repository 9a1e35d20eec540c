/**
 * Child server for the disk store's kill -9 test (bundled by the test with tsup): creates a
 * container with an exclusive 10 MiB disk limit, writes 3 MiB in it, prints READY and waits to be
 * SIGKILLed. argv: depot cgroupParent rootfs hostNetns (the test's host network namespace)
 */
import { createLinuxBackend } from '../src/index.js';

const [depot, cgroupParent, rootfs, hostNetns] = process.argv.slice(2) as [string, string, string, string];
const backend = createLinuxBackend({ depot, cgroupParent, defaultRootfs: rootfs, network: { hostNetns } });
await backend.start();
const c = await backend.create({
  handle: 'quota-survivor',
  limits: { disk: { byteHard: 10n << 20n, scope: 1 } },
});
const p = await c.run({ path: 'dd', args: ['if=/dev/urandom', 'of=/three', 'bs=1M', 'count=3'] }, {});
if ((await p.wait()) !== 0) throw new Error('dd failed');
process.stdout.write('READY\n');
setInterval(() => {}, 1000);
