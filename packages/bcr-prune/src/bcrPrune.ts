import { defineCompressor } from '@edge-compress/core';
import { bcrConfig, bcrOptions, type BcrConfig, type BcrOptions } from './config.js';
import { compressBcr } from './compress.js';
import { checkBcrTarget } from './plan.js';
import { bcrKernel } from './kernel.js';

/** The `bcr` compressor: block column-row pruning (GRIM), whole-block pruning or N:M, with masked retraining. */
export const bcrPrune = defineCompressor<BcrConfig, BcrOptions>({
  name: 'bcr',
  description: 'block-based column-row (BCR) pruning with ADMM-style projection and masked retraining; whole-block and N:M patterns',
  // An earlier mask is kept (intersected); quantize after bcr rather than before (the codes would not survive retraining).
  accepts: ['dense', 'masked'],
  produces: (_input, t) => ((t.config as { pattern?: string }).pattern === 'nm' ? 'nm' : 'blockSparse'),
  kernels: [bcrKernel],
  config: bcrConfig,
  options: bcrOptions,
  checkTarget: checkBcrTarget,
  async compress(model, ctx, plan) {
    const { model: out, report } = await compressBcr(model, ctx, plan);
    return { model: out, report };
  },
});
