import { CompressionError, type ModelIR, optionsSchema, ruleSchema, type Target } from '@edge-compress/core';
import { z } from 'zod';
import { blockGeometry, smartDealLayout } from './geometry.js';
import { assertExpRange, type ExpRange } from './pow2.js';

export const DEFAULT_EXPONENT_RANGE: [number, number] = [-6, 0];
export const DEFAULT_THRESHOLD = 0.05;

/**
 * One config_list entry (snake_case in JSON):
 * - `basis_size` k: rows of each basis B [k, q] (1 ≤ k ≤ q, the block width: k_w for k×k convs, 3 for dense); default q;
 * - `exponent_range` [min, max]: coefficients are 0 or ±2^e with min ≤ e ≤ max (default [-6, 0]: 7 levels,
 *   3 exponent bits + sign; the basis carries the scale);
 * - `sparse_ratio` ∈ [0, 1): structural sparsity, the fraction of coefficient rows (conv: (c_in, kernel row)
 *   positions) removed per group of filters (default 0);
 * - `threshold` τ ∈ [0, 1): coefficients below τ·2^max become 0 during SED (default 0.05);
 * - `group_size`: filters sharing one structural row mask (default 10 for convs, 1 for dense).
 */
export const smartDealConfig = ruleSchema({
  sparse_ratio: z.number().optional().describe('structural sparsity in [0, 1): fraction of coefficient rows removed per group of filters; default 0'),
  basis_size: z.number().int().optional().describe('basis rows k per block, 1 ≤ k ≤ block width q; default q'),
  exponent_range: z.tuple([z.number().int(), z.number().int()]).optional().describe('coefficient exponents [min, max]; default [-6, 0]'),
  threshold: z.number().min(0).lt(1).optional().describe('SED zeroes coefficients below threshold·2^max; default 0.05'),
  group_size: z.number().int().min(1).optional().describe('filters sharing one structural row mask; default 10 (conv) / 1 (dense)'),
});
export type SmartDealConfig = z.output<typeof smartDealConfig>;

export const smartDealOptions = optionsSchema({
  sed_iters: z.number().int().min(1).max(500).default(30).describe('SED iterations per block'),
  sed_coding: z
    .enum(['threshold', 'search'])
    .default('threshold')
    .describe(
      "how SED picks Ce given B: 'threshold' (SmartDeal: least squares, zero below τ, nearest power of two) or 'search' (then coordinate descent over the power-of-two levels with an L0 penalty τ²·mean‖B_m‖²)",
    ),
  sd_epochs: z.number().int().min(0).max(200).default(4).describe('SmartDeal training epochs (B and C, STE power-of-two projection, mask fixed)'),
  finetune_epochs: z.number().int().min(0).max(200).default(2).describe('final epochs training the basis (and biases) with C frozen'),
  lr: z.number().positive().max(1).default(1e-3).describe('Adam learning rate of SmartDeal training (cosine decay)'),
  finetune_lr: z.number().positive().max(1).default(3e-4),
  batch_size: z.number().int().positive().max(4096).default(64),
  coeff_lr_scale: z
    .number()
    .positive()
    .max(1024)
    .default(8)
    .describe('the coefficients move about coeff_lr_scale × lr per Adam step (trained as C / scale; a power of two keeps the frozen C exact)'),
  max_shift: z.number().int().min(0).max(8).default(0).describe('random translation (pixels) of image inputs during training, as the baselines are trained (rank-3 inputs only)'),
  quant_each_step: z.boolean().default(false).describe('also project the latent C onto powers of two after every optimizer step'),
  basis_bits: z
    .number()
    .int()
    .min(2)
    .max(16)
    .nullable()
    .default(null)
    .describe('quantize the basis to this many bits (symmetric, per layer) during fine-tuning; null = fp32 (a later quantize stage may do it)'),
});
export type SmartDealOptions = z.output<typeof smartDealOptions>;

/** Everything the algorithm needs for one target, resolved from its rule (pure). */
export interface ResolvedTarget {
  layer: string;
  weight: string;
  shape: number[];
  k: number;
  range: ExpRange;
  tau: number;
  sparseRatio: number;
  groupSize: number;
}

export function resolveTarget(t: Target<SmartDealConfig>): ResolvedTarget {
  const layout = smartDealLayout(t.shape);
  const c = t.config;
  const [minExp, maxExp] = c.exponentRange ?? DEFAULT_EXPONENT_RANGE;
  return {
    layer: t.layer,
    weight: t.weight,
    shape: t.shape,
    k: c.basisSize ?? layout.q,
    range: { minExp, maxExp },
    tau: c.threshold ?? DEFAULT_THRESHOLD,
    sparseRatio: c.sparseRatio ?? 0,
    groupSize: c.groupSize ?? (t.kind === 'conv2d' ? 10 : 1),
  };
}

/** Plan-time checks of one target: typed RECIPE_INVALID errors naming the layer, the key, expected and got. */
export function checkSmartDealTarget(t: Target<SmartDealConfig>, _ir: ModelIR, path: string): void {
  const fail = (key: string, message: string, hint: string): never => {
    throw new CompressionError({ code: 'RECIPE_INVALID', method: 'smartdeal', layer: t.layer, path: `${path}.${key}`, message: `${path}: ${key}: ${message}`, hint });
  };
  const c = t.config;
  const layout = smartDealLayout(t.shape);
  const g = blockGeometry(t.shape, layout);
  if (c.basisSize !== undefined && (c.basisSize < 1 || c.basisSize > g.q)) {
    fail(
      'basis_size',
      `basis size ${c.basisSize} is ${c.basisSize < 1 ? 'below 1' : `larger than the layer's block width`}: layer '${t.layer}' (shape [${t.shape.join(',')}]) is cut into [${g.p}×${g.q}] blocks, so the basis size must be an integer in [1, ${g.q}]`,
      `use "basis_size": ${g.q} (the default) or smaller`,
    );
  }
  if (c.exponentRange) {
    const [minExp, maxExp] = c.exponentRange;
    try {
      assertExpRange({ minExp, maxExp }, 'exponent_range');
    } catch {
      fail('exponent_range', `the exponent range [${minExp}, ${maxExp}] is empty (min > max); expected [min, max] with min ≤ max`, 'use e.g. [-6, 0]');
    }
    if (maxExp - minExp + 1 > 2 ** 15 - 1)
      fail(
        'exponent_range',
        `[${minExp}, ${maxExp}] has ${maxExp - minExp + 1} levels; at most 32767 fit a 16-bit code`,
        'use a range of at most a few dozen exponents, e.g. [-6, 0]',
      );
  }
  if (c.sparseRatio !== undefined && !(c.sparseRatio >= 0 && c.sparseRatio < 1)) {
    fail('sparse_ratio', `sparsity ${c.sparseRatio} is outside [0, 1): removing every coefficient row leaves no weight`, 'use e.g. 0.5');
  }
}
