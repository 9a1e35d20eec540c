#!/usr/bin/env node
/** The `gaol` executable. Only the parser and the command table load eagerly; handlers on demand. */
import { main } from './main.js';

// A closed pipe (`gaol list | head -1`) ends gaol quietly, as SIGPIPE ends a C program: 128 + 13.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(141);
    throw err;
  });
}

const code = await main(process.argv.slice(2));
// Exit explicitly: an attached stdin or a detached process's sockets must not keep gaol alive.
if (process.stdout.writableNeedDrain) await new Promise((resolve) => process.stdout.once('drain', resolve));
process.exit(code);
