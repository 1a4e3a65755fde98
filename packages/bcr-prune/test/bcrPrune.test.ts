import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createRunner, isCompressionError, lenet5, predict, toDense, toGemm, type BlockSparseEncoding, type Model, type NmEncoding } from '@edge-compress/core';
import { runCompressorContract, toyData, toyFixture, toyConvIR, toyTrained } from '@edge-compress/core/testing';
import { createRng, initModel, Trainer } from '@edge-compress/core';
import { bcrKernel, bcrPrune, SparseRunner, sparseSpec } from '../src/index.js';

const FAST = { prune_epochs: 1, finetune_epochs: 1, batch_size: 32 };
/** Fraction of the weight the stored structure removes (explicit zeros from an earlier mask do not count). */
const sparsity = (m: Model, w: string) => {
  const e = m.weights[w] as BlockSparseEncoding;
  const total = e.shape.reduce((a, b) => a * b, 1);
  return 1 - Array.from(e.keptRows, (r, b) => r * e.keptCols[b]!).reduce((a, b) => a + b, 0) / total;
};

runCompressorContract(bcrPrune, () =>
  toyFixture([{ op_names: ['fc1'], sparse_ratio: 0.75, granularity: [4, 8] }], (m) => ({ achieved: sparsity(m, 'fc1/kernel'), target: 0.75, tolerance: 0.05 }), FAST).then((f) => ({
    ...f,
    badConfigs: [
      { configList: [{ op_names: ['fc2'], sparse_ratio: 0.5, granularity: [8, 8] }], code: 'RECIPE_INVALID' as const, message: /exceeds layer 'fc2'/ },
      { configList: [{ op_names: ['fc1'], pattern: 'nm', nm: [4, 4] }], code: 'RECIPE_INVALID' as const, message: /N < M/ },
      { configList: [{ op_names: ['fc1'], sparse_ratio: 1 }], code: 'RECIPE_INVALID' as const, message: /sparse_ratio/ },
    ],
  })),
);

async function fixture(configList: unknown[], options: unknown = FAST) {
  const ir = toyConvIR();
  const train = toyData(256, ir.inputShape, 1);
  const val = toyData(96, ir.inputShape, 2);
  const model = await toyTrained(ir, train);
  return { model, plan: bcrPrune.plan(ir, configList, options), ctx: { train, val, seed: 7, rng: createRng(7) } };
}

function planError(configList: unknown[]): Error & { code?: string } {
  try {
    bcrPrune.plan(lenet5(), configList);
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a plan error');
}

describe('bcr plan-time errors (typed, before any training)', () => {
  it.each([
    [{ op_names: ['fc2'], sparse_ratio: 0.5, granularity: [20, 50] }, /block \[20,50\] exceeds layer 'fc2' GEMM view \[10,500\]/],
    [{ op_names: ['conv1'], sparse_ratio: 0.5, granularity: [4, 0] }, /granularity/],
    [{ op_names: ['fc1'], sparse_ratio: 0.5, granularity: [2.5, 8] }, /granularity/],
    [{ op_names: ['fc1'], sparse_ratio: 1 }, /sparse_ratio/],
    [{ op_names: ['fc1'], row_ratio: -0.1, col_ratio: 0.5 }, /row_ratio: -0.1 is outside \[0, 1\)/],
    [{ op_names: ['fc1'], row_ratio: 0.5 }, /col_ratio/],
    [{ op_names: ['fc1'], pattern: 'nm', nm: [4, 4] }, /N:M needs N < M, got 4:4/],
    [{ op_names: ['fc1'], pattern: 'nm', nm: [5, 4] }, /N < M/],
    [{ op_names: ['fc1'], pattern: 'nm' }, /nm: \[n, m\]/],
    [{ op_names: ['fc1'], pattern: 'zigzag' }, /pattern/],
  ])('%j', (cfg, msg) => {
    const err = planError([cfg]);
    expect(isCompressionError(err, 'RECIPE_INVALID')).toBe(true);
    expect(err.message).toMatch(msg);
  });
});

describe('bcr compress', () => {
  it('blockSparse output: exact kept rows/cols per block, untargeted weights identical, wasm kernel = tfjs forward, no leaks', async () => {
    const { model: input, plan, ctx } = await fixture([{ op_types: ['dense'], granularity: [4, 8], row_ratio: 0.25, col_ratio: 0.5 }]);
    const before = tf.memory().numTensors;
    const { model, report } = await bcrPrune.compress(input, ctx, plan);
    expect(tf.memory().numTensors).toBe(before);
    expect(model.weights['conv1/kernel']).toBe(input.weights['conv1/kernel']);
    expect(model.weights['conv1/bias']).toBe(input.weights['conv1/bias']);
    for (const name of ['fc1/kernel', 'fc2/kernel']) {
      const e = model.weights[name] as BlockSparseEncoding;
      expect(e.kind).toBe('blockSparse');
      const rows = e.shape[1]!,
        cols = e.shape[0]!;
      const gr = Math.ceil(rows / 4),
        gc = Math.ceil(cols / 8);
      for (let b = 0; b < gr * gc; b++) {
        const h = Math.min(4, rows - Math.floor(b / gc) * 4),
          w = Math.min(8, cols - (b % gc) * 8);
        expect(e.keptRows[b]).toBe(h - Math.round(0.25 * h));
        expect(e.keptCols[b]).toBe(w - Math.round(0.5 * w));
      }
    }
    expect(report.layers.map((l) => l.layer)).toEqual(['fc1', 'fc2']);
    const x = ctx.val.images.subarray(0, 16 * 64);
    const dense = predict(model, x, 16, { kernels: [] }); // stock tfjs ops on the decoded weights
    const viaKernel = createRunner(model, { kernels: [bcrKernel] });
    expect(viaKernel.kernelsUsed).toEqual({ conv1: 'dense', fc1: 'bcr-wasm-simd', fc2: 'bcr-wasm-simd' });
    const got = viaKernel.predict(x, 16);
    viaKernel.dispose();
    const whole = new SparseRunner(sparseSpec(model)).predict(x, 16);
    for (let i = 0; i < dense.length; i++) {
      expect(Math.abs(got[i]! - dense[i]!)).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(whole[i]! - dense[i]!)).toBeLessThanOrEqual(1e-4);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('defaults alone ({op_types: [conv2d, dense]}): ratios chosen on validation, small layers left dense, accuracy kept', async () => {
    const { model: input, plan, ctx } = await fixture([{ op_types: ['conv2d', 'dense'] }], { prune_epochs: 3, finetune_epochs: 4, batch_size: 32 });
    const { model, report } = await bcrPrune.compress(input, ctx, plan);
    // fc1 (1,024 weights) is the only layer above min_weights: it gets an automatic ratio; conv1/fc2 stay identical
    expect(report.layers.map((l) => [l.layer, l.auto])).toEqual([['fc1', true]]);
    expect(model.weights['fc1/kernel']!.kind).toBe('blockSparse');
    expect(model.weights['fc2/kernel']).toBe(input.weights['fc2/kernel']);
    // retraining recovers accuracy over the one-shot projection at the same choice
    const oneShot = await bcrPrune.compress(input, ctx, bcrPrune.plan(input.ir, [{ op_types: ['conv2d', 'dense'] }], { prune_epochs: 0, finetune_epochs: 0 }));
    expect(oneShot.report.layers[0]!.sparseRatio).toBe(report.layers[0]!.sparseRatio);
    expect(report.metrics.valAccuracyAfter!).toBeGreaterThan(oneShot.report.metrics.valAccuracyAfter!);
    expect(report.metrics.valAccuracyBefore! - report.metrics.valAccuracyAfter!).toBeLessThanOrEqual(0.15);
    expect(report.layers[0]!.sparseRatio as number).toBeGreaterThanOrEqual(0.45);
  });

  it('the conv kernel runs through createRunner too', async () => {
    const { model: input, plan, ctx } = await fixture([{ op_types: ['conv2d'], granularity: [2, 3], row_ratio: 0.5, col_ratio: 0.34 }], { prune_epochs: 0, finetune_epochs: 0 });
    const { model } = await bcrPrune.compress(input, ctx, plan);
    expect(model.weights['conv1/kernel']!.kind).toBe('blockSparse');
    const x = ctx.val.images.subarray(0, 8 * 64);
    const r = createRunner(model, { kernels: [bcrKernel] });
    expect(r.kernelsUsed.conv1).toBe('bcr-wasm-simd');
    const got = r.predict(x, 8);
    r.dispose();
    const want = predict(model, x, 8, { kernels: [] });
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-4);
  });

  it('training lowers the loss after the prune (masked retraining works)', async () => {
    const { model, plan, ctx } = await fixture([{ op_names: ['fc1'], sparse_ratio: 0.9, granularity: [4, 8] }], { prune_epochs: 0, finetune_epochs: 3, batch_size: 32, lr: 3e-3 });
    const losses: number[] = [];
    const { report } = await bcrPrune.compress(model, { ...ctx, onProgress: (p) => p.done || losses.push(p.loss) }, plan);
    expect(losses.length).toBeGreaterThan(2);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    expect(report.metrics.sparsity).toBeGreaterThan(0.8);
  });

  it('reweighted group lasso before the hard prune (schedule lasso): exact structure, no worse than one-shot, no leaks', async () => {
    const cfg = [{ op_names: ['fc1'], granularity: [4, 8], row_ratio: 0.5, col_ratio: 0.5 }];
    const { model: input, ctx } = await fixture(cfg);
    const before = tf.memory().numTensors;
    const oneShot = await bcrPrune.compress(input, ctx, bcrPrune.plan(input.ir, cfg, { prune_epochs: 0, finetune_epochs: 0 }));
    const lasso = await bcrPrune.compress(
      input,
      ctx,
      bcrPrune.plan(input.ir, cfg, { schedule: 'lasso', lasso_epochs: 3, lasso_strength: 0.1, finetune_epochs: 0, batch_size: 32 }),
    );
    expect(tf.memory().numTensors).toBe(before);
    const e = lasso.model.weights['fc1/kernel'] as BlockSparseEncoding;
    expect(e.kind).toBe('blockSparse');
    expect(Array.from(e.keptRows).every((r) => r === 2)).toBe(true);
    expect(Array.from(e.keptCols).every((c) => c === 4)).toBe(true);
    // the hard prune after the penalty loses less than the same prune of the trained weights
    expect(lasso.report.metrics.valAccuracyAfter!).toBeGreaterThanOrEqual(oneShot.report.metrics.valAccuracyAfter!);
  });

  it('N:M and whole-block patterns give their structure', async () => {
    const {
      model: input,
      plan,
      ctx,
    } = await fixture(
      [
        { op_names: ['fc1'], pattern: 'nm', nm: [2, 4] },
        { op_names: ['fc2'], pattern: 'block', granularity: [2, 4], sparse_ratio: 0.5 },
      ],
      { prune_epochs: 0, finetune_epochs: 0 },
    );
    const { model } = await bcrPrune.compress(input, ctx, plan);
    const nm = model.weights['fc1/kernel'] as NmEncoding;
    expect(nm.kind).toBe('nm');
    expect([nm.n, nm.m]).toEqual([2, 4]);
    const m1 = toGemm(toDense(nm), nm.shape);
    for (let r = 0; r < 16; r++) for (let c0 = 0; c0 < 64; c0 += 4) expect([0, 1, 2, 3].filter((j) => m1[r * 64 + c0 + j] !== 0).length).toBeLessThanOrEqual(2);
    const bs = model.weights['fc2/kernel'] as BlockSparseEncoding;
    expect(bs.kind).toBe('blockSparse');
    const full = Array.from(bs.keptRows, (r, b) => r * bs.keptCols[b]!);
    expect(full.filter((v) => v === 8).length).toBe(4); // 4 of 8 blocks kept whole
    expect(full.filter((v) => v === 0).length).toBe(4);
  });
});

describe('graphs (a residual add)', () => {
  it("prunes a residual model; core's runner runs it with the bcr kernel, the whole-model wasm runtime refuses it with a typed error", async () => {
    const base = toyConvIR();
    const ir = {
      ...base,
      name: 'toyres',
      layers: [
        base.layers[0]!,
        {
          kind: 'conv2d' as const,
          name: 'conv2',
          filters: 4,
          kernelSize: [3, 3] as [number, number],
          strides: [1, 1] as [number, number],
          padding: 'same' as const,
          activation: 'linear' as const,
          useBias: true,
        },
        { kind: 'add' as const, name: 'skip', inputs: ['conv1', 'conv2'] },
        ...base.layers.slice(1, 3),
        { ...base.layers[3]!, inputs: ['flatten'] }, // fc1 names its input (as a hand-written IR may)
        base.layers[4]!,
      ],
    };
    const train = toyData(256, ir.inputShape, 1);
    const val = toyData(96, ir.inputShape, 2);
    const t = new Trainer(initModel(ir, 1));
    await t.fit(train, { epochs: 3, batchSize: 32, seed: 1, optimizer: { kind: 'adam', lr: 1e-2 } });
    const dense = t.toModel();
    t.dispose();
    const plan = bcrPrune.plan(ir, [{ op_names: ['fc1'], sparse_ratio: 0.75, granularity: [4, 8] }], FAST);
    const { model } = await bcrPrune.compress(dense, { train, val, seed: 3, rng: createRng(3) }, plan);
    expect(model.weights['fc1/kernel']!.kind).toBe('blockSparse');
    const x = val.images.subarray(0, 16 * 64);
    const runner = createRunner(model, { kernels: [bcrKernel] });
    expect(runner.kernelsUsed.fc1).toBe('bcr-wasm-simd');
    const got = runner.predict(x, 16);
    runner.dispose();
    const ref = predict(model, x, 16, { kernels: [] });
    for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(1e-4);
    const err = (() => {
      try {
        new SparseRunner(sparseSpec(model));
      } catch (e) {
        return e;
      }
    })();
    expect(isCompressionError(err, 'UNSUPPORTED_LAYER')).toBe(true);
    expect((err as Error).message).toMatch(/runs chains of layers; layer 'skip' \(add\) takes 'conv1' \+ 'conv2'/);
  });
});
