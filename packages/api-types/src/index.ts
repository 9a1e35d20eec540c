export * from './duration.js';
export * from './errors.js';
export * from './go-json.js';
export type * from './interfaces.js';
export { canonicalIP, parseIP } from './ip-address.js';
export * from './process-output.js';
export * from './schemas.js';
export * from './types.js';
export * from './wire.js';
