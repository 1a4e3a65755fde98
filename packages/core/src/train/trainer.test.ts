import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { lenet300100, lenet5 } from '../ir/builders.js';
import { parameterCount } from '../ir/shapes.js';
import { initModel } from '../model/model.js';
import { forward } from '../model/forward.js';
import { loadMnist } from '../node/mnist.js';
import { createDataset } from '../data/dataset.js';
import { toyConvIR, toyData, toyMlpIR } from '../testing/index.js';
import { chooseQuantParams, fakeQuantize } from '../tensor/quant.js';
import { isCompressionError } from '../errors.js';
import { fakeQuantSte, straightThrough } from './ste.js';
import { evaluateModel, Trainer } from './trainer.js';

describe('model IR builders', () => {
  it('have the documented parameter counts', () => {
    expect(parameterCount(lenet5())).toBe(431_080);
    expect(parameterCount(lenet300100())).toBe(266_610);
  });
  it('initialisation is seeded', () => {
    const a = initModel(lenet300100(), 5).weights['fc1/kernel']!;
    const b = initModel(lenet300100(), 5).weights['fc1/kernel']!;
    const c = initModel(lenet300100(), 6).weights['fc1/kernel']!;
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});

describe('MNIST', () => {
  it('is a deterministic, stratified 7,000 / 1,000 / 2,000 train / val / test split in [0, 1], val disjoint from test', () => {
    const a = loadMnist();
    const b = loadMnist();
    expect(a.train.count).toBe(7000);
    expect(a.val.count).toBe(1000);
    expect(a.test.count).toBe(2000);
    const vcounts = new Array(10).fill(0);
    for (const y of a.val.labels) vcounts[y]++;
    // class 5: 863 digits, 173 to test, then 1,000 of the remaining 8,000 → 86.25 val digits (±1 by rounding)
    expect(Math.abs(vcounts[5] - 86.25)).toBeLessThanOrEqual(1);
    // no image is in two splits (compare a hash of every image)
    const key = (d: typeof a.val, i: number): string => Array.from(d.images.subarray(i * 784, i * 784 + 784)).join(',');
    const seen = new Set(Array.from({ length: a.test.count }, (_, i) => key(a.test, i)));
    const overlap = Array.from({ length: a.val.count }, (_, i) => key(a.val, i)).filter((k) => seen.has(k)).length;
    expect(overlap).toBeLessThanOrEqual(2); // the package has a couple of duplicate digits
    expect(Array.from(a.val.labels.slice(0, 50))).toEqual(Array.from(b.val.labels.slice(0, 50)));
    expect(Array.from(a.test.labels.slice(0, 50))).toEqual(Array.from(b.test.labels.slice(0, 50)));
    const counts = new Array(10).fill(0);
    for (const y of a.test.labels) counts[y]++;
    // class 5 has 863 of 10,000 digits → 173 test digits (±1 by rounding)
    expect(Math.abs(counts[5] - 172.6)).toBeLessThanOrEqual(1);
    let min = Infinity,
      max = -Infinity;
    for (const v of a.train.images.subarray(0, 784 * 100)) ((min = Math.min(min, v)), (max = Math.max(max, v)));
    expect(min).toBe(0);
    expect(max).toBeLessThanOrEqual(1);
  });
  it('feeds a [784] model via the shape option', () => {
    const { test } = loadMnist({ shape: [784] });
    expect(test.shape).toEqual([784]);
  });
});

describe('datasets', () => {
  it('reject bad user data with the field and the fix', () => {
    const bad = (f: () => unknown, re: RegExp) => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isCompressionError(err, 'BAD_DATASET')).toBe(true);
      expect((err as Error).message).toMatch(re);
    };
    bad(() => createDataset({ images: new Float32Array(10), labels: [0], shape: [4] }), /multiple of the example size 4/);
    bad(() => createDataset({ images: new Float32Array(8), labels: [0], shape: [4] }), /labels: has 1 entries but images hold 2/);
    bad(() => createDataset({ images: Float32Array.from([0, 0, NaN, 0]), labels: [0], shape: [4] }), /images\[2\]/);
    bad(() => createDataset({ images: new Float32Array(4), labels: [1.5], shape: [4] }), /labels\[0\]/);
  });
});

describe('Trainer', () => {
  it('reduces the loss of a toy conv net within 50 seeded steps', async () => {
    const ir = toyConvIR();
    const data = toyData(400, ir.inputShape, 1);
    const t = new Trainer(initModel(ir, 1));
    const before = t.evaluate(data).loss;
    const h = await t.fit(data, { epochs: 7, batchSize: 64, seed: 1, optimizer: { kind: 'adam', lr: 3e-3 } });
    expect(h[h.length - 1]!.loss).toBeLessThan(before * 0.6);
    expect(t.evaluate(data).accuracy).toBeGreaterThan(0.8);
    t.dispose();
  });

  it('is reproducible with a seed (SGD with momentum)', async () => {
    const ir = toyMlpIR();
    const data = toyData(200, ir.inputShape, 2);
    const run = async () => {
      const t = new Trainer(initModel(ir, 3));
      const h = await t.fit(data, { epochs: 2, seed: 9, optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 } });
      t.dispose();
      return h.map((r) => r.loss);
    };
    expect(await run()).toEqual(await run());
  });

  it('trains a batch norm without scale and offset (tfjs gradient needs explicit ones / zeros)', async () => {
    const ir = toyConvIR();
    ir.layers.splice(1, 0, { kind: 'batchNorm', name: 'bn1', epsilon: 1e-3, momentum: 0.9, center: false, scale: false });
    const t = new Trainer(initModel(ir, 1));
    const h = await t.fit(toyData(128, ir.inputShape, 3), { epochs: 3, seed: 1, optimizer: { kind: 'adam', lr: 3e-3 } });
    t.dispose();
    expect(h[2]!.loss).toBeLessThan(h[0]!.loss);
  });

  it('keeps tf.memory().numTensors flat across epochs, with hooks, dropout and batch norm', async () => {
    const ir = toyConvIR();
    ir.layers.splice(1, 0, { kind: 'batchNorm', name: 'bn1', epsilon: 1e-3, momentum: 0.9, center: true, scale: true });
    ir.layers.splice(5, 0, { kind: 'dropout', name: 'drop', rate: 0.3 });
    const data = toyData(128, ir.inputShape, 3);
    const t = new Trainer(initModel(ir, 1));
    const counts: number[] = [];
    const mask = tf.keep(tf.ones([3, 3, 1, 4]));
    await t.fit(data, {
      epochs: 4,
      seed: 1,
      test: data,
      hooks: {
        transform: (p) => ({ ...p, 'conv1/kernel': tf.mul(p['conv1/kernel']!, mask) }),
        extraLoss: (p) => tf.mul(1e-4, tf.sum(tf.square(p['fc1/kernel']!))) as tf.Scalar,
        afterStep: (p) => tf.tidy(() => p['fc2/bias']!.assign(tf.clipByValue(p['fc2/bias']!, -1, 1))),
      },
      onProgress: (p) => {
        if (p.testAccuracy !== undefined) counts.push(tf.memory().numTensors);
      },
    });
    expect(counts.length).toBe(4);
    expect(new Set(counts).size).toBe(1);
    // batch-norm moving statistics were updated from batch statistics
    expect(Array.from(t.read('bn1/moving_mean')).some((v) => v !== 0)).toBe(true);
    mask.dispose();
    t.dispose();
  });

  it('calls afterEpoch and reports progress events, and honours AbortSignal', async () => {
    const ir = toyMlpIR();
    const data = toyData(128, ir.inputShape, 4);
    const t = new Trainer(initModel(ir, 1));
    const epochs: number[] = [];
    await t.fit(data, { epochs: 2, hooks: { afterEpoch: (_p, i) => void epochs.push(i.epoch) } });
    expect(epochs).toEqual([0, 1]);
    const ac = new AbortController();
    ac.abort();
    await expect(t.fit(data, { epochs: 1, signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    t.dispose();
  });

  it('toModel and evaluateModel agree with the trainer', async () => {
    const ir = toyMlpIR();
    const data = toyData(128, ir.inputShape, 5);
    const t = new Trainer(initModel(ir, 2));
    await t.fit(data, { epochs: 1 });
    const m = t.toModel();
    expect(evaluateModel(m, data).accuracy).toBeCloseTo(t.evaluate(data).accuracy, 6);
    t.dispose();
  });
});

describe('straight-through estimator', () => {
  it('fakeQuantSte matches the host fake quantization and passes gradients inside the range only', () => {
    const vals = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 2);
    for (const scheme of ['affine', 'symmetric', 'pow2'] as const) {
      const p = chooseQuantParams(vals, [4, 6], { scheme, bits: 4, axis: -1 });
      const host = fakeQuantize(vals, [4, 6], p);
      const dev = tf.tidy(() => fakeQuantSte(tf.tensor(vals, [4, 6]), p).dataSync());
      for (let i = 0; i < vals.length; i++) expect(dev[i]).toBeCloseTo(host[i]!, 5);
    }
    const g = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => tf.sum(straightThrough(x, tf.round, -1, 1)))(tf.tensor([-2, -0.5, 0.3, 0.9, 3]))
        .dataSync(),
    );
    expect(Array.from(g)).toEqual([0, 1, 1, 1, 0]);
  });

  it('forward returns logits or probabilities', () => {
    const ir = toyMlpIR();
    const m = initModel(ir, 1);
    const w = Object.fromEntries(Object.entries(m.weights).map(([k, e]) => [k, tf.tensor((e as { values: Float32Array }).values, e.shape)]));
    const x = tf.ones([2, 16]);
    const p = tf.sum(forward(ir, w, x), 1).dataSync();
    expect(p[0]).toBeCloseTo(1, 5);
    const l = forward(ir, w, x, { logits: true }).dataSync();
    expect(l.some((v) => v < 0 || v > 1)).toBe(true);
    tf.dispose([...Object.values(w), x]);
  });
});

describe('QAT through the trainer', () => {
  it('trains through fakeQuantSte in the transform hook (bounds survive until the backward pass)', async () => {
    const ir = toyMlpIR();
    const data = toyData(256, ir.inputShape, 6);
    const model = initModel(ir, 4);
    const vals = (model.weights['fc1/kernel'] as { values: Float32Array }).values;
    const p = chooseQuantParams(vals, [16, 32], { scheme: 'symmetric', bits: 4, axis: -1 });
    const t = new Trainer(model);
    const before = t.evaluate(data).loss;
    const counts: number[] = [];
    await t.fit(data, {
      epochs: 3,
      optimizer: { kind: 'adam', lr: 3e-3 },
      hooks: { transform: (ps) => ({ ...ps, 'fc1/kernel': fakeQuantSte(ps['fc1/kernel']!, p) }) },
      onProgress: (e) => e.trainAccuracy !== undefined && counts.push(tf.memory().numTensors),
    });
    expect(t.evaluate(data, { hooks: { transform: (ps) => ({ ...ps, 'fc1/kernel': fakeQuantSte(ps['fc1/kernel']!, p) }) } }).loss).toBeLessThan(before);
    expect(new Set(counts).size).toBe(1);
    t.dispose();
  });
});
