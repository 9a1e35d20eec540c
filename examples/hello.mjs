// The seed's hello example: create a container, run `echo hello from the container`, print the
// exit code and output. Runs against backend-fake in-process.
import { PassThrough } from 'node:stream';
import { createFakeBackend } from '@garden-ts/backend-fake';

const garden = createFakeBackend();
await garden.start();

const container = await garden.create({});
const output = new PassThrough();
const chunks = [];
output.on('data', (c) => chunks.push(c));

const process = await container.run(
  { path: 'echo', args: ['hello from the container'] },
  { stdout: output, stderr: output },
);
const exitCode = await process.wait();
console.log(`Exit code: ${exitCode}, Process output ${Buffer.concat(chunks).toString()}`);

await garden.destroy(container.handle);
await garden.stop();
