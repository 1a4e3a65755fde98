import * as tf from '@tensorflow/tfjs-core';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  createRng,
  isCompressionError,
  denseEncoding,
  forward,
  initModel,
  lenet5,
  maskedEncoding,
  toDense,
  toGemm,
  weightTensors,
  type Model,
  type ModelIR,
} from '@edge-compress/core';
import { bcrLayoutFromMask, bcrMask } from '../sparsity.js';
import { SparseRunner } from './runner.js';
import { sparseSpec } from './spec.js';

/** Reference: tfjs forward of the same (dense) weights. */
function reference(model: Model, x: Float32Array, n: number): Float32Array {
  const w = weightTensors(model);
  try {
    return tf.tidy(() => forward(model.ir, w, tf.tensor(x, [n, ...model.ir.inputShape])).dataSync() as Float32Array);
  } finally {
    tf.dispose(Object.values(w));
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Prunes every weighted layer to a BCR mask and returns the masked model plus its BCR layouts. */
function bcrModel(ir: ModelIR, seed: number, block: [number, number], rowRate: number, colRate: number) {
  const base = initModel(ir, seed);
  const weights = { ...base.weights };
  const layouts: Record<string, ReturnType<typeof bcrLayoutFromMask>> = {};
  for (const [name, e] of Object.entries(base.weights)) {
    if (!name.endsWith('/kernel')) continue;
    const rows = e.shape[e.shape.length - 1]!,
      cols = e.shape.reduce((a, b) => a * b, 1) / rows;
    const gemm = toGemm(toDense(e), e.shape);
    const b: [number, number] = [Math.min(block[0], rows), Math.min(block[1], cols)];
    const m = bcrMask(gemm, rows, cols, b, { rowRate, colRate });
    layouts[name.split('/')[0]!] = bcrLayoutFromMask(e.shape, gemm, rows, cols, m, b);
    const maskT = new Uint8Array(m.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) maskT[c * rows + r] = m[r * cols + c]!;
    weights[name] = maskedEncoding(denseEncoding(e.shape, toDense(e).slice()), maskT);
  }
  // Non-zero biases so the fused bias add is checked.
  for (const [name, e] of Object.entries(weights))
    if (name.endsWith('/bias'))
      weights[name] = denseEncoding(
        e.shape,
        Float32Array.from(toDense(e), (_, i) => 0.05 * Math.sin(i + seed)),
      );
  return { model: { ir, weights }, layouts };
}

function randomInput(n: number, per: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n * per }, () => rng.next());
}

describe('SparseRunner (wasm BCR runtime) matches the dense tfjs forward', () => {
  test.prop(
    [
      fc.record({
        h: fc.integer({ min: 6, max: 14 }),
        cin: fc.integer({ min: 1, max: 4 }),
        f1: fc.integer({ min: 1, max: 9 }),
        f2: fc.integer({ min: 1, max: 7 }),
        k: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 2 }),
        pad: fc.constantFrom('same' as const, 'valid' as const),
        units: fc.integer({ min: 1, max: 37 }),
        n: fc.integer({ min: 1, max: 11 }),
        br: fc.integer({ min: 1, max: 9 }),
        bc: fc.integer({ min: 1, max: 20 }),
        rowRate: fc.constantFrom(0, 0.25, 0.5),
        colRate: fc.constantFrom(0, 0.3, 0.6, 0.9),
        pool: fc.constantFrom('maxPool2d' as const, 'avgPool2d' as const),
        seed: fc.integer({ min: 0, max: 1000 }),
      }),
    ],
    { seed: 42, numRuns: 40 },
  )('random conv/pool/dense nets, random blocks and rates, batch 1–11: max abs diff ≤ 1e-4', (p) => {
    const ir: ModelIR = {
      format: 'edge-compress/ir',
      version: 1,
      name: 'rand',
      inputShape: [p.h, p.h, p.cin],
      layers: [
        { kind: 'conv2d', name: 'c1', filters: p.f1, kernelSize: [p.k, p.k + 1], strides: [p.stride, p.stride], padding: p.pad, activation: 'relu', useBias: true },
        { kind: 'batchNorm', name: 'bn', epsilon: 1e-3, momentum: 0.99, center: true, scale: true },
        { kind: 'conv2d', name: 'c2', filters: p.f2, kernelSize: [p.k, p.k], strides: [1, 1], padding: 'same', activation: 'tanh', useBias: true },
        { kind: p.pool, name: 'p', poolSize: [2, 2], strides: [2, 2], padding: p.pad },
        { kind: 'flatten', name: 'f' },
        { kind: 'dense', name: 'd1', units: p.units, activation: 'sigmoid', useBias: true },
        { kind: 'dropout', name: 'do', rate: 0.5 },
        { kind: 'dense', name: 'd2', units: 5, activation: 'softmax', useBias: false },
      ],
    };
    const { model, layouts } = bcrModel(ir, p.seed, [p.br, p.bc], p.rowRate, p.colRate);
    // batch-norm statistics that are not the identity
    const rng = createRng(p.seed);
    for (const s of ['gamma', 'beta', 'moving_mean', 'moving_variance']) {
      const e = model.weights[`bn/${s}`]!;
      model.weights[`bn/${s}`] = denseEncoding(
        e.shape,
        Float32Array.from(toDense(e), () => (s === 'moving_variance' ? 0.5 + rng.next() : rng.normal() * 0.3)),
      );
    }
    const x = randomInput(p.n, p.h * p.h * p.cin, p.seed + 1);
    const want = reference(model, x, p.n);
    const runner = new SparseRunner(sparseSpec(model, { layouts }));
    expect(maxAbsDiff(runner.predict(x, p.n), want)).toBeLessThanOrEqual(1e-4);
    const csr = new SparseRunner(sparseSpec(model, { unstructured: 'csr' }));
    expect(maxAbsDiff(csr.predict(x, p.n), want)).toBeLessThanOrEqual(1e-4);
  });

  test.prop([fc.record({ n: fc.constantFrom(1, 2, 5, 32), seed: fc.integer({ min: 0, max: 99 }), rowRate: fc.constantFrom(0, 0.5), colRate: fc.constantFrom(0.5, 0.9) })], {
    seed: 7,
    numRuns: 6,
  })('LeNet-5 (BCR 10×50 blocks) logits and probabilities: max abs diff ≤ 1e-4', (p) => {
    const { model, layouts } = bcrModel(lenet5(), p.seed, [10, 50], p.rowRate, p.colRate);
    const x = randomInput(p.n, 784, p.seed);
    const want = reference(model, x, p.n);
    expect(maxAbsDiff(new SparseRunner(sparseSpec(model, { layouts })).predict(x, p.n, 3), want)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(new SparseRunner(sparseSpec(model, { layouts }), { directConv: false }).predict(x, p.n, 3), want)).toBeLessThanOrEqual(1e-4);
    // dense kernel path (every layer dense) on the unmasked weights
    const dense = initModel(lenet5(), p.seed);
    expect(maxAbsDiff(new SparseRunner(sparseSpec(dense)).predict(x, p.n), reference(dense, x, p.n))).toBeLessThanOrEqual(1e-4);
  });

  test.prop(
    [
      fc.record({
        q: fc.integer({ min: 1, max: 2 }),
        k: fc.integer({ min: 1, max: 5 }),
        cin: fc.integer({ min: 1, max: 3 }),
        f: fc.integer({ min: 1, max: 9 }),
        n: fc.integer({ min: 1, max: 5 }),
        seed: fc.nat(99),
      }),
    ],
    { seed: 5, numRuns: 15 },
  )('stride-1 valid convs with output width a multiple of 8 (direct kernel, no im2col) = im2col path = tfjs', (p) => {
    const w = 8 * p.q + p.k - 1;
    const ir: ModelIR = {
      format: 'edge-compress/ir',
      version: 1,
      name: 'direct',
      inputShape: [p.k + 2, w, p.cin],
      layers: [
        { kind: 'conv2d', name: 'c', filters: p.f, kernelSize: [p.k, p.k], strides: [1, 1], padding: 'valid', activation: 'relu', useBias: true },
        { kind: 'conv2d', name: 'c2', filters: 3, kernelSize: [1, 1], strides: [1, 1], padding: 'valid', activation: 'linear', useBias: true },
        { kind: 'flatten', name: 'f' },
      ],
    };
    const { model, layouts } = bcrModel(ir, p.seed, [4, 3], 0.25, 0.34);
    const x = randomInput(p.n, (p.k + 2) * w * p.cin, p.seed);
    const want = reference(model, x, p.n);
    expect(maxAbsDiff(new SparseRunner(sparseSpec(model, { layouts })).predict(x, p.n), want)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(new SparseRunner(sparseSpec(model, { layouts }), { directConv: false }).predict(x, p.n), want)).toBeLessThanOrEqual(1e-4);
  });

  test.prop([fc.record({ n: fc.integer({ min: 1, max: 9 }), units: fc.integer({ min: 1, max: 40 }), seed: fc.integer({ min: 0, max: 99 }) })], { seed: 3, numRuns: 10 })(
    'MLP with flat input, logits option',
    (p) => {
      const ir: ModelIR = {
        format: 'edge-compress/ir',
        version: 1,
        name: 'mlp',
        inputShape: [23],
        layers: [
          { kind: 'dense', name: 'a', units: p.units, activation: 'relu', useBias: true },
          { kind: 'activation', name: 'act', activation: 'tanh' },
          { kind: 'dense', name: 'b', units: 4, activation: 'softmax', useBias: true },
        ],
      };
      const { model, layouts } = bcrModel(ir, p.seed, [4, 8], 0.25, 0.5);
      const x = Float32Array.from(randomInput(p.n, 23, p.seed), (v) => v - 0.5);
      const w = weightTensors(model);
      const logits = tf.tidy(() => forward(model.ir, w, tf.tensor(x, [p.n, 23]), { logits: true }).dataSync() as Float32Array);
      tf.dispose(Object.values(w));
      expect(maxAbsDiff(new SparseRunner(sparseSpec(model, { layouts }), { logits: true }).predict(x, p.n), logits)).toBeLessThanOrEqual(1e-4);
    },
  );
});

describe('activations the wasm runtime does not compute', () => {
  it.each([
    ['a fused relu6', { kind: 'dense', name: 'fc', units: 3, activation: 'relu6', useBias: false }],
    ['a capped ReLU layer', { kind: 'activation', name: 'cap', activation: 'relu', maxValue: 4 }],
  ] as const)('%s: a typed UNSUPPORTED_LAYER error naming the layer, before any output', (_, layer) => {
    const ir: ModelIR = {
      format: 'edge-compress/ir',
      version: 1,
      name: 'm',
      inputShape: [4],
      layers: [{ kind: 'dense', name: 'in', units: 3, activation: 'linear', useBias: false }, layer],
    };
    const runner = new SparseRunner(sparseSpec(initModel(ir, 1)));
    let err: unknown;
    try {
      runner.predict(new Float32Array(8), 2);
    } catch (e) {
      err = e;
    }
    expect(isCompressionError(err, 'UNSUPPORTED_LAYER')).toBe(true);
    expect((err as Error).message).toContain(`(layer '${layer.name}')`);
  });
});

it('a depthwise convolution: a typed UNSUPPORTED_LAYER error naming the layer, at construction', () => {
  const ir: ModelIR = {
    format: 'edge-compress/ir',
    version: 1,
    name: 'm',
    inputShape: [6, 6, 2],
    layers: [
      { kind: 'depthwiseConv2d', name: 'dw', kernelSize: [3, 3], strides: [1, 1], padding: 'valid', depthMultiplier: 1, activation: 'relu', useBias: true },
      { kind: 'flatten', name: 'f' },
      { kind: 'dense', name: 'fc', units: 3, activation: 'softmax', useBias: true },
    ],
  };
  let err: unknown;
  try {
    new SparseRunner(sparseSpec(initModel(ir, 1)));
  } catch (e) {
    err = e;
  }
  expect(isCompressionError(err, 'UNSUPPORTED_LAYER')).toBe(true);
  expect((err as Error).message).toContain("(layer 'dw')");
});
