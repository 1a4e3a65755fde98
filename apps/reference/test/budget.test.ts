import { describe, expect, it } from 'vitest';
import { lenet5, planRecipe } from '@edge-compress/core';
import { fullen, loadRecipes, quicken } from '../src/pipeline.js';
import { registry } from '../src/methods.js';

type Stage = { method: string; options: Record<string, unknown> };
const stage = (recipe: Record<string, unknown>, i = 0) => (recipe.stages as Stage[])[i]!;

describe('pipeline budgets: --quick and --full rewrite every loop count, also the method defaults a recipe relies on', () => {
  it('admm-prune: --quick caps each count at 1, --full triples iterations and epochs but not epochs per iteration', async () => {
    const r = (await loadRecipes()).find((x) => x.id === 'admm-prune')!.recipe;
    const q = stage(quicken(r)).options;
    expect([q.admm_iterations, q.epochs_per_iteration, q.retrain_epochs]).toEqual([1, 1, 1]);
    const f = stage(fullen(r)).options;
    expect([f.admm_iterations, f.epochs_per_iteration, f.retrain_epochs]).toEqual([12, 2, 30]);
    // Other options pass through unchanged.
    expect([f.rho, f.lr, f.weight_decay]).toEqual([0.003, 0.01, 0.0003]);
  });

  it('svd-train: the defaults it does not list (decomposed_epochs = 2) are rewritten too', async () => {
    const r = (await loadRecipes()).find((x) => x.id === 'svd-train')!.recipe;
    expect(stage(r).options.decomposed_epochs).toBeUndefined();
    expect(stage(quicken(r)).options.decomposed_epochs).toBe(1);
    expect(stage(fullen(r)).options.decomposed_epochs).toBe(6);
    expect([stage(fullen(r)).options.sparsity_epochs, stage(fullen(r)).options.finetune_epochs]).toEqual([9, 9]);
  });

  it('every shipped recipe stays valid under both budgets', async () => {
    for (const { file, recipe } of await loadRecipes()) {
      expect(() => planRecipe(lenet5(), quicken(recipe), registry, file)).not.toThrow();
      expect(() => planRecipe(lenet5(), fullen(recipe), registry, file)).not.toThrow();
    }
  });
});
