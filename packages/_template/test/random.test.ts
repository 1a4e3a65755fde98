import { countNonZero, toDense } from '@edge-compress/core';
import { runCompressorContract, toyFixture } from '@edge-compress/core/testing';
import { randomPrune } from '../src/index.js';

runCompressorContract(randomPrune, async () => ({
  ...(await toyFixture(
    [{ op_types: ['conv2d', 'dense'], sparse_ratio: 0.6 }],
    (model, plan) => {
      const w = plan.targets.map((t) => toDense(model.weights[t.weight]!));
      const total = w.reduce((a, v) => a + v.length, 0);
      const zero = w.reduce((a, v) => a + v.length - countNonZero(v), 0);
      return { achieved: zero / total, target: 0.6, tolerance: plan.targets.length / total };
    },
    { finetune_epochs: 1 },
  )),
  badConfigs: [{ configList: [{ op_types: ['dense'] }], code: 'RECIPE_INVALID', message: /no sparse_ratio/ }],
}));
