import { z } from 'zod';
import { optionsSchema, pruningRuleShape, ruleSchema } from '@edge-compress/core';

/**
 * One config_list entry of the `bcr` method: NNI keys plus
 * - `granularity: [rows, cols]` — the block over the GEMM view (rows = out channels); default [16, 64] clipped to the layer;
 * - `pattern` — 'bcr' (whole rows and columns inside each block, default), 'block' (whole blocks, "Mobile or FPGA?"),
 *   'nm' (N:M along the fan-in, with `nm: [n, m]`);
 * - `row_ratio` / `col_ratio` — γ_r / γ_c, the fraction of each block's rows / columns removed (instead of sparse_ratio).
 * Without sparse_ratio (and without row/col ratios) the layer's ratio is chosen on validation data.
 */
export const bcrConfig = ruleSchema({
  ...pruningRuleShape,
  pattern: z.enum(['bcr', 'block', 'nm']).optional().describe("'bcr' (default), 'block' (whole blocks) or 'nm' (N:M)"),
  row_ratio: z.number().optional().describe('γ_r: fraction of each block’s rows removed, in [0, 1)'),
  col_ratio: z.number().optional().describe('γ_c: fraction of each block’s columns removed, in [0, 1)'),
  nm: z.array(z.number()).length(2).optional().describe('[n, m]: keep n of every m consecutive fan-in weights (pattern nm)'),
});
export type BcrConfig = z.output<typeof bcrConfig>;

export const bcrOptions = optionsSchema({
  schedule: z
    .enum(['gradual', 'admm', 'lasso'])
    .default('gradual')
    .describe(
      "'gradual': rates rise on a cubic schedule, the structured mask re-projected 4× per epoch (AGP); 'admm': ADMM-style training towards the set, then one hard projection; 'lasso': reweighted group lasso over every block's rows and columns (ALGORITHMS §2.2 (a)), then one hard projection",
    ),
  prune_epochs: z.number().int().min(0).max(100).default(3).describe('epochs of the gradual schedule (the last quarter at the final rates)'),
  admm_epochs: z.number().int().min(0).max(100).default(2).describe('epochs of ADMM-style training towards the BCR set before the hard prune (schedule admm)'),
  lasso_epochs: z.number().int().min(0).max(100).default(4).describe('epochs of reweighted group-lasso training before the hard prune (schedule lasso)'),
  lasso_strength: z
    .number()
    .min(0)
    .max(10)
    .default(0.1)
    .describe('group lasso: the penalty starts at this fraction of the initial training cross-entropy (λ = s·CE₀ / #groups, weights P = 1/(‖W_g‖² + ε) re-set every epoch)'),
  rho: z.number().positive().max(10).default(3e-3).describe('ADMM penalty ρ'),
  finetune_epochs: z.number().int().min(0).max(200).default(4).describe('masked retraining epochs after the prune'),
  lr: z.number().positive().max(1).default(1e-3),
  max_shift: z
    .number()
    .int()
    .min(0)
    .max(8)
    .default(0)
    .describe('random translation of image inputs by up to this many pixels while pruning and retraining (core baselines train with 2); 0 = none'),
  batch_size: z.number().int().positive().default(64),
  auto_tolerance: z
    .number()
    .min(0)
    .max(1)
    .default(0.05)
    .describe('automatic ratios: the smallest candidate always, larger ones while the one-shot validation accuracy drop (before retraining) stays within this'),
  auto_candidates: z.array(z.number().min(0).lt(1)).min(1).default([0.5, 0.75, 0.85, 0.9, 0.95]),
  min_weights: z.number().int().min(0).default(1000).describe('automatic ratios leave layers with fewer weights dense'),
});
export type BcrOptions = z.output<typeof bcrOptions>;

export const DEFAULT_BLOCK: [number, number] = [16, 64];
