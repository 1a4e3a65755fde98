/**
 * @edge-compress/quantize — uniform (affine / symmetric), per-tensor and per-output-channel, power-of-two and
 * float16 quantization of tfjs models: post-training with activation calibration, quantization-aware training
 * with the clipped straight-through estimator, sensitivity-based mixed precision, and exports that stock tfjs
 * loads with an honest size report. Importing it has no side effects.
 */
import { defineCompressor } from '@edge-compress/core';
import { quantizeConfig, quantizeOptions } from './config.js';
import { checkQuantTarget } from './plan.js';
import { compressQuantize } from './compress.js';

/** The `quantize` compressor (recipe id 'quantize'). */
export const quantize = defineCompressor({
  name: 'quantize',
  description: 'uniform / per-channel / power-of-two / float16 quantization: PTQ with calibration, QAT (clipped STE), sensitivity-based mixed precision',
  config: quantizeConfig,
  options: quantizeOptions,
  // Quantizes the elementwise leaves of any encoding (masks, factors, blocks kept).
  accepts: '*',
  produces: (k) => (k === 'dense' ? 'quantized' : k),
  checkTarget: (t, _ir, path) => checkQuantTarget(t, path),
  compress: compressQuantize,
});

export { quantizeConfig, quantizeOptions, specOf, MIN_BITS, MAX_BITS, type QuantizeConfig, type QuantizeOptions, type QuantSpec } from './config.js';
export type { QuantizePlan, QuantizeReport } from './compress.js';
export type { ActivationRange } from './activations.js';
export type { MixedPrecisionResult, MixedPrecisionLayer, SensitivityRow } from './mixed.js';
export { serializeQuantized, hasStockForm, widenEncoding, IN_MEMORY_NOTE, type ExportOptions, type ExportReport, type ExportLayerRow, type Widen } from './export.js';
export { quantizeEncoding } from './weights.js';
