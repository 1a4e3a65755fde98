/**
 * @edge-compress/admm-prune — ADMM-NN (Ren et al., ASPLOS 2019; Zhang et al., ECCV 2018): weight pruning and
 * then quantization as constrained optimisation solved by ADMM (W-step by training with the penalty
 * ρ/2‖W − Z + U‖², Z-step by Euclidean projection, U-step), hard pruning with masked retraining, the interval
 * scan and progressive quantized retraining, per-layer ratios from the recipe, a validation search or the
 * hardware-aware break-even rule, and storage accounted three ways. Importing it has no side effects.
 */
import { defineCompressor } from '@edge-compress/core';
import { admmConfig, admmOptions } from './config.js';
import { compressAdmm } from './compress.js';

/** The `admm` compressor (recipe id 'admm'). */
export const admmPrune = defineCompressor({
  name: 'admm',
  description: 'ADMM-NN joint pruning (unstructured / channel / block) and quantization to non-zero levels, with masked and progressive retraining',
  // Dense weights, or masked ones from an earlier pruning stage (their zeros are kept); masked(quantized) and
  // factor encodings are refused by the planner (CHAIN_INVALID) and again at compress (checkAccepts).
  accepts: ['dense', 'masked'],
  produces: 'masked',
  config: admmConfig,
  options: admmOptions,
  compress: compressAdmm,
  accuracyKnobs: (plan) => {
    const o = plan.options;
    const ruled = plan.targets.filter((t) => t.config.sparseRatio !== undefined).map((t) => t.config.sparseRatio!);
    const quantized = plan.targets.some((t) => t.config.quantDtype !== undefined);
    return [
      ruled.length
        ? `a lower sparse_ratio (now ${[...new Set(ruled)].join(', ')})`
        : o.globalSparseRatio === 'auto'
          ? `a smaller auto_max_drop (now ${o.autoMaxDrop}) or a fixed global_sparse_ratio (now 'auto')`
          : `a lower global_sparse_ratio (now ${o.globalSparseRatio})`,
      `more retrain_epochs (now ${o.retrainEpochs})`,
      `more admm_iterations (now ${o.admmIterations})`,
      ...(quantized ? [`more bits (quant_dtype)`, `more progressive_epochs (now ${o.progressiveEpochs})`] : []),
    ];
  },
});

export { admmConfig, admmOptions, bitsOfDtype, MIN_BITS, MAX_BITS, type AdmmConfig, type AdmmOptions } from './config.js';
export type { AdmmContext, AdmmPlan, AdmmReport, AdmmLayerChoice, AutoSparsity } from './compress.js';
export { splitValidation, type IterationRecord } from './engine.js';
export { ADMM_ACCEPTS, ADMM_PRODUCES, HAS_NONZERO_SCHEME } from './encode.js';
export {
  applyMask,
  groupsOf,
  keepCount,
  levelIndex,
  levelsPerSide,
  progressiveFreeze,
  projectQuant,
  quantCodes,
  quantError,
  relativeResidual,
  rhoAt,
  scanInterval,
  INTERVAL_SCAN_FROM,
  sparseMask,
  type Granularity,
} from './math.js';
export {
  allocateSparsity,
  AUTO_SPARSITY_CANDIDATES,
  largestPassing,
  breakEvenRatio,
  hardwareAwareRatio,
  pruningRatioOf,
  BREAK_EVEN_GRID,
  SENSITIVITY_GRID,
  type AllocationLayer,
} from './search.js';
export { storageAccount, type StorageAccount, type LayerStorage, type LayerStorageInput } from './storage.js';
