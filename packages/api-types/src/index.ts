export * from './duration.js';
export * from './errors.js';
export type * from './interfaces.js';
export * from './types.js';
