/**
 * @edge-compress/bcr-prune: block-based column-row (BCR) pruning (GRIM, ALGORITHMS §2) with a WebAssembly SIMD
 * sparse runtime (AssemblyScript, embedded in the bundle) that runs a whole forward in one wasm call.
 */
export * from './sparsity.js';
export { SparseRunner, ldmOf, type SparseModelSpec } from './runtime/runner.js';
export type { KernelWeight } from './runtime/pack.js';
export { initSparseRuntime } from './runtime/module.js';
export { bcrLayouts, sparseSpec } from './runtime/spec.js';
export { bcrPrune } from './bcrPrune.js';
export { bcrConfig, bcrOptions, DEFAULT_BLOCK, type BcrConfig, type BcrOptions } from './config.js';
export { blockOf, checkBcrTarget } from './plan.js';
export { compressBcr, chooseAll, projectMask, splitData, type LayerChoice } from './compress.js';
export { bcrKernel } from './kernel.js';
