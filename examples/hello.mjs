// The seed's hello example, through the client: create a container on a running gardend, run
// `echo hello from the container` in it, print the exit code and output, destroy the container.
// Start a server first (scripts/quickstart.sh does): gardend --backend linux (real containers).
// GARDEN_SOCKET picks another socket than the default /tmp/garden.sock.
import { PassThrough } from 'node:stream';
import { createClient } from '@garden-ts/client';

const client = createClient({ socketPath: process.env.GARDEN_SOCKET ?? '/tmp/garden.sock' });

const container = await client.create({});
try {
  const output = new PassThrough();
  const chunks = [];
  output.on('data', (c) => chunks.push(c));

  const proc = await container.run(
    { path: 'echo', args: ['hello from the container'] },
    { stdout: output, stderr: output },
  );
  const exitCode = await proc.wait();
  console.log(`Exit code: ${exitCode}, Process output ${Buffer.concat(chunks).toString().trimEnd()}`);
} finally {
  await client.destroy(container.handle);
}
