/**
 * The order in which the two sides are sampled. Pair i runs A then B when i is even and
 * B then A when i is odd (A,B, B,A, A,B, …), so a slow drift of the machine (thermal
 * throttling, a background job winding down) hits both sides equally instead of always
 * favouring whichever side runs second.
 */

/**
 * @param {number} pairIndex 0-based index of the pair
 * @returns {readonly ['A', 'B'] | readonly ['B', 'A']}
 */
export function pairOrder(pairIndex) {
  return pairIndex % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
}

/**
 * The ratio of one pair, oriented so that a value above 1 always means garden-ts (A) did
 * better: A/B when higher is better (throughput), B/A when lower is better (latency).
 * Returns null when the ratio is undefined (a zero denominator).
 * @param {number} a garden-ts sample
 * @param {number} b peer sample
 * @param {'higher' | 'lower'} better
 * @returns {number | null}
 */
export function pairRatio(a, b, better) {
  const ratio = better === 'higher' ? a / b : b / a;
  return Number.isFinite(ratio) ? ratio : null;
}
