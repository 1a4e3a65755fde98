import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { isCompressionError, lenet5, predict, toDense, toGemm, type Model } from '@edge-compress/core';
import { runCompressorContract, toyFixture } from '@edge-compress/core/testing';
import { bcrPrune, blockExtent, blockGrid, SparseRunner, sparseSpec, bcrLayoutFromMask } from '../src/index.js';

const FAST = { admm_epochs: 1, finetune_epochs: 1, batch_size: 32 };

runCompressorContract(bcrPrune, () => ({
  ...toyFixture([{ op_names: ['fc1'], sparse_ratio: 0.75, granularity: [4, 8] }], FAST),
  ratio: (m: Model) => {
    const e = m.weights['fc1/kernel']!;
    const v = toDense(e);
    return { achieved: v.filter((x) => x === 0).length / v.length, target: 0.75, tolerance: 0.05 };
  },
}));

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
  it('keeps whole rows × columns per block, exact counts, untargeted weights identical, runtime = tfjs forward, no leaks', async () => {
    const f = toyFixture([{ op_types: ['dense'], granularity: [4, 8], row_ratio: 0.25, col_ratio: 0.5 }], FAST);
    const plan = bcrPrune.plan(f.model.ir, f.configList, f.options);
    const before = tf.memory().numTensors;
    const { model, report } = await bcrPrune.compress(f.model, f.ctx, plan);
    expect(tf.memory().numTensors).toBe(before);
    expect(model.weights['conv1/kernel']).toBe(f.model.weights['conv1/kernel']);
    expect(model.weights['conv1/bias']).toBe(f.model.weights['conv1/bias']);
    for (const name of ['fc1/kernel', 'fc2/kernel']) {
      const e = model.weights[name]!;
      const rows = e.shape[1]!, cols = e.shape[0]!;
      const gemm = toGemm(toDense(e), e.shape);
      const g = blockGrid(rows, cols, [4, 8]);
      for (let i = 0; i < g.nbr; i++) for (let j = 0; j < g.nbc; j++) {
        const b = blockExtent(g, i, j);
        // the structural mask (not the values, which may be 0 by chance)
        const mask = toGemm(Float32Array.from((e as { mask: Uint8Array }).mask), e.shape);
        const R = new Set<number>(), C = new Set<number>();
        let n = 0;
        for (let r = 0; r < b.h; r++) for (let c = 0; c < b.w; c++) if (mask[(b.r0 + r) * cols + b.c0 + c]) { R.add(r); C.add(c); n++; }
        expect(R.size).toBe(b.h - Math.round(0.25 * b.h));
        expect(C.size).toBe(b.w - Math.round(0.5 * b.w));
        expect(n).toBe(R.size * C.size);
        for (let r = 0; r < b.h; r++) for (let c = 0; c < b.w; c++) if (!mask[(b.r0 + r) * cols + b.c0 + c]) expect(gemm[(b.r0 + r) * cols + b.c0 + c]).toBe(0);
      }
    }
    expect(report.layers.map((l) => l.layer)).toEqual(['fc1', 'fc2']);
    // The wasm runtime on the BCR layouts predicts what the tfjs forward predicts.
    const layouts = Object.fromEntries(['fc1', 'fc2'].map((l) => {
      const e = model.weights[`${l}/kernel`]!;
      const rows = e.shape[1]!, cols = e.shape[0]!;
      return [l, bcrLayoutFromMask(e.shape, toGemm(toDense(e), e.shape), rows, cols, toGemm(Float32Array.from((e as { mask: Uint8Array }).mask), e.shape).map((v) => v) as unknown as Uint8Array, [4, 8])];
    }));
    const x = f.ctx.test.images.subarray(0, 16 * 64);
    const want = predict(model, x, 16);
    const got = new SparseRunner(sparseSpec(model, { layouts })).predict(x, 16);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-4);
  });

  it('training lowers the loss after the hard prune (masked retraining works)', async () => {
    const f = toyFixture([{ op_names: ['fc1'], sparse_ratio: 0.9, granularity: [4, 8] }], { admm_epochs: 0, finetune_epochs: 3, batch_size: 32, lr: 3e-3 });
    const losses: number[] = [];
    const { report } = await bcrPrune.compress(f.model, { ...f.ctx, onProgress: (p) => p.done || losses.push(p.loss) }, bcrPrune.plan(f.model.ir, f.configList, f.options));
    expect(losses.length).toBeGreaterThan(2);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    expect(report.metrics.sparsity).toBeGreaterThan(0.8);
  });

  it('N:M and whole-block patterns give their structure', async () => {
    const f = toyFixture([{ op_names: ['fc1'], pattern: 'nm', nm: [2, 4] }, { op_names: ['fc2'], pattern: 'block', granularity: [2, 4], sparse_ratio: 0.5 }], { admm_epochs: 0, finetune_epochs: 0 });
    const { model } = await bcrPrune.compress(f.model, f.ctx, bcrPrune.plan(f.model.ir, f.configList, f.options));
    const m1 = toGemm(Float32Array.from((model.weights['fc1/kernel'] as { mask: Uint8Array }).mask), [64, 16]);
    for (let r = 0; r < 16; r++) for (let c0 = 0; c0 < 64; c0 += 4) expect(m1[r * 64 + c0]! + m1[r * 64 + c0 + 1]! + m1[r * 64 + c0 + 2]! + m1[r * 64 + c0 + 3]!).toBe(2);
    const m2 = toGemm(Float32Array.from((model.weights['fc2/kernel'] as { mask: Uint8Array }).mask), [16, 4]);
    let keptBlocks = 0;
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) {
      let s = 0;
      for (let r = 0; r < 2; r++) for (let c = 0; c < 4; c++) s += m2[(2 * i + r) * 16 + 4 * j + c]!;
      expect(s === 0 || s === 8).toBe(true);
      keptBlocks += s ? 1 : 0;
    }
    expect(keptBlocks).toBe(4);
  });
});
