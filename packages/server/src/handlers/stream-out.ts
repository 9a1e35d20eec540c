/**
 * StreamOut (protocol §8.2): the backend's tar stream copied to the response with backpressure.
 * Like Go, up to 2 KiB is buffered first: a body that fits is sent with Content-Length, a longer
 * one chunked. A read error before any byte is answered with the error envelope; after that the
 * response is aborted (the client sees a truncated transfer). A client that goes away destroys the
 * backend stream.
 */
import type { Readable } from 'node:stream';
import type { Container, StreamOutSpec } from '@garden-ts/api-types';
import { writeStreamHead } from '../http/responses.js';
import { sniffContentType } from '../http/sniff.js';
import type { PlainRequest } from './plain-routes.js';

/** Go's `bufferBeforeChunkingSize`. */
const BUFFER_BEFORE_CHUNKING = 2048;

export async function streamOut(r: PlainRequest, container: Container, spec: StreamOutSpec): Promise<void> {
  const source = await container.streamOut(spec);
  const { req, res } = r;
  await new Promise<void>((resolve, reject) => {
    const buffered: Buffer[] = [];
    let bufferedBytes = 0;
    let streaming = false;
    let settled = false;

    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      res.off('close', onResClose);
      res.off('drain', onDrain);
      if (err === undefined) resolve();
      else reject(err);
    };

    const startStreaming = () => {
      streaming = true;
      const first = Buffer.concat(buffered, bufferedBytes);
      writeStreamHead(req, res, 200, sniffContentType(first));
      if (!res.write(first)) source.pause();
    };

    const onData = (chunk: Buffer) => {
      if (!streaming) {
        buffered.push(chunk);
        bufferedBytes += chunk.length;
        if (bufferedBytes > BUFFER_BEFORE_CHUNKING) startStreaming();
        return;
      }
      if (!res.write(chunk)) source.pause();
    };
    const onDrain = () => source.resume();
    const onEnd = () => {
      if (!streaming) {
        const body = Buffer.concat(buffered, bufferedBytes);
        writeStreamHead(req, res, 200, body.length > 0 ? sniffContentType(body) : undefined, body.length);
        res.end(body);
      } else {
        res.end();
      }
      finish();
    };
    const onError = (err: Error) => {
      destroySource(source);
      if (bufferedBytes === 0 && !streaming) {
        finish(err);
        return;
      }
      r.log.warn({ err }, 'stream-out failed midway; aborting the response');
      res.destroy();
      finish();
    };
    const onResClose = () => {
      // The client went away before the copy finished: release the backend's resources.
      if (!res.writableFinished) {
        destroySource(source);
        finish();
      }
    };

    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
    res.on('drain', onDrain);
    res.on('close', onResClose);
  });
}

function destroySource(source: Readable): void {
  // Keep a listener so a late error from the destroyed stream is not unhandled.
  source.on('error', () => {});
  source.destroy();
}
