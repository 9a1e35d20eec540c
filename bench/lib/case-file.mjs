import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Default number of A/B alternations when a case does not say. */
export const DEFAULT_PAIRS = 5;

/**
 * @typedef {number | ({ value: number } & Record<string, unknown>)} MeasureResult
 *
 * @typedef {object} PeerDefinition
 * @property {string} name
 * @property {string[]} [requires]
 * @property {(options: SetupOptions) => Promise<unknown>} [setup]
 * @property {(ctx: any) => Promise<MeasureResult>} measure
 * @property {(ctx: any) => Promise<void>} [teardown]
 *
 * @typedef {object} CaseDefinition
 * @property {string} name
 * @property {string} [description]
 * @property {string} unit
 * @property {'higher' | 'lower'} better
 * @property {number} [pairs]
 * @property {number} [warmup] warm-up samples per side, thrown away (default 1; 1 under --quick)
 * @property {string[]} [requires]
 * @property {(options: SetupOptions) => Promise<unknown>} [setup]
 * @property {(ctx: any) => Promise<MeasureResult>} measure
 * @property {(ctx: any) => Promise<void>} [teardown]
 * @property {PeerDefinition} [peer]
 *
 * @typedef {object} SetupOptions
 * @property {boolean} quick true under --quick: cases may shorten each sample
 *
 * @typedef {{ file: string, definition: CaseDefinition } | { file: string, error: Error }} LoadedCase
 */

/** A case module whose default export does not follow the case format. */
export class InvalidCaseError extends Error {
  /**
   * @param {string} file
   * @param {string} field
   * @param {string} problem
   */
  constructor(file, field, problem) {
    super(`${path.basename(file)}: '${field}' ${problem}`);
    this.name = 'InvalidCaseError';
    this.field = field;
  }
}

/**
 * The `*.mjs` files of `dir`, sorted by name.
 * @param {string} dir
 * @returns {Promise<string[]>}
 */
export async function listCaseFiles(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.mjs'))
    .map((entry) => path.join(dir, entry.name))
    .sort();
}

/**
 * @param {string} file
 * @param {unknown} value
 * @param {string} field
 * @returns {asserts value is Function}
 */
function requireFunction(file, value, field) {
  if (typeof value !== 'function') throw new InvalidCaseError(file, field, 'must be a function');
}

/**
 * @param {string} file
 * @param {unknown} value
 * @param {string} field
 */
function checkOptionalFunction(file, value, field) {
  if (value !== undefined) requireFunction(file, value, field);
}

/**
 * @param {string} file
 * @param {unknown} value
 * @param {string} field
 */
function checkRequires(file, value, field) {
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new InvalidCaseError(file, field, 'must be an array of strings');
  }
}

/**
 * Checks that a module's default export follows the case format (see bench/README.md).
 * @param {string} file the module's path, for error messages
 * @param {unknown} value the default export
 * @returns {CaseDefinition}
 * @throws {InvalidCaseError} naming the first offending field
 */
export function validateCase(file, value) {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidCaseError(file, 'default', 'export must be an object');
  }
  const c = /** @type {Record<string, unknown>} */ (value);
  if (typeof c.name !== 'string' || c.name === '') {
    throw new InvalidCaseError(file, 'name', 'must be a non-empty string');
  }
  if (c.description !== undefined && typeof c.description !== 'string') {
    throw new InvalidCaseError(file, 'description', 'must be a string');
  }
  if (typeof c.unit !== 'string' || c.unit === '') {
    throw new InvalidCaseError(file, 'unit', "must be a non-empty string such as 'ops/s' or 'ms'");
  }
  if (c.better !== 'higher' && c.better !== 'lower') {
    throw new InvalidCaseError(file, 'better', "must be 'higher' or 'lower'");
  }
  for (const field of /** @type {const} */ (['pairs', 'warmup'])) {
    const n = c[field];
    if (n !== undefined && !(Number.isInteger(n) && /** @type {number} */ (n) >= 1)) {
      throw new InvalidCaseError(file, field, 'must be a positive integer');
    }
  }
  checkRequires(file, c.requires, 'requires');
  checkOptionalFunction(file, c.setup, 'setup');
  requireFunction(file, c.measure, 'measure');
  checkOptionalFunction(file, c.teardown, 'teardown');
  if (c.peer !== undefined) {
    if (typeof c.peer !== 'object' || c.peer === null) {
      throw new InvalidCaseError(file, 'peer', 'must be an object');
    }
    const p = /** @type {Record<string, unknown>} */ (c.peer);
    if (typeof p.name !== 'string' || p.name === '') {
      throw new InvalidCaseError(file, 'peer.name', 'must be a non-empty string');
    }
    checkRequires(file, p.requires, 'peer.requires');
    checkOptionalFunction(file, p.setup, 'peer.setup');
    requireFunction(file, p.measure, 'peer.measure');
    checkOptionalFunction(file, p.teardown, 'peer.teardown');
  }
  return /** @type {CaseDefinition} */ (value);
}

/**
 * Imports and validates every case in `dir`. A module that fails to import or validate is
 * returned with its error rather than thrown, so one broken case does not stop the others.
 * @param {string} dir
 * @returns {Promise<LoadedCase[]>}
 */
export async function loadCases(dir) {
  const files = await listCaseFiles(dir);
  return Promise.all(
    files.map(async (file) => {
      try {
        const mod = await import(pathToFileURL(file).href);
        return { file, definition: validateCase(file, mod.default) };
      } catch (err) {
        return { file, error: err instanceof Error ? err : new Error(String(err)) };
      }
    }),
  );
}

/**
 * The name a loaded case is reported under: its `name`, or its file name when it failed to load.
 * @param {LoadedCase} loaded
 * @returns {string}
 */
export function caseName(loaded) {
  return 'definition' in loaded ? loaded.definition.name : path.basename(loaded.file, '.mjs');
}
