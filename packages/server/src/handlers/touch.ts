/** Container look-up and grace-timer "touch" shared by plain and hijacked handlers (protocol §6.2, §9.3). */
import type { Container } from '@garden-ts/api-types';
import type { ServerContext } from '../server-context.js';

/**
 * Runs `fn` with the container's grace timer paused (a touching request); unpauses when `fn`
 * settles, restarting the full countdown if nothing else holds the container.
 */
export async function touching<T>(
  ctx: ServerContext,
  container: Container,
  fn: () => Promise<T>,
): Promise<T> {
  ctx.bomberman.pause(container.handle);
  try {
    return await fn();
  } finally {
    ctx.bomberman.unpause(container.handle);
  }
}
