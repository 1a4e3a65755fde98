import * as tf from '@tensorflow/tfjs-core';
import { denseEncoding, lenet5, type Model } from '@edge-compress/core';
import { describe, expect, it } from 'vitest';
import { quantize } from '../src/index.js';
import { expectCode, trainedToy } from './helpers.js';

const ir = lenet5();
const plan = (configList: unknown[], options?: unknown) => () => quantize.plan(ir, configList, options);
const ALL = { op_types: ['conv2d', 'dense'] };

describe('bad input gives typed errors with a JSON path and the fix', () => {
  it('bit width out of range: 1 and 17 bits, in rules, legacy keys and options', async () => {
    await expectCode(
      plan([{ ...ALL, quant_dtype: 'int1' }]),
      'RECIPE_INVALID',
      /quantize\.config_list\[0\]\.quant_dtype: bit width 1 is out of range; quantize supports 2–16 bits.*\(got "int1"\)/,
    );
    await expectCode(plan([ALL, { op_names: ['fc1'], quant_dtype: 'uint17' }]), 'RECIPE_INVALID', /config_list\[1\]\.quant_dtype: expected 'int2'…'int16'.*\(got "uint17"\)/);
    await expectCode(plan([{ ...ALL, quant_bits: 17 }]), 'RECIPE_INVALID', /config_list\[0\]\.quant_dtype: .*got "int17"/);
    const e = await expectCode(plan([ALL], { activations: { bits: 1 } }), 'RECIPE_INVALID', /quantize\.options\.activations\.bits: Too small.*>=2/);
    expect((e as { path?: string }).path).toMatch(/options\.activations\.bits/);
    await expectCode(
      plan([ALL], { mixed_precision: { size_budget_ratio: 8, candidate_bits: [8, 17] } }),
      'RECIPE_INVALID',
      /options\.mixed_precision\.candidate_bits\[1\]: Too big/,
    );
  });

  it('unknown layer names and types: TARGET_NOT_FOUND with did-you-mean', async () => {
    await expectCode(
      plan([{ op_names: ['fc3'], quant_dtype: 'int8' }]),
      'TARGET_NOT_FOUND',
      /config_list\[0\]\.op_names\[0\]: layer 'fc3' matches nothing in model 'lenet5'.*did you mean 'fc1' or 'fc2'/,
    );
    await expectCode(plan([{ op_types: ['Conv3d'] }]), 'TARGET_NOT_FOUND', /op type 'Conv3d'.*did you mean/);
  });

  it('unsupported settings and unknown keys', async () => {
    await expectCode(plan([{ ...ALL, granularity: [4, 4] }]), 'RECIPE_INVALID', /config_list\[0\]\.granularity: .*expected one of "default".*"out_channel".*\(got \[4,4\]\)/);
    await expectCode(
      plan([{ ...ALL, quant_dtype: 'float16', quant_scheme: 'pow2' }]),
      'RECIPE_INVALID',
      /config_list\[0\]\.quant_scheme: quant_scheme 'pow2' cannot be combined with quant_dtype "float16"/,
    );
    await expectCode(plan([{ ...ALL, sparse_ratio: 0.5 }]), 'RECIPE_INVALID', /sparse_ratio.*pruning key/);
    await expectCode(plan([{ ...ALL, quant_dtyp: 'int8' }]), 'RECIPE_INVALID', /config_list\[0\].*quant_dtyp.*did you mean 'quant_dtype'/);
    await expectCode(plan([ALL], { mode: 'qta' }), 'RECIPE_INVALID', /options\.mode/);
  });

  it('a layer with NaN weights: BAD_MODEL_FILE naming the weight, no tensors leaked', async () => {
    const { model, ctx } = await trainedToy();
    const bad: Model = {
      ir: model.ir,
      weights: {
        ...model.weights,
        'fc1/kernel': denseEncoding(
          [64, 16],
          Float32Array.from({ length: 1024 }, (_, i) => (i === 9 ? NaN : 0)),
        ),
      },
    };
    const before = tf.memory().numTensors;
    await expectCode(() => quantize.compress(bad, ctx, quantize.plan(bad.ir, [ALL])), 'BAD_MODEL_FILE', /fc1\/kernel' has a non-finite value \(NaN\) at flat index 9/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
