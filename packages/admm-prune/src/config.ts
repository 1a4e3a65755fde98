import { camelizeKeys, optionsSchema, pruningRuleShape, quantRuleShape, ruleSchema } from '@edge-compress/core';
import { z } from 'zod';
import { AUTO_SPARSITY_CANDIDATES } from './search.js';

export const MIN_BITS = 1;
export const MAX_BITS = 16;

/** Bits per non-zero of an admm `quant_dtype` ('int1'…'int16'), or NaN. */
export const bitsOfDtype = (dtype: string): number => (/^int(\d+)$/.test(dtype) ? Number(dtype.slice(3)) : NaN);

/**
 * One config_list entry (NNI v3 keys, snake_case in JSON):
 * - `sparse_ratio` ∈ [0, 1): fraction of the layer's weights removed. Layers without it get a ratio searched on
 *   the validation split so the untargeted-ratio layers together reach `options.global_sparse_ratio`.
 * - `granularity`: 'default' (unstructured), 'out_channel' / 'per_channel' (whole GEMM rows), 'in_channel'
 *   (whole input channels), [br, bc] blocks over the GEMM view ([b] = [1, b]).
 * - `quant_dtype`: 'int1'…'int16' = bits per non-zero after pruning (levels ±q·{1..2^(bits−1)}, zero is not a
 *   level). Without it the layer is pruned only.
 * - `rho`: this layer's initial ADMM penalty ρ_0 for pruning (default `options.rho`); `quant_rho` for the
 *   quantization ADMM (default `options.quant_rho`). Both > 0.
 */
export const admmConfig = ruleSchema({
  ...pruningRuleShape,
  ...quantRuleShape,
  rho: z.number().positive().max(10).optional().describe('initial ADMM penalty of this layer (pruning phase), > 0'),
  quant_rho: z.number().positive().max(10).optional().describe('ADMM penalty of this layer in the quantization phase, > 0'),
}).superRefine((r, ctx) => {
  if (r.sparseRatio !== undefined && !(r.sparseRatio < 1)) {
    ctx.addIssue({ code: 'custom', path: ['sparse_ratio'], message: `sparse_ratio must be in [0, 1) (1 would remove every weight); got ${r.sparseRatio}` });
  }
  if (r.quantDtype !== undefined) {
    const b = bitsOfDtype(r.quantDtype);
    if (!Number.isInteger(b) || b < MIN_BITS || b > MAX_BITS) {
      ctx.addIssue({
        code: 'custom',
        path: ['quant_dtype'],
        message: `admm quantizes to signed non-zero levels: expected 'int1'…'int16' (bits per non-zero), got ${JSON.stringify(r.quantDtype)}`,
      });
    }
  }
  if (r.quantScheme !== undefined && r.quantScheme !== 'symmetric') {
    ctx.addIssue({
      code: 'custom',
      path: ['quant_scheme'],
      message: `admm uses evenly spaced levels ±q·{1..L} (symmetric, zero not a level); got '${r.quantScheme}'. Remove quant_scheme, or use the quantize method for ${r.quantScheme}`,
    });
  }
});
export type AdmmConfig = z.output<typeof admmConfig>;

export const admmOptions = optionsSchema({
  global_sparse_ratio: z
    .union([z.number().min(0).lt(1), z.literal('auto')])
    .default('auto')
    .describe(
      `target sparsity over the layers without a sparse_ratio (per-layer ratios are searched on the validation split); 'auto' = the largest of ${AUTO_SPARSITY_CANDIDATES.join(', ')} whose probe (magnitude masks at the searched ratios + auto_probe_epochs of masked training, batch-norm statistics re-estimated) keeps validation accuracy within auto_max_drop of the input model's, found by bisection (at most 4 probes)`,
    ),
  auto_max_drop: z.number().min(0).max(1).default(0.01).describe("global_sparse_ratio 'auto': the largest validation-accuracy drop (absolute, e.g. 0.01 = 1 pp) a probe may show"),
  auto_probe_epochs: z.number().int().min(0).max(20).default(1).describe("global_sparse_ratio 'auto': epochs of masked training in each probe"),
  admm_iterations: z
    .number()
    .int()
    .min(0)
    .max(500)
    .default(6)
    .describe('ADMM pruning iterations (W-step, Z-step, U-step); 0 = magnitude projection only (e.g. a quantize-only stage on an already pruned model)'),
  sparsity_ramp: z
    .number()
    .min(0)
    .max(1)
    .default(0.5)
    .describe("progressive ADMM: the Z-projection's sparsity ramps (cubic) to the target over this fraction of the iterations; 0 = the target from the start"),
  epochs_per_iteration: z.number().int().min(1).max(100).default(1).describe('training epochs of each W-step'),
  rho: z.number().positive().max(10).default(1e-2).describe("initial penalty ρ_0 (with mean cross-entropy; with penalty 'decoupled' also the per-step pull ηρ/(1+ηρ))"),
  rho_growth: z.number().min(1).max(10).default(1.5).describe('ρ ← min(rho_max, rho_growth·ρ) after each iteration'),
  rho_max: z.number().positive().max(100).default(0.1),
  retrain_epochs: z.number().int().min(0).max(200).default(4).describe('masked retraining after the hard prune'),
  quant_admm_iterations: z.number().int().min(0).max(200).default(3),
  quant_epochs_per_iteration: z.number().int().min(1).max(100).default(1),
  quant_rho: z.number().positive().max(10).default(1e-2),
  interval_scan: z
    .enum(['paper', 'wide'])
    .default('wide')
    .describe(
      "quantization interval q: least squared error over [0.1a, 1.1a], a = max|w|/L ('wide', default: a few outliers are clamped to ±L·q instead of stretching every level), or over [0.9a, 1.1a] ('paper', ALGORITHMS §1.3)",
    ),
  progressive_rounds: z.number().int().min(0).max(20).default(3).describe('progressive quantized retraining rounds'),
  progressive_fraction: z.number().gt(0).max(1).default(0.3).describe('fraction of still-free weights per level frozen each round'),
  progressive_epochs: z.number().int().min(0).max(100).default(1).describe('retraining epochs after each round'),
  lr: z
    .number()
    .positive()
    .max(1)
    .default(3e-3)
    .describe(
      'Adam learning rate (reset each ADMM iteration; ×0.1 for the last 25% of it); masked and progressive retraining always use Adam. 3e-3 was chosen on the validation split (1e-3 retrains too slowly)',
    ),
  penalty: z
    .enum(['loss', 'decoupled'])
    .default('decoupled')
    .describe(
      "'loss': ρ/2‖W−Z+U‖² is added to the training loss (extraLoss; the papers' form). 'decoupled': the optimizer sees the loss alone and every step then takes the exact proximal step of the penalty, W ← (W + ηρ(Z−U))/(1 + ηρ), which Adam cannot normalise away",
    ),
  penalty_step: z.number().positive().max(100).default(1).describe('η of the decoupled proximal step (the per-step pull is ηρ/(1+ηρ))'),
  admm_optimizer: z
    .enum(['adam', 'sgd'])
    .default('adam')
    .describe("optimizer of the ADMM W-steps; 'sgd' (momentum, as the Caffe reference) keeps the penalty's curvature, which Adam normalizes away"),
  sgd_lr: z.number().positive().max(1).default(0.01).describe("W-step learning rate when admm_optimizer is 'sgd'"),
  momentum: z.number().min(0).lt(1).default(0.9),
  retrain_lr_floor: z.number().gt(0).max(1).default(0.1).describe('masked retraining: cosine decay from lr to lr·retrain_lr_floor'),
  dynamic_mask: z
    .object({
      fraction: z.number().gt(0).max(1).default(0.5).describe('share of the retraining epochs with a moving mask (the rest retrain the final mask)'),
      interval_steps: z.number().int().min(1).max(100_000).default(100).describe('optimizer steps between two mask updates'),
      pruned_decay: z
        .number()
        .min(0)
        .lt(1)
        .default(0.05)
        .describe('after every step the latent values of the pruned entries shrink by this factor, so only a weight whose gradient keeps pushing it comes back'),
      allocation: z
        .enum(['layer', 'global'])
        .default('layer')
        .describe(
          "'layer': each layer keeps its own ratio; 'global': the layers' non-zeros form one budget and each mask update keeps the largest |w| / s_l over all layers (s_l: the mean kept |w| of layer l at the hard projection), each layer keeping at least a quarter of its own count — the per-layer ratios move, the total does not (unstructured layers only)",
        ),
    })
    .strict()
    .transform(camelizeKeys)
    .nullable()
    .default(null)
    .describe(
      "masked retraining with a moving mask first (dynamic network surgery): the forward uses each layer's projection of a dense latent W (per-layer ratio and granularity as the Z-step), the gradient reaches every latent weight (straight-through), and the mask is re-projected every interval_steps, so a weight pruned after ADMM can come back; then the final mask is fixed and retrained. null = the mask of the hard projection is fixed from the start",
    ),
  weight_averaging: z
    .object({
      from: z
        .number()
        .min(0)
        .lt(1)
        .default(0.5)
        .describe('share of the fixed-mask retraining epochs to skip before averaging (0.5: the mean of the weights after each epoch of the second half)'),
    })
    .strict()
    .transform(camelizeKeys)
    .nullable()
    .default(null)
    .describe(
      'stochastic weight averaging (Izmailov et al. 2018) over the fixed-mask retraining: the pruned model is the mean of the weights at the end of its last epochs (same mask, so the mean is as sparse). null = the weights after the last epoch',
    ),
  augment: z
    .object({
      max_shift: z.number().int().min(1).max(8).describe('random translation of the inputs by up to this many pixels'),
      image_shape: z
        .tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()])
        .optional()
        .describe('[h, w, c] view of flat inputs (e.g. [28, 28, 1] for a 784-input MLP); not needed for image inputs'),
    })
    .strict()
    .transform(camelizeKeys)
    .nullable()
    .default(null)
    .describe('random translations in every training phase, as core trainBaseline trains the dense model (image inputs only); null = none'),
  distill: z
    .object({
      weight: z.number().gt(0).max(1).default(0.5).describe('share of the teacher probabilities in the training target: (1 − weight)·one-hot + weight·teacher'),
      temperature: z.number().positive().max(100).default(1).describe('softens the teacher probabilities: softmax(logits / temperature)'),
    })
    .strict()
    .transform(camelizeKeys)
    .nullable()
    .default(null)
    .describe(
      "knowledge distillation from the input model (the dense net before pruning) in every training phase (ADMM W-steps, masked retraining, quantization ADMM, progressive rounds), through core's fit `distill`; null = one-hot labels only",
    ),
  workers: z
    .union([z.number().int().min(1).max(64), z.literal('auto')])
    .nullable()
    .default(null)
    .describe("data-parallel training threads of every fit (core's FitOptions.workers); null = core's default (setDefaultWorkers, else 1)"),
  batch_size: z.number().int().positive().max(4096).default(64),
  weight_decay: z.number().min(0).max(1).default(0),
  val_fraction: z.number().gt(0).lt(0.5).default(0.1).describe('only when the context has no validation split: share of the training data held out (stratified, seeded)'),
  search_samples: z.number().int().min(100).max(100_000).default(1000).describe('validation examples used by the ratio search'),
  hardware_aware: z
    .object({ margin: z.number().min(1).max(10).default(1.2).describe('a conv layer is pruned only at ≥ margin·break-even ratio') })
    .strict()
    .transform(camelizeKeys)
    .nullable()
    .default(null)
    .describe('use the context cost function (hw-cost) for per-layer break-even ratios (ALGORITHMS §1.6)'),
  measure_files: z.boolean().default(true).describe('serialize input and output with core serializeModel (in memory) and report the real bytes of their files'),
});
export type AdmmOptions = z.output<typeof admmOptions>;
