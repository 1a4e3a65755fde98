import { globalTopkMasks } from '../tensor/prune.js';
import { definePruner } from './pruner.js';

/**
 * Reference compressor: global magnitude pruning (targets that share a sparse_ratio are pruned with one
 * threshold) and masked fine-tuning. Works over fp32 or quantized values (masks over the codes) and over an
 * earlier mask (the masks intersect). The smallest complete method: copy it to start a pruner.
 */
export const magnitudePrune = definePruner({
  name: 'magnitude',
  description: 'global magnitude pruning with masked fine-tuning (reference method)',
  masks(values, targets) {
    const groups = new Map<number, string[]>();
    for (const t of targets) groups.set(t.config.sparseRatio!, [...(groups.get(t.config.sparseRatio!) ?? []), t.weight]);
    const masks = new Map<string, Uint8Array>();
    for (const [ratio, names] of groups) {
      const ms = globalTopkMasks(
        names.map((n) => values.get(n)!),
        ratio,
      );
      names.forEach((n, i) => masks.set(n, ms[i]!));
    }
    return masks;
  },
});
