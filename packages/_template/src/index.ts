/**
 * A complete compression method in a few lines: a seeded random pruner (a baseline for "is magnitude better than
 * chance?"). Copy this package to start your own; see packages/core/README.md, "Adding a compression method".
 */
import { createRng, definePruner } from '@edge-compress/core';

export const randomPrune = definePruner({
  name: 'random',
  description: 'prunes a seeded random subset of each targeted weight (a baseline for other pruners)',
  masks(values, targets, { ctx, prior }) {
    const rng = createRng(ctx.seed);
    return new Map(
      targets.map((t) => {
        const n = values.get(t.weight)!.length;
        // sparse_ratio is the final sparsity: entries an earlier stage pruned count, the rest are drawn at random.
        const mask = prior.get(t.weight)?.slice() ?? new Uint8Array(n).fill(1);
        const alive = rng.shuffle(Array.from({ length: n }, (_, i) => i).filter((i) => mask[i]));
        const more = Math.max(0, Math.floor(t.config.sparseRatio! * n) - (n - alive.length));
        for (const i of alive.slice(0, more)) mask[i] = 0;
        return [t.weight, mask];
      }),
    );
  },
});
