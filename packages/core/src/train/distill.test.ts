import { describe, expect, it } from 'vitest';
import '../node/workers.js'; // registers worker_threads (what the Node entry does)
import { denseEncoding } from '../encodings/index.js';
import { isCompressionError } from '../errors.js';
import type { ModelIR } from '../ir/types.js';
import { initModel, type Model } from '../model/model.js';
import { expectClose, toyData, toyMlpIR } from '../testing/index.js';
import { predict, teacherTargets, Trainer, type FitOptions } from './trainer.js';

const data = toyData(96, [16], 3);

async function train(model: Model, opts: FitOptions): Promise<{ values: Record<string, Float32Array>; trainAccuracy: number; model: Model }> {
  const t = new Trainer(model);
  try {
    const h = await t.fit(data, opts);
    const values: Record<string, Float32Array> = {};
    for (const n of Object.keys(t.params)) values[n] = t.read(n);
    return { values, trainAccuracy: h.at(-1)!.trainAccuracy, model: t.toModel() };
  } finally {
    await t.closeWorkers();
    t.dispose();
  }
}

function oneHot(): Float32Array {
  const t = new Float32Array(data.count * data.numClasses);
  for (let i = 0; i < data.count; i++) t[i * data.numClasses + data.labels[i]!] = 1;
  return t;
}

const base: FitOptions = { epochs: 2, batchSize: 16, seed: 4, optimizer: { kind: 'adam', lr: 0.01 } };

describe('distillation (fit distill option)', () => {
  it('weight 0, or targets equal to the labels, trains exactly as without distillation', async () => {
    const plain = await train(initModel(toyMlpIR(), 1), base);
    const w0 = await train(initModel(toyMlpIR(), 1), { ...base, distill: { targets: new Float32Array(data.count * 4).fill(0.25), weight: 0 } });
    const same = await train(initModel(toyMlpIR(), 1), { ...base, distill: { targets: oneHot(), weight: 0.7 } });
    for (const k of Object.keys(plain.values)) {
      expectClose(w0.values[k]!, plain.values[k]!, 1e-6);
      expectClose(same.values[k]!, plain.values[k]!, 1e-5);
    }
  });

  it('trains toward the targets: uniform targets at weight 1 give near-uniform predictions; train accuracy still counts true labels', async () => {
    const uniform = new Float32Array(data.count * 4).fill(0.25);
    const r = await train(initModel(toyMlpIR(), 1), { ...base, epochs: 30, distill: { targets: uniform, weight: 1 } });
    const p = predict(r.model, data.images.subarray(0, 8 * 16), 8);
    for (let i = 0; i < 8; i++) for (let c = 0; c < 4; c++) expect(Math.abs(p[i * 4 + c]! - 0.25)).toBeLessThan(0.05);
    // the plain fit separates the toy classes; the uniform-target fit has no reason to, so its train accuracy is
    // counted against the true labels (not the targets' argmax, which is class 0 everywhere)
    const plain = await train(initModel(toyMlpIR(), 1), { ...base, epochs: 30 });
    expect(plain.trainAccuracy).toBeGreaterThan(0.9);
    expect(r.trainAccuracy).toBeLessThan(0.9);
  });

  it('runs in workers: 2 workers end at the parameters of the in-process fit', async () => {
    const teacher = await train(initModel(toyMlpIR(), 9), { ...base, epochs: 3 });
    const targets = teacherTargets(teacher.model, data, { temperature: 2 });
    const opts: FitOptions = { ...base, distill: { targets, weight: 0.6 } };
    const a = await train(initModel(toyMlpIR(), 1), opts);
    const b = await train(initModel(toyMlpIR(), 1), { ...opts, workers: 2 });
    for (const k of Object.keys(a.values)) expectClose(b.values[k]!, a.values[k]!, 5e-5);
  });

  it('teacherTargets: rows sum to 1, temperature T gives softmax(logits / T) (checked against logits computed by hand)', () => {
    // one dense layer, identity input: the logits of example i are row i of the kernel plus the bias
    const ir: ModelIR = {
      format: 'edge-compress/ir',
      version: 1,
      name: 'lin',
      inputShape: [3],
      layers: [{ kind: 'dense', name: 'fc', units: 3, activation: 'softmax', useBias: true }],
    };
    const kernel = new Float32Array([2, 0, -1, 0.5, 1.5, 0, -2, 0, 3]);
    const bias = new Float32Array([0.1, -0.2, 0]);
    const model: Model = { ir, weights: { 'fc/kernel': denseEncoding([3, 3], kernel), 'fc/bias': denseEncoding([3], bias) } };
    const d = { images: new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), labels: new Int32Array([0, 1, 2]), count: 3, shape: [3], numClasses: 3 };
    for (const T of [1, 3]) {
      const p = teacherTargets(model, d, { temperature: T });
      for (let i = 0; i < 3; i++) {
        const z = [0, 1, 2].map((c) => (kernel[i * 3 + c]! + bias[c]!) / T);
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const s = e.reduce((a, b) => a + b, 0);
        expectClose(
          p.subarray(i * 3, i * 3 + 3),
          e.map((v) => v / s),
          1e-5,
        );
      }
    }
  });

  it('bad input is a typed error naming the field', async () => {
    const t = new Trainer(initModel(toyMlpIR(), 1));
    try {
      const err = async (distill: FitOptions['distill']): Promise<unknown> =>
        t.fit(data, { ...base, distill }).then(
          () => undefined,
          (e: unknown) => e,
        );
      const short = await err({ targets: new Float32Array(10), weight: 0.5 });
      expect(isCompressionError(short) && short.path).toBe('distill.targets');
      expect(String((short as Error).message)).toContain(`expected ${data.count * 4}`);
      const w = await err({ targets: oneHot(), weight: 1.5 });
      expect(isCompressionError(w) && w.path).toBe('distill.weight');
      const nan = oneHot();
      nan[7] = Number.NaN;
      const bad = await err({ targets: nan });
      expect(isCompressionError(bad) && bad.path).toBe('distill.targets[7]');
    } finally {
      t.dispose();
    }
    expect(() => teacherTargets(initModel(toyMlpIR(), 1), data, { temperature: 0 })).toThrow(/temperature must be a positive number/);
  });
});

describe('teacherTargets on a large set', () => {
  it('runs in batches: 55,000 LeNet-5 inputs do not overflow the wasm heap, and rows match a per-batch prediction', async () => {
    const { initBackend } = await import('../backend/index.js');
    const { lenet5 } = await import('../ir/builders.js');
    const tf = await import('@tensorflow/tfjs-core');
    const prev = tf.getBackend();
    await initBackend('wasm');
    try {
      const model = initModel(lenet5(), 3);
      const count = 55_000;
      const images = new Float32Array(count * 784);
      for (let i = 0; i < images.length; i += 7) images[i] = (i % 255) / 255;
      const d = { images, labels: new Int32Array(count), count, shape: [28, 28, 1], numClasses: 10 };
      const p = teacherTargets(model, d);
      expect(p.length).toBe(count * 10);
      // the last example alone, predicted on its own, gives the same row
      const last = predict(model, images.subarray((count - 1) * 784), 1);
      expectClose(p.subarray((count - 1) * 10), last, 1e-5);
      let s = 0;
      for (let c = 0; c < 10; c++) s += p[1234 * 10 + c]!;
      expect(s).toBeCloseTo(1, 5);
    } finally {
      await initBackend(prev as 'wasm' | 'cpu');
    }
  }, 120_000);
});
