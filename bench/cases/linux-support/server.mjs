// A garden-ts server over backend-linux in its own process, for the bench/cases/linux-*.mjs
// cases (gardend's `--backend linux` flag maps to the same calls). Separate from the bench
// process so the client and the server do not share one event loop, and so the server's RSS can
// be measured alone.
//
//   node server.mjs DEPOT SOCKET ROOTFS CGROUP_PARENT NETWORK
//
// NETWORK: the test-made host network namespace file the containers' network is made in
// (network safety: never the machine's own), or `off` for containers with only `lo`.
//
// Prints `ready <pid>` on stdout once listening; SIGTERM closes the server gracefully (the
// backend is stopped, its containers keep running: the bench destroys them and sweeps).
import { createLinuxBackend } from '@garden-ts/backend-linux';
import { buildServer } from '@garden-ts/server';

const [depot, socketPath, defaultRootfs, cgroupParent, network] = process.argv.slice(2);
if (!depot || !socketPath || !defaultRootfs || !cgroupParent || !network) {
  process.stderr.write('usage: server.mjs DEPOT SOCKET ROOTFS CGROUP_PARENT NETNS|off\n');
  process.exit(2);
}

const backend = createLinuxBackend({
  depot,
  defaultRootfs,
  cgroupParent,
  network: network === 'off' ? false : { hostNetns: network },
});
const server = buildServer({ backend });
await server.listen({ socketPath });
process.stdout.write(`ready ${process.pid}\n`);

process.once('SIGTERM', () => {
  server.close().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`close failed: ${err?.message ?? err}\n`);
      process.exit(1);
    },
  );
});
