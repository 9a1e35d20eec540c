import { unmetRequirements } from './requirements.mjs';
import { pairOrder, pairRatio } from './schedule.mjs';
import { median, summarize } from './stats.mjs';

/**
 * @typedef {import('./case-file.mjs').CaseDefinition} CaseDefinition
 * @typedef {import('./case-file.mjs').MeasureResult} MeasureResult
 * @typedef {import('./stats.mjs').Summary} Summary
 *
 * @typedef {object} Sample
 * @property {number} value
 * @property {Record<string, number>} details numeric extras (p50, p99, …)
 *
 * @typedef {object} SideResult
 * @property {number[]} samples   measured values, in run order (warm-up excluded)
 * @property {Summary} summary
 * @property {Record<string, number>} details median of each numeric detail across samples
 *
 * @typedef {object} CaseResult
 * @property {string} name
 * @property {string} description
 * @property {string} unit
 * @property {'higher' | 'lower'} better
 * @property {'ok' | 'skipped' | 'error'} status
 * @property {string | null} reason        why skipped or errored; null when ok
 * @property {number} pairs                pairs run
 * @property {boolean} quick
 * @property {string | null} peer          the peer's name; null when the case has none
 * @property {string | null} peerSkipped   why the peer side did not run, when it did not
 * @property {SideResult | null} a         garden-ts
 * @property {SideResult | null} b         the peer
 * @property {(Summary & { values: number[] }) | null} ratio  pair-by-pair ratios, > 1 = garden-ts better
 * @property {string} measuredAt           ISO date-time the case finished
 *
 * @typedef {object} RunCaseOptions
 * @property {number} [pairs] overrides the case's own `pairs`
 * @property {boolean} [quick]
 * @property {Readonly<Record<string, () => string | null>>} [checks] requirement checks (tests inject)
 */

/**
 * Normalises what `measure` returned into a value plus its numeric details.
 * @param {MeasureResult} result
 * @param {string} side 'garden-ts' or the peer's name, for error messages
 * @returns {Sample}
 */
export function toSample(result, side) {
  if (typeof result === 'number') {
    if (!Number.isFinite(result)) throw new TypeError(`${side}: measure() returned ${result}`);
    return { value: result, details: {} };
  }
  if (typeof result !== 'object' || result === null || typeof result.value !== 'number') {
    throw new TypeError(`${side}: measure() must return a number or { value: number, ...details }`);
  }
  if (!Number.isFinite(result.value))
    throw new TypeError(`${side}: measure() returned value ${result.value}`);
  /** @type {Record<string, number>} */
  const details = {};
  for (const [key, detail] of Object.entries(result)) {
    // Only numbers can be summarised across samples; anything else is case-private.
    if (key !== 'value' && typeof detail === 'number' && Number.isFinite(detail)) details[key] = detail;
  }
  return { value: result.value, details };
}

/**
 * @param {Sample[]} samples
 * @returns {SideResult}
 */
function sideResult(samples) {
  const values = samples.map((sample) => sample.value);
  /** @type {Record<string, number[]>} */
  const byKey = {};
  for (const sample of samples) {
    for (const [key, detail] of Object.entries(sample.details)) {
      const list = byKey[key] ?? [];
      list.push(detail);
      byKey[key] = list;
    }
  }
  /** @type {Record<string, number>} */
  const details = {};
  for (const [key, list] of Object.entries(byKey)) details[key] = median(list);
  return { samples: values, summary: summarize(values), details };
}

/**
 * @param {unknown} err
 * @returns {string}
 */
function describeError(err) {
  if (err instanceof Error) return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`;
  return String(err);
}

/**
 * Runs one case: requirement checks, setup of both sides, the case's warm-up samples per side (one
 * unless it asks for more; one under --quick), then `pairs` alternations in A,B / B,A order, then
 * teardown (always, once setup succeeded).
 * Never throws: failures become `status: 'error'` with the reason.
 * @param {CaseDefinition} def
 * @param {RunCaseOptions} [options]
 * @returns {Promise<CaseResult>}
 */
export async function runCase(def, options = {}) {
  const quick = options.quick ?? false;
  const pairs = options.pairs ?? def.pairs ?? 5;
  /** @type {CaseResult} */
  const result = {
    name: def.name,
    description: def.description ?? '',
    unit: def.unit,
    better: def.better,
    status: 'ok',
    reason: null,
    pairs,
    quick,
    peer: def.peer?.name ?? null,
    peerSkipped: null,
    a: null,
    b: null,
    ratio: null,
    measuredAt: '',
  };
  const finish = () => {
    result.measuredAt = new Date().toISOString();
    return result;
  };

  try {
    const unmet = unmetRequirements(def.requires ?? [], options.checks);
    if (unmet.length > 0) {
      result.status = 'skipped';
      result.reason = unmet.join('; ');
      return finish();
    }
    const peer = def.peer;
    if (peer !== undefined) {
      const peerUnmet = unmetRequirements(peer.requires ?? [], options.checks);
      if (peerUnmet.length > 0) result.peerSkipped = peerUnmet.join('; ');
    }
    const runPeer = peer !== undefined && result.peerSkipped === null;

    /** @type {Array<() => Promise<void>>} teardowns of the sides set up so far, run in reverse */
    const teardowns = [];
    try {
      const ctxA = def.setup ? await def.setup({ quick }) : undefined;
      teardowns.push(async () => def.teardown?.(ctxA));
      /** @type {unknown} */
      let ctxB;
      if (runPeer) {
        try {
          ctxB = peer.setup ? await peer.setup({ quick }) : undefined;
        } catch (err) {
          throw new Error(`peer ${peer.name} setup failed: ${describeError(err)}`, { cause: err });
        }
        teardowns.push(async () => peer.teardown?.(ctxB));
      }
      const measureA = async () => toSample(await def.measure(ctxA), 'garden-ts');
      const measureB = async () =>
        toSample(await /** @type {NonNullable<typeof peer>} */ (peer).measure(ctxB), result.peer ?? 'peer');

      // Warm-up, thrown away: JIT, caches, lazily opened connections. A case whose server's hot
      // paths need many more runs than one sample gives them before V8 optimizes them asks for more.
      const warmup = quick ? 1 : (def.warmup ?? 1);
      for (let i = 0; i < warmup; i++) {
        await measureA();
        if (runPeer) await measureB();
      }

      /** @type {Sample[]} */
      const samplesA = [];
      /** @type {Sample[]} */
      const samplesB = [];
      for (let i = 0; i < pairs; i++) {
        for (const side of runPeer ? pairOrder(i) : /** @type {const} */ (['A'])) {
          if (side === 'A') samplesA.push(await measureA());
          else samplesB.push(await measureB());
        }
      }
      result.a = sideResult(samplesA);
      if (runPeer) {
        result.b = sideResult(samplesB);
        const ratios = [];
        for (let i = 0; i < pairs; i++) {
          const ratio = pairRatio(
            /** @type {Sample} */ (samplesA[i]).value,
            /** @type {Sample} */ (samplesB[i]).value,
            def.better,
          );
          if (ratio !== null) ratios.push(ratio);
        }
        if (ratios.length > 0) result.ratio = { values: ratios, ...summarize(ratios) };
      }
    } finally {
      for (const teardown of teardowns.reverse()) {
        try {
          await teardown();
        } catch (err) {
          // A failed teardown may leave processes or files behind: make the run fail loudly.
          if (result.status === 'ok') {
            result.status = 'error';
            result.reason = `teardown failed: ${describeError(err)}`;
          }
        }
      }
    }
  } catch (err) {
    result.status = 'error';
    result.reason = describeError(err);
  }
  return finish();
}
