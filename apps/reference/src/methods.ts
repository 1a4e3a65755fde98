import { createRegistry, magnitudePrune } from '@edge-compress/core';
import { admmPrune } from '@edge-compress/admm-prune';
import { bcrPrune } from '@edge-compress/bcr-prune';
import { quantize } from '@edge-compress/quantize';
import { smartDeal } from '@edge-compress/smartdeal-decompose';
import { svdTrain } from '@edge-compress/svd-train';

/**
 * THE list of compression methods the app knows. Adding a method = one import and one entry here (plus the
 * dependency in package.json and a recipe in recipes/). Nothing registers itself on import: createRegistry also
 * installs each method's encoding kinds and layer kernels.
 */
export const registry = createRegistry([magnitudePrune, quantize, admmPrune, bcrPrune, svdTrain, smartDeal]);

/** The device whose hw-cost model prices encodings for methods (e.g. ADMM's hardware-aware break-even ratios). */
export const COST_DEVICE = 'mobile-cpu';
