import { camelizeKeys, GRANULARITIES, optionsSchema, quantRuleShape, ruleSchema, type QuantScheme, type Target } from '@edge-compress/core';
import { z } from 'zod';

export const MIN_BITS = 2;
export const MAX_BITS = 16;

const bitsOf = (dtype: string): number => Number(/(\d+)$/.exec(dtype)?.[1] ?? NaN);

/**
 * One config_list entry (NNI v3 keys, snake_case in JSON, camelCased on parse):
 * - `quant_dtype`: 'int2'…'int16' | 'uint2'…'uint16' | 'float16' (default 'int8'; the number is the bit width);
 * - `quant_scheme`: 'affine' | 'symmetric' | 'pow2' (default: symmetric for intN, affine for uintN);
 * - `granularity`: 'default' (per tensor) | 'out_channel' | 'per_channel' (one scale per output channel, axis -1);
 * - `range_method`: 'minmax' | 'mse' (default: minmax at ≥ 8 bits, mse below 8 bits and for pow2).
 */
export const quantizeConfig = ruleSchema({
  ...quantRuleShape,
  granularity: z.enum(GRANULARITIES).optional().describe("'default' (per tensor) or 'out_channel' / 'per_channel' (one scale per output channel)"),
  range_method: z.enum(['minmax', 'mse']).optional().describe("weight range estimator; default 'minmax' at >= 8 bits, 'mse' below 8 bits and for pow2"),
}).superRefine((r, ctx) => {
  if (r.quantDtype !== undefined && r.quantDtype !== 'float16') {
    const b = bitsOf(r.quantDtype);
    if (b < MIN_BITS || b > MAX_BITS) {
      ctx.addIssue({
        code: 'custom',
        path: ['quant_dtype'],
        message: `bit width ${b} is out of range; quantize supports ${MIN_BITS}–${MAX_BITS} bits (e.g. "int8", "int4", "uint16") or "float16"`,
      });
    }
  }
  if (r.quantDtype === 'float16' && r.quantScheme !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['quant_scheme'], message: `quant_scheme '${r.quantScheme}' cannot be combined with quant_dtype "float16"; remove quant_scheme` });
  }
});
export type QuantizeConfig = z.output<typeof quantizeConfig>;

const bitsSchema = z.number().int().min(MIN_BITS).max(MAX_BITS);

export const quantizeOptions = optionsSchema({
  mode: z.enum(['ptq', 'qat']).default('ptq').describe("'ptq': post-training quantization; 'qat': quantization-aware training with the clipped straight-through estimator"),
  activations: z
    .object({
      bits: bitsSchema.default(8).describe('activation bit width (affine, per tensor)'),
      ema_momentum: z.number().min(0).max(1).default(0.99).describe('EMA momentum of activation ranges during QAT'),
    })
    .strict()
    .transform(camelizeKeys)
    .nullable()
    .default({ bits: 8, emaMomentum: 0.99 })
    .describe('fake-quantize layer inputs/outputs for the weight+activation accuracy; null = weights only'),
  calibration_batches: z.number().int().min(1).max(1000).default(4).describe('batches of the training data used to calibrate activation ranges'),
  batch_size: z.number().int().positive().max(4096).default(64),
  qat_epochs: z.number().int().min(0).max(200).default(3).describe('QAT epochs (mode qat, and the short QAT after mixed precision)'),
  freeze_epochs: z.number().int().min(0).max(200).default(1).describe('final QAT epochs with frozen activation ranges'),
  lr: z.number().positive().max(1).default(1e-4),
  mixed_precision: z
    .object({
      size_budget_ratio: z.number().min(1).max(32).describe('target size reduction vs fp32 (all weights incl. fp32 biases and scales)'),
      candidate_bits: z.array(bitsSchema).min(1).default([8, 6, 4, 3, 2]),
      max_acc_drop: z.number().min(0).max(1).default(0.005).describe('stop lowering when the summed measured accuracy drop would exceed this'),
      criterion: z.enum(['loss', 'kl', 'accuracy']).default('loss').describe('sensitivity measure ranked per bit saved'),
      samples: z.number().int().min(64).max(100_000).default(2000).describe('training examples used to measure sensitivity'),
    })
    .strict()
    .transform(camelizeKeys)
    .nullable()
    .default(null),
});
export type QuantizeOptions = z.output<typeof quantizeOptions>;

/** The resolved quantizer of one layer's kernel. */
export interface QuantSpec {
  scheme: QuantScheme;
  bits: number;
  /** null = per tensor, -1 = per output channel (tfjs last axis). */
  axis: number | null;
  range: 'minmax' | 'mse';
  granularity: 'per_tensor' | 'per_channel';
}

export function specOf(c: Target<QuantizeConfig>['config'], bitsOverride?: number): QuantSpec {
  const dtype = c.quantDtype ?? 'int8';
  if (dtype === 'float16') return { scheme: 'float16', bits: 16, axis: null, range: 'minmax', granularity: 'per_tensor' };
  const bits = bitsOverride ?? bitsOf(dtype);
  const scheme: QuantScheme = c.quantScheme ?? (dtype.startsWith('u') ? 'affine' : 'symmetric');
  const perChannel = c.granularity === 'out_channel' || c.granularity === 'per_channel';
  const range = c.rangeMethod ?? (bits < 8 || scheme === 'pow2' ? 'mse' : 'minmax');
  return { scheme, bits, axis: perChannel ? -1 : null, range, granularity: perChannel ? 'per_channel' : 'per_tensor' };
}
