export * from './types.js';
export * from './ops.js';
