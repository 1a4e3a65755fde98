import { type Encoding, type Model, type Plan, summarize } from '@edge-compress/core';
import { runCompressorContract, toyFixture } from '@edge-compress/core/testing';
import { quantize, specOf, type QuantizeConfig } from '../src/index.js';

/** Share of targets whose stored codes have the planned bit width (must be 1). */
const bitsCheck = (m: Model, plan: Plan) => {
  const ok = plan.targets.filter((t) => {
    const want = specOf(t.config as QuantizeConfig).bits;
    const e: Encoding = m.weights[t.weight]!;
    return summarize(e).bits === want;
  }).length;
  return { achieved: ok / plan.targets.length, target: 1, tolerance: 0 };
};

// PTQ of every weighted layer, per output channel.
runCompressorContract(quantize, async () => ({
  ...(await toyFixture([{ op_types: ['conv2d', 'dense'], quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' }], bitsCheck, { mode: 'ptq' })),
  badConfigs: [
    { configList: [{ op_types: ['dense'], quant_dtype: 'int1' }], code: 'RECIPE_INVALID', message: /bit width 1/ },
    { configList: [{ op_types: ['dense'], sparse_ratio: 0.5 }], code: 'RECIPE_INVALID', message: /sparse_ratio/ },
    { configList: [{ op_types: ['dense'], granularity: [4, 4] }], code: 'RECIPE_INVALID', message: /granularity/ },
  ],
}));

// QAT (a few seeded steps) of two layers, mixed schemes: fc2 is untargeted and must stay bit-identical.
runCompressorContract(quantize, () =>
  toyFixture(
    [
      { op_names: ['conv1', 'fc1'], quant_dtype: 'int4', granularity: 'out_channel' },
      { op_names: ['conv1'], quant_dtype: 'uint8', quant_scheme: 'affine', granularity: 'default' },
    ],
    bitsCheck,
    { mode: 'qat', qat_epochs: 1, batch_size: 64, activations: { bits: 8 } },
  ),
);
