import { optionsSchema, ruleSchema } from '@edge-compress/core';
import { z } from 'zod';
import { SPARSITY_KINDS } from './regularizers.js';

/**
 * One config_list entry of the `svd` method: NNI selection keys plus the method's own. Every setting is
 * optional so that later rules override earlier ones key by key; defaults are in DEFAULTS.
 */
export const svdConfig = ruleSchema({
  conv_form: z.enum(['channel', 'spatial']).optional().describe("conv factorisation: 'channel' (k×k conv to r channels, then 1×1) or 'spatial' (k×1 then 1×k)"),
  rank: z.number().int('rank must be an integer').min(1, 'rank must be ≥ 1').optional().describe('fixed rank kept for these layers (instead of the energy threshold)'),
  energy_threshold: z
    .number()
    .gt(0, 'energy_threshold must be in (0, 1] (fraction of Σs² that may be pruned)')
    .max(1, 'energy_threshold must be in (0, 1] (fraction of Σs² that may be pruned)')
    .optional(),
  ortho_weight: z.number().min(0, 'ortho_weight must be ≥ 0 (0 turns the orthogonality regulariser off)').optional(),
  sparsity_weight: z.number().min(0, 'sparsity_weight must be ≥ 0 (0 turns the sparsity regulariser off)').optional(),
  sparsity_regularizer: z.enum(SPARSITY_KINDS).optional().describe("regulariser on the singular values: 'l1', 'hoyer' or 'hoyer_square'"),
});
export type SvdConfig = z.output<typeof svdConfig>;

export const DEFAULTS = { convForm: 'channel', energyThreshold: 0.02, orthoWeight: 1, sparsityWeight: 0.05, sparsity: 'hoyer' } as const;

export const svdOptions = optionsSchema({
  mode: z.enum(['train', 'truncated']).default('train').describe("'train' = SVD training; 'truncated' = the post-hoc truncated-SVD baseline (no regularisers)"),
  decomposed_epochs: z.number().int().min(0).max(500).default(2).describe('stage 1: factors trained with the orthogonality term only'),
  sparsity_epochs: z.number().int().min(0).max(500).default(4).describe('stage 2: orthogonality + sparsity on s'),
  finetune_epochs: z.number().int().min(0).max(500).default(2).describe('after singular-value pruning'),
  resvd: z
    .boolean()
    .default(false)
    .describe('re-factorise each trained U·diag(|s|)·Vᵀ by an exact SVD before singular-value pruning (the trained factors are only approximately orthogonal)'),
  finetune_ortho: z.boolean().default(true).describe('SVD training keeps the orthogonality term while fine-tuning (as the paper); false = plain fine-tuning'),
  lr: z.number().positive().max(1).default(1e-3),
  finetune_lr: z.number().positive().max(1).optional(),
  finetune_s_lr_mult: z
    .number()
    .positive()
    .max(1000)
    .optional()
    .describe('s_lr_mult of the fine-tuning after pruning (default: s_lr_mult); with Adam the singular values move by about mult·lr per step'),
  batch_size: z.number().int().positive().default(64),
  ortho_every: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(8)
    .describe('apply the orthogonality term every k-th step with weight k·ortho_weight (same expected gradient, k× fewer Gram matrices)'),
  flops_reduction: z
    .number()
    .min(1, 'flops_reduction must be ≥ 1 (model MACs before / after)')
    .optional()
    .describe('choose one energy threshold for all layers so that model MACs drop by this factor'),
  allocation: z
    .enum(['greedy', 'uniform'])
    .default('greedy')
    .describe("with a flops/params target: 'greedy' drops the component with the least energy share per unit of cost; 'uniform' finds one common energy threshold"),
  s_lr_mult: z
    .number()
    .positive()
    .max(1000)
    .default(50)
    .describe('the singular values train with this multiple of the learning rate (reparameterisation s = mult·ŝ), so sparsity acts within a few epochs'),
  gradual_steps: z
    .number()
    .int('gradual_steps must be an integer')
    .min(0, 'gradual_steps must be ≥ 0 (0 = one-shot singular-value pruning after the sparsity phase, as the paper)')
    .max(10000, 'gradual_steps must be ≤ 10000')
    .default(0)
    .describe(
      'gradual singular-value pruning: this many pruning events spread evenly over the sparsity phase, the FLOP / parameter target (or energy threshold) tightened on a cubic schedule; pruned singular values are held at 0',
    ),
  sparsity_ramp: z
    .number()
    .min(0, 'sparsity_ramp must be in [0, 1] (fraction of the sparsity epochs over which λ_s ramps up from 0)')
    .max(1, 'sparsity_ramp must be in [0, 1] (fraction of the sparsity epochs over which λ_s ramps up from 0)')
    .default(0)
    .describe('λ_s grows linearly from 0 to its value over this fraction of the sparsity epochs (0 = constant)'),
  distill_weight: z
    .number()
    .min(0, 'distill_weight must be in [0, 1] (share of the teacher targets in the training targets)')
    .max(1, 'distill_weight must be in [0, 1] (share of the teacher targets in the training targets)')
    .default(0)
    .describe('knowledge distillation from the model being compressed (the dense network) in every phase: targets = (1 − w)·one-hot + w·teacher probabilities'),
  distill_temperature: z.number().positive('distill_temperature must be > 0 (softmax temperature of the teacher targets)').max(100, 'distill_temperature must be ≤ 100').default(1),
  params_reduction: z.number().min(1, 'params_reduction must be ≥ 1 (parameters before / after)').optional(),
  augment: z
    .object({ max_shift: z.number().int().min(0).max(8), image_shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]).optional() })
    .strict()
    .optional(),
});
export type SvdOptions = z.output<typeof svdOptions>;
