import type { Socket } from 'node:net';

/**
 * Ends a raw socket once its pending writes are flushed and keeps discarding input so the peer's
 * FIN is seen; a peer that never closes its side is cut off after `lingerMs`.
 */
export function closeAfterFlush(socket: Socket, lingerMs = 5000): void {
  if (socket.destroyed) return;
  socket.on('data', () => {});
  socket.resume();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
