import { CompressionError } from '../errors.js';
import { globalTopkMasks } from '../tensor/prune.js';
import { definePruner } from './pruner.js';

/**
 * Reference compressor: magnitude pruning with NNI's semantics — each layer keeps its largest |w| to reach its own
 * `sparse_ratio`; the layers of rules sharing a `global_group_id` are pruned together with one threshold to the
 * group's ratio — then masked fine-tuning. Works over fp32 or quantized values (masks over the codes) and over an
 * earlier mask (the masks intersect). The smallest complete method: copy it to start a pruner.
 */
export const magnitudePrune = definePruner({
  name: 'magnitude',
  description: 'magnitude pruning (per layer, or global within a global_group_id) with masked fine-tuning (reference method)',
  masks(values, targets) {
    const groups = new Map<string, { ratio: number; names: string[] }>();
    for (const t of targets) {
      const id = (t.config as { globalGroupId?: number | string }).globalGroupId;
      const key = id === undefined ? `layer:${t.weight}` : `group:${typeof id}:${String(id)}`;
      const g = groups.get(key);
      if (!g) groups.set(key, { ratio: t.config.sparseRatio!, names: [t.weight] });
      else if (g.ratio !== t.config.sparseRatio) {
        throw new CompressionError({
          code: 'RECIPE_INVALID',
          path: 'config_list',
          message: `global_group_id ${JSON.stringify(id)} joins layers with different sparse_ratio (${g.ratio} and ${t.config.sparseRatio}, '${t.weight}')`,
          hint: 'give every rule of a global group the same sparse_ratio (the group is pruned to it with one threshold)',
        });
      } else g.names.push(t.weight);
    }
    const masks = new Map<string, Uint8Array>();
    for (const { ratio, names } of groups.values()) {
      const ms = globalTopkMasks(
        names.map((n) => values.get(n)!),
        ratio,
      );
      names.forEach((n, i) => masks.set(n, ms[i]!));
    }
    return masks;
  },
});
