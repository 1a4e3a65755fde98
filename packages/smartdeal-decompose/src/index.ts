/**
 * @edge-compress/smartdeal-decompose — SmartDeal (arXiv 2101.01163): every weight matrix as blocks Ce·B, a small
 * dense basis B times structurally sparse coefficients Ce whose non-zeros are signed powers of two in a bounded
 * exponent range. Offline SED decomposition, structural sparsity, SmartDeal training with the structure kept
 * (straight-through power-of-two projection), basis fine-tuning, exact bit accounting and a multiplication-free
 * (exponent-arithmetic) reconstruction kernel. Importing it has no side effects.
 */
import { defineCompressor } from '@edge-compress/core';
import { checkSmartDealTarget, smartDealConfig, smartDealOptions } from './config.js';
import { compressSmartDeal } from './compress.js';
import { smartDealKernel } from './kernel.js';

/** The `smartdeal` compressor (recipe id 'smartdeal'). */
export const smartDeal = defineCompressor({
  name: 'smartdeal',
  description: 'SmartDeal decomposition: W blocks = sparse power-of-two coefficients × small dense basis (SED, structural sparsity, STE training, basis fine-tuning)',
  accepts: ['dense'],
  produces: 'factorized',
  kernels: [smartDealKernel],
  config: smartDealConfig,
  options: smartDealOptions,
  checkTarget: checkSmartDealTarget,
  compress: compressSmartDeal,
});

export {
  smartDealConfig,
  smartDealOptions,
  resolveTarget,
  DEFAULT_EXPONENT_RANGE,
  DEFAULT_THRESHOLD,
  type SmartDealConfig,
  type SmartDealOptions,
  type ResolvedTarget,
} from './config.js';
export { compressSmartDeal, decomposeWeight, evaluateSmartDeal, type SmartDealPlan, type SmartDealReport, type SmartDealLayerReport, type SmartDealResult } from './compress.js';
export { encodeSmartDeal, reconstruct, smartDealStorageBits, paperFormatBits, coeffStats, rangeOf, type SmartDealEncoding } from './encoding.js';
export { smartDealLayout, blockGeometry, gemmToBlocks, blocksToGemm, convPerm, type RowBlocksLayout, type BlockGeometry, type GeometryOptions } from './geometry.js';
export { projectPow2, projectAll, pow2Codes, shiftMul, signedShiftMul, codeBits, exponentBits, levelCount, nearestExponent, zeroThreshold, type ExpRange } from './pow2.js';
export { sedBlock, refineCoding, type SedOptions, type SedResult } from './sed.js';
export { structuralRowMask, expandRowMask } from './structure.js';
export { smartDealKernel, isSmartDealEncoding } from './kernel.js';
export { projectTensor } from './train.js';
