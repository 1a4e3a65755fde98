/**
 * @edge-compress/quantize in Node: the platform-neutral entry plus `exportQuantized` (core's `exportModel`, which
 * writes files). Browser bundlers resolve the package to the neutral entry.
 */
export * from './index.js';
export { exportModel as exportQuantized } from '@edge-compress/core';
