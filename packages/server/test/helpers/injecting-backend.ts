/**
 * A delegating Backend around a real one (backend-fake) with per-call injections: a test replaces
 * exactly one backend or container method (to throw a given error or return given data) and every
 * other call reaches the real backend.
 */
import type { Backend, Container } from '@garden-ts/api-types';

export interface Injections {
  /** Replacements for backend methods. */
  backend: Partial<Backend>;
  /** Replacements for container methods, keyed by handle (`*` = every container). */
  containers: Map<string, Partial<Container>>;
}

export function newInjections(): Injections {
  return { backend: {}, containers: new Map() };
}

function wrapContainer(inner: Container, inj: Injections): Container {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const over = inj.containers.get(target.handle) ?? inj.containers.get('*');
      const replacement = over?.[prop as keyof Container];
      if (replacement !== undefined) {
        return typeof replacement === 'function'
          ? (replacement as (...a: unknown[]) => unknown).bind(target)
          : replacement;
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export function injecting(inner: Backend, inj: Injections): Backend {
  const wrapped: Backend = new Proxy(inner, {
    get(target, prop) {
      const replacement = inj.backend[prop as keyof Backend];
      if (replacement !== undefined) return replacement;
      switch (prop) {
        case 'lookup':
          return async (handle: string) => wrapContainer(await target.lookup(handle), inj);
        case 'create':
          return async (spec: Parameters<Backend['create']>[0]) =>
            wrapContainer(await target.create(spec), inj);
        case 'containers':
          return async (filter?: Record<string, string>) =>
            (await target.containers(filter)).map((c) => wrapContainer(c, inj));
        default: {
          const value = Reflect.get(target, prop);
          return typeof value === 'function' ? value.bind(target) : value;
        }
      }
    },
  });
  return wrapped;
}
