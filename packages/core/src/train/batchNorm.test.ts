import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { defineCompressor } from '../compressor.js';
import { createDataset } from '../data/dataset.js';
import { denseEncoding, toDense } from '../encodings/index.js';
import type { ModelIR } from '../ir/types.js';
import { initModel, type Model } from '../model/model.js';
import { optionsSchema, ruleSchema } from '../recipe/schema.js';
import { createRng } from '../tensor/rng.js';
import { refreshBatchNormStats } from './batchNorm.js';

const ir: ModelIR = {
  format: 'edge-compress/ir',
  version: 1,
  name: 'bn-mlp',
  inputShape: [6],
  layers: [
    { kind: 'dense', name: 'd1', units: 4, activation: 'linear', useBias: true },
    { kind: 'batchNorm', name: 'bn1', epsilon: 1e-3, momentum: 0.99, center: true, scale: true },
    { kind: 'dense', name: 'd2', units: 3, activation: 'softmax', useBias: true },
  ],
};

function data(count: number, seed: number) {
  const rng = createRng(seed);
  const images = Float32Array.from({ length: count * 6 }, () => rng.normal() * 2 + 1);
  const labels = Array.from({ length: count }, () => rng.int(3));
  return createDataset({ images, labels, shape: [6], numClasses: 3 });
}

/** d1's kernel replaced by `scale`× itself (a new encoding object, as a method returns). */
function scaled(m: Model, scale: number): Model {
  const k = m.weights['d1/kernel']!;
  return {
    ir: m.ir,
    weights: {
      ...m.weights,
      'd1/kernel': denseEncoding(
        k.shape,
        toDense(k).map((v) => v * scale),
      ),
    },
  };
}

/** Mean and population variance of d1's pre-activations over the first n examples, in plain JS (no tfjs). */
function expectedStats(m: Model, d: ReturnType<typeof data>, n: number) {
  const W = toDense(m.weights['d1/kernel']!),
    b = toDense(m.weights['d1/bias']!);
  const s1 = new Float64Array(4),
    s2 = new Float64Array(4);
  for (let i = 0; i < n; i++) {
    for (let u = 0; u < 4; u++) {
      let z = b[u]!;
      for (let k = 0; k < 6; k++) z += d.images[i * 6 + k]! * W[k * 4 + u]!;
      s1[u]! += z;
      s2[u]! += z * z;
    }
  }
  const mean = Array.from(s1, (v) => v / n);
  return { mean, variance: Array.from(s2, (v, u) => v / n - mean[u]! ** 2) };
}

describe('refreshBatchNormStats', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('re-estimates the statistics after a changed layer exactly: mean and population variance over the examples', () => {
    const before = initModel(ir, 3);
    const after = scaled(before, 2.5);
    const d = data(300, 1);
    const r = refreshBatchNormStats(before, after, d, { examples: 250, batchSize: 64 });
    expect(r.layers).toEqual(['bn1']);
    expect(r.examples).toBe(250);
    const want = expectedStats(after, d, 250);
    const mean = Array.from(toDense(r.model.weights['bn1/moving_mean']!));
    const variance = Array.from(toDense(r.model.weights['bn1/moving_variance']!));
    mean.forEach((v, u) => expect(v).toBeCloseTo(want.mean[u]!, 3));
    variance.forEach((v, u) => expect(v).toBeCloseTo(want.variance[u]!, 2));
    // initModel's statistics (0 / 1) are far from these: the test would fail on stale statistics
    expect(Math.max(...want.variance)).toBeGreaterThan(2);
    // everything else is the identical object
    for (const n of Object.keys(after.weights)) if (!n.startsWith('bn1/moving_')) expect(r.model.weights[n]).toBe(after.weights[n]);
  });

  it('leaves the model alone when nothing before a batch-norm layer changed', () => {
    const before = initModel(ir, 3);
    const k = before.weights['d2/kernel']!;
    const after: Model = {
      ir,
      weights: {
        ...before.weights,
        'd2/kernel': denseEncoding(
          k.shape,
          toDense(k).map((v) => -v),
        ),
      },
    };
    const r = refreshBatchNormStats(before, after, data(100, 2));
    expect(r.model).toBe(after);
    expect(r.layers).toEqual([]);
  });

  it('holds no tensors after it returns (counted outside tf.tidy)', () => {
    const before = initModel(ir, 3);
    const n0 = tf.memory().numTensors;
    refreshBatchNormStats(before, scaled(before, 0.5), data(200, 3), { batchSize: 48 });
    expect(tf.memory().numTensors).toBe(n0);
  });

  it('runs after every method made by defineCompressor: statistics, val accuracy re-measured, warning; opt-out keeps them', async () => {
    const def = {
      name: 'halver',
      description: 'test: halves d1',
      config: ruleSchema({}),
      options: optionsSchema({}),
      compress: async (m: Model) => ({ model: scaled(m, 0.5), report: { method: 'halver', layers: [], metrics: { valAccuracyAfter: 0.123 }, warnings: [] } }),
    };
    const before = initModel(ir, 4);
    const train = data(400, 5),
      val = data(120, 6);
    const ctx = { train, val, seed: 1, rng: createRng(1) };
    const plan = defineCompressor(def).plan(ir, [{ op_names: ['d1'] }]);
    const r = await defineCompressor(def).compress(before, ctx, plan);
    const want = expectedStats(scaled(before, 0.5), train, 400);
    Array.from(toDense(r.model.weights['bn1/moving_mean']!)).forEach((v, u) => expect(v).toBeCloseTo(want.mean[u]!, 3));
    expect(r.report.metrics.valAccuracyAfterStaleBatchNorm).toBe(0.123);
    expect(r.report.metrics.valAccuracyAfter).not.toBe(0.123);
    expect(r.report.metrics.valAccuracyAfter! * 120).toBeCloseTo(Math.round(r.report.metrics.valAccuracyAfter! * 120), 6);
    expect(r.report.warnings.join('\n')).toMatch(/batch-norm statistics of 'bn1' re-estimated on 400 training examples/);
    const off = await defineCompressor({ ...def, refreshBatchNorm: false }).compress(before, ctx, plan);
    expect(off.model.weights['bn1/moving_mean']).toBe(before.weights['bn1/moving_mean']);
  });
});
