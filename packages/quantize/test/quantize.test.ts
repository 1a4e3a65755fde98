import * as tf from '@tensorflow/tfjs-core';
import {
  conv2dLayer,
  createRegistry,
  denseEncoding,
  evaluateModel,
  initModel,
  type LowRankEncoding,
  maskedEncoding,
  maskIndexBits,
  type MaskedEncoding,
  type Model,
  type ModelIR,
  type QuantizedEncoding,
  runRecipe,
  storageBits,
  toDense,
  topkMask,
  Trainer,
} from '@edge-compress/core';
import { describe, expect, it } from 'vitest';
import { quantize, quantizeEncoding, specOf, type QuantizeReport } from '../src/index.js';
import { trainedToy } from './helpers.js';

const ALL = { op_types: ['conv2d', 'dense'] };

async function run(model: Model, configList: unknown[], options: unknown) {
  const { ctx } = await trainedToy();
  const plan = quantize.plan(model.ir, configList, options);
  const r = await quantize.compress(model, ctx, plan);
  return { model: r.model, report: r.report as QuantizeReport };
}

describe('post-training quantization', () => {
  it('int8 per-channel keeps accuracy, quantizes kernels only and reports weight-only and weight+activation accuracy', async () => {
    const { model } = await trainedToy();
    const before = tf.memory().numTensors;
    const { model: q, report } = await run(model, [{ ...ALL, quant_dtype: 'int8', granularity: 'out_channel' }], { mode: 'ptq', activations: { bits: 8 } });
    expect(tf.memory().numTensors).toBe(before);
    const m = report.metrics;
    expect(m.valAccuracyBefore).toBeGreaterThan(0.9);
    expect(m.valAccuracyWeightOnly).toBeGreaterThanOrEqual(m.valAccuracyBefore! - 0.01);
    expect(m.valAccuracyWeightAct).toBeGreaterThanOrEqual(m.valAccuracyBefore! - 0.02);
    for (const l of ['conv1', 'fc1', 'fc2']) {
      const k = q.weights[`${l}/kernel`] as QuantizedEncoding;
      expect(k.kind).toBe('quantized');
      expect([k.bits, k.scheme, k.axis, k.scales.length]).toEqual([8, 'symmetric', -1, k.shape[k.shape.length - 1]]);
      expect(q.weights[`${l}/bias`]!.kind).toBe('dense');
    }
    const row = report.layers.find((r) => r.layer === 'fc1')!;
    expect(row).toMatchObject({ bits: 8, scheme: 'symmetric', granularity: 'per_channel', storageBits: storageBits(q.weights['fc1/kernel']!) });
    expect(String(row.stockExport)).toMatch(/no stock tfjs form.*per-channel/);
    // Activation ranges: model input + every layer output; relu outputs start at 0.
    expect(report.activations!.map((a) => a.tensor)).toEqual(['conv1:input', 'conv1:output', 'fc1:output', 'fc2:output']);
    expect(report.activations!.find((a) => a.tensor === 'fc1:output')!.min).toBe(0);
    expect(m.sizeRatioWeights).toBeGreaterThan(3.5);
    expect(evaluateModel(q, (await trainedToy()).ctx.val).accuracy).toBe(m.valAccuracyWeightOnly);
  });

  it('per-tensor affine, pow2 and float16 schemes; later rules override earlier ones', async () => {
    const { model } = await trainedToy();
    const { model: q, report } = await run(
      model,
      [
        { ...ALL, quant_dtype: 'uint8', quant_scheme: 'affine' },
        { op_names: ['fc1'], quant_dtype: 'int4', quant_scheme: 'pow2' },
        { op_names: ['fc2'], quant_dtype: 'float16' },
      ],
      { activations: null },
    );
    const [c, f1, f2] = ['conv1', 'fc1', 'fc2'].map((l) => q.weights[`${l}/kernel`] as QuantizedEncoding);
    expect([c!.scheme, c!.bits, c!.axis]).toEqual(['affine', 8, null]);
    expect([f1!.scheme, f1!.bits]).toEqual(['pow2', 4]);
    expect([f2!.scheme, f2!.bits]).toEqual(['float16', 16]);
    // pow2 levels are ±S·2^-k or 0
    const s = f1!.scales[0]!;
    for (const v of toDense(f1!)) if (v !== 0) expect(Math.log2(Math.abs(v) / s) % 1).toBeCloseTo(0, 6);
    expect(report.metrics.valAccuracyWeightAct).toBeUndefined();
    expect(report.activations).toBeNull();
    expect(report.metrics.valAccuracyWeightOnly).toBeGreaterThan(report.metrics.valAccuracyBefore! - 0.05);
  });
});

describe('graphs', () => {
  it('a residual and forked model: activations are quantized where a layer reads off the grid (the model input, a fork, a join); int8 keeps accuracy', async () => {
    const { ctx } = await trainedToy();
    const ir: ModelIR = {
      format: 'edge-compress/ir',
      version: 1,
      name: 'graph',
      inputShape: [8, 8, 1],
      layers: [
        conv2dLayer('a', 4),
        conv2dLayer('b', 4, { activation: 'linear' }),
        conv2dLayer('side', 4, { inputs: ['@input'] }),
        { kind: 'add', name: 'skip', inputs: ['b', 'side'] },
        { kind: 'maxPool2d', name: 'pool', poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
        { kind: 'flatten', name: 'flat' },
        { kind: 'dense', name: 'out', units: 4, activation: 'softmax', useBias: true },
      ],
    };
    const t = new Trainer(initModel(ir, 4));
    await t.fit(ctx.train, { epochs: 5, batchSize: 32, seed: 1, optimizer: { kind: 'adam', lr: 1e-2 } });
    const model = t.toModel();
    t.dispose();
    const { report } = await run(model, [{ ...ALL, quant_dtype: 'int8' }], { mode: 'ptq', activations: { bits: 8 } });
    // 'b' reads 'a' (on a's grid); 'side' reads the model input, 'out' reads the join: both quantize their input.
    expect(report.activations!.map((a) => a.tensor)).toEqual(['a:input', 'a:output', 'b:output', 'side:input', 'side:output', 'out:input', 'out:output']);
    expect(report.metrics.valAccuracyBefore).toBeGreaterThan(0.9);
    expect(report.metrics.valAccuracyWeightAct).toBeGreaterThanOrEqual(report.metrics.valAccuracyBefore! - 0.02);
  });
});

describe('quantization-aware training', () => {
  it('int4 per-channel QAT (≤ 50 seeded steps) keeps the accuracy and beats or matches int4 PTQ', async () => {
    const { model } = await trainedToy();
    const cfg = [{ ...ALL, quant_dtype: 'int4', granularity: 'out_channel' }];
    const before = tf.memory().numTensors;
    const qat = await run(model, cfg, { mode: 'qat', qat_epochs: 4, lr: 1e-3, activations: { bits: 8 } });
    expect(tf.memory().numTensors).toBe(before);
    const ptq = await run(model, cfg, { mode: 'ptq', activations: null });
    expect(qat.report.metrics.valAccuracyWeightOnly).toBeGreaterThanOrEqual(qat.report.metrics.valAccuracyBefore! - 0.02);
    expect(qat.report.metrics.valAccuracyWeightOnly).toBeGreaterThanOrEqual(ptq.report.metrics.valAccuracyWeightOnly! - 0.01);
    expect(qat.report.metrics.qatEpochs).toBe(4);
    expect(qat.report.metrics.valAccuracyWeightAct).toBeGreaterThan(0.85);
    expect((qat.model.weights['fc1/kernel'] as QuantizedEncoding).bits).toBe(4);
  });
});

describe('composes after pruning and decomposition', () => {
  it('a masked model keeps its zeros and its storage counts mask + codes + scales', async () => {
    const { model } = await trainedToy();
    const k = toDense(model.weights['fc1/kernel']!);
    const mask = topkMask(k, Math.round(k.length * 0.25));
    const masked: Model = { ir: model.ir, weights: { ...model.weights, 'fc1/kernel': maskedEncoding(denseEncoding([64, 16], k), mask) } };
    for (const mode of ['ptq', 'qat'] as const) {
      const { model: q } = await run(masked, [{ ...ALL, quant_dtype: 'int8', quant_scheme: 'affine', granularity: 'out_channel' }], { mode, qat_epochs: 2, activations: null });
      const e = q.weights['fc1/kernel'] as MaskedEncoding;
      expect(e.kind).toBe('masked');
      expect(e.mask).toEqual(mask);
      const base = e.base as QuantizedEncoding;
      expect(base.kind).toBe('quantized');
      const v = toDense(e);
      for (let i = 0; i < v.length; i++) if (!mask[i]) expect(v[i]).toBe(0);
      const kept = mask.reduce((a, b) => a + b, 0);
      expect(storageBits(e)).toBe(maskIndexBits(mask).bits + kept * 8 + 16 * 32 * 2);
    }
  });

  it('a low-rank model keeps its factors; each factor is quantized and storage counts both', async () => {
    const { model } = await trainedToy();
    const u = denseEncoding(
      [16, 3],
      Float32Array.from({ length: 48 }, (_, i) => Math.sin(i) * 0.3),
    );
    const v = denseEncoding(
      [64, 3],
      Float32Array.from({ length: 192 }, (_, i) => Math.cos(i) * 0.3),
    );
    const lr: LowRankEncoding = { kind: 'lowRank', shape: [64, 16], rank: 3, u, s: Float32Array.of(2, 1, 0.5), v };
    const m: Model = { ir: model.ir, weights: { ...model.weights, 'fc1/kernel': lr } };
    const { model: q, report } = await run(m, [{ ...ALL, quant_dtype: 'int8' }], { mode: 'qat', qat_epochs: 1, activations: null });
    const e = q.weights['fc1/kernel'] as LowRankEncoding;
    expect(e.kind).toBe('lowRank');
    expect([e.u.kind, e.v.kind]).toEqual(['quantized', 'quantized']);
    expect(storageBits(e)).toBe(48 * 8 + 32 + 192 * 8 + 32 + 3 * 32);
    expect(report.warnings.join('\n')).toMatch(/fc1\/kernel' is lowRank; QAT does not train factors/);
    const err = Math.max(...toDense(e).map((x, i) => Math.abs(x - toDense(lr)[i]!)));
    expect(err).toBeLessThan(0.05);
  });
});

describe('mixed precision', () => {
  it('meets its size budget, reports the sensitivity table and the chosen bits', async () => {
    const { model } = await trainedToy();
    const before = tf.memory().numTensors;
    const { model: q, report } = await run(model, [{ ...ALL, quant_dtype: 'int8' }], {
      mode: 'ptq',
      qat_epochs: 1,
      activations: null,
      mixed_precision: { size_budget_ratio: 6, candidate_bits: [8, 6, 4, 3, 2], max_acc_drop: 1, samples: 256 },
    });
    expect(tf.memory().numTensors).toBe(before);
    const mp = report.mixedPrecision!;
    expect(mp.budgetMet).toBe(true);
    expect(report.metrics.sizeRatioTotal).toBeGreaterThanOrEqual(6);
    expect(mp.layers.map((l) => l.sensitivity.map((s) => s.bits))).toEqual([
      [8, 6, 4, 3, 2],
      [8, 6, 4, 3, 2],
      [8, 6, 4, 3, 2],
    ]);
    for (const l of mp.layers) {
      expect((q.weights[l.weight] as QuantizedEncoding).bits).toBe(l.chosenBits);
      expect(report.layers.find((r) => r.weight === l.weight)!.bits).toBe(l.chosenBits);
    }
    // fc1 holds most weights, so it is lowered first.
    expect(mp.layers.find((l) => l.layer === 'fc1')!.chosenBits).toBeLessThan(8);
    // Counted total: every weight's storage (biases fp32) vs fp32.
    const total = Object.values(q.weights).reduce((a, e) => a + storageBits(e), 0);
    expect(report.metrics.sizeRatioTotal).toBeCloseTo((1148 * 32) / total, 6);
  });

  it('stops before exceeding max_acc_drop and says so', async () => {
    const { model } = await trainedToy();
    const { report } = await run(model, [{ ...ALL, quant_dtype: 'int8' }], {
      qat_epochs: 0,
      activations: null,
      mixed_precision: { size_budget_ratio: 30, max_acc_drop: 0, samples: 128 },
    });
    const mp = report.mixedPrecision!;
    expect(mp.estimatedAccDrop).toBe(0);
    expect(mp.budgetMet).toBe(false);
    expect(report.warnings.join('\n')).toMatch(/mixed precision stopped at .* max_acc_drop 0/);
  });
});

describe('recipes', () => {
  it('runs from a JSON recipe through core runRecipe (snake_case keys, nested options camelCased)', async () => {
    const { model, ctx } = await trainedToy();
    const recipe = {
      version: 1,
      seed: 7,
      stages: [
        {
          method: 'quantize',
          config_list: [{ op_types: ['conv2d', 'dense'], quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' }],
          options: { mode: 'ptq', activations: { bits: 8, ema_momentum: 0.9 }, calibration_batches: 2, mixed_precision: null },
        },
      ],
    };
    const r = await runRecipe(model, recipe, createRegistry([quantize]), { train: ctx.train, val: ctx.val });
    expect(r.plans[0]!.options).toMatchObject({ mode: 'ptq', activations: { bits: 8, emaMomentum: 0.9 }, calibrationBatches: 2, mixedPrecision: null });
    expect((r.model.weights['fc1/kernel'] as QuantizedEncoding).axis).toBe(-1);
    expect(r.reports[0]!.metrics.valAccuracyWeightAct).toBeGreaterThan(0.9);
  });
});

describe('chains', () => {
  it('never widens a narrower quantized leaf (a 3-bit pow2 factor stays pow2 under int8) and re-quantizes a wider one', async () => {
    const { chooseQuantParams, quantizedEncoding, denseEncoding: dense } = await import('@edge-compress/core');
    const v = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 0.5);
    const pow2 = quantizedEncoding([24], v, chooseQuantParams(v, [24], { scheme: 'pow2', bits: 3, axis: null }));
    const int16 = quantizedEncoding([24], v, chooseQuantParams(v, [24], { scheme: 'symmetric', bits: 16, axis: null }));
    const spec = specOf({ quantDtype: 'int8' } as never);
    expect(quantizeEncoding(pow2, spec)).toBe(pow2);
    const re = quantizeEncoding(int16, spec) as QuantizedEncoding;
    expect(re.bits).toBe(8);
    expect((quantizeEncoding(dense([24], v), spec) as QuantizedEncoding).bits).toBe(8);
  });
});
