/**
 * Order statistics over a handful of samples. Benchmarks here take 5–10 pairs, so
 * medians and min–max are the honest summaries; means would be pulled by one slow sample.
 */

/**
 * @typedef {object} Summary
 * @property {number} n       number of samples
 * @property {number} median
 * @property {number} min
 * @property {number} max
 * @property {number} q1      25th percentile (linear interpolation)
 * @property {number} q3      75th percentile (linear interpolation)
 */

/**
 * The q-quantile (0 ≤ q ≤ 1) of `values`, interpolating linearly between order statistics
 * (the "type 7" definition used by R and NumPy by default).
 * @param {readonly number[]} values
 * @param {number} q
 * @returns {number}
 */
export function quantile(values, q) {
  if (values.length === 0) throw new RangeError('quantile of an empty sample');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be within [0, 1], got ${q}`);
  const sorted = [...values].sort((x, y) => x - y);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const below = /** @type {number} */ (sorted[lo]);
  const above = /** @type {number} */ (sorted[hi]);
  return below + (above - below) * (pos - lo);
}

/**
 * The median of `values` (mean of the two middle values when their count is even).
 * @param {readonly number[]} values
 * @returns {number}
 */
export function median(values) {
  return quantile(values, 0.5);
}

/**
 * Median, min–max and inter-quartile range of a non-empty sample.
 * @param {readonly number[]} values
 * @returns {Summary}
 */
export function summarize(values) {
  if (values.length === 0) throw new RangeError('summarize: empty sample');
  return {
    n: values.length,
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    q1: quantile(values, 0.25),
    q3: quantile(values, 0.75),
  };
}
