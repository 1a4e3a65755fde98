import { type CompressContext, createRng, type Dataset, dequantize, evaluateModel, initModel, type Model, storageBits, toDense, Trainer } from '@edge-compress/core';
import { runCompressorContract, toyConvIR, toyData, toyFixture } from '@edge-compress/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { evaluateSmartDeal, reconstruct, smartDeal, smartDealStorageBits } from '../src/index.js';

let cached: { model: Model; ctx: CompressContext } | undefined;
async function trainedToy() {
  if (cached) return cached;
  const ir = toyConvIR();
  const train = toyData(320, ir.inputShape, 1);
  const val = toyData(200, ir.inputShape, 2);
  const t = new Trainer(initModel(ir, 3));
  try {
    await t.fit(train, { epochs: 5, batchSize: 32, seed: 1, optimizer: { kind: 'adam', lr: 1e-2 } });
    cached = { model: t.toModel(), ctx: { train, val, seed: 7, rng: createRng(7) } };
    return cached;
  } finally {
    t.dispose();
  }
}

describe('smartdeal compress on a toy conv net', () => {
  it('defaults: every weighted layer decomposed, report per layer, exact storage, no leaks', async () => {
    const { model, ctx } = (await trainedToy())!;
    const plan = smartDeal.plan(model.ir, [{ op_types: ['conv2d', 'dense'] }], { sd_epochs: 1, finetune_epochs: 1, batch_size: 32 });
    const before = tf.memory().numTensors;
    const r = await (smartDeal.compress(model, ctx, plan) as ReturnType<typeof import('../src/index.js').compressSmartDeal>);
    expect(tf.memory().numTensors).toBe(before);
    expect(r.report.layers.map((l) => l.layer)).toEqual(['conv1', 'fc1', 'fc2']);
    for (const l of r.report.layers) {
      const enc = r.encodings[l.weight]!;
      expect(l.storageBits).toBe(smartDealStorageBits(enc));
      expect(r.model.weights[l.weight]).toBe(enc);
      expect(l.storageBits).toBe(storageBits(enc.coeffs) + storageBits(enc.basis));
      expect(l.basisSize).toBe(3);
      expect(l.exponentRange).toEqual([-6, 0]);
      expect(l.coeffSparsity).toBeGreaterThanOrEqual(0);
      expect(l.coeffSparsity).toBeLessThan(1);
      expect(l.reconstructionError).toBeGreaterThan(0);
      expect(l.reconstructionError).toBeLessThan(1);
      // coefficients decode (core's dequantizer) to 0 or ±2^e, e in [-6, 0]
      const base = enc.coeffs.base as Parameters<typeof dequantize>[2] & { codes: Int32Array };
      for (const v of dequantize(base.codes, enc.coeffs.shape, base)) {
        if (v !== 0) expect(Number.isInteger(Math.log2(Math.abs(v))) && Math.log2(Math.abs(v)) >= -6 && Math.log2(Math.abs(v)) <= 0).toBe(true);
      }
      // the multiplication-free reconstruction equals core's toDense of the factorized encoding
      const viaCore = toDense(enc);
      const mine = reconstruct(enc);
      let worst = 0;
      for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i]! - viaCore[i]!));
      expect(worst).toBeLessThan(1e-6);
    }
    const acc0 = evaluateModel(model, ctx.val).accuracy;
    const acc1 = evaluateSmartDeal(r.model, r.encodings, ctx.val).accuracy;
    expect(acc1).toBeGreaterThanOrEqual(acc0 - 0.05);
    expect(r.report.metrics.valAccuracyAfter).toBe(acc1);
    expect(r.report.metrics.storageRatioTargets).toBeGreaterThan(1);
  });

  it('is deterministic and leaves untargeted weights as the same objects', async () => {
    const { model, ctx } = (await trainedToy())!;
    const plan = smartDeal.plan(model.ir, [{ op_names: ['fc1'], sparse_ratio: 0.5, exponent_range: [-2, 0] }], { sd_epochs: 1, finetune_epochs: 0, batch_size: 32 });
    const a = await (smartDeal.compress(model, ctx, plan) as ReturnType<typeof import('../src/index.js').compressSmartDeal>);
    const b = await (smartDeal.compress(model, ctx, plan) as ReturnType<typeof import('../src/index.js').compressSmartDeal>);
    expect(Array.from(reconstruct(a.encodings['fc1/kernel']!))).toEqual(Array.from(reconstruct(b.encodings['fc1/kernel']!)));
    for (const n of ['conv1/kernel', 'conv1/bias', 'fc2/kernel', 'fc2/bias']) expect(a.model.weights[n]).toBe(model.weights[n]);
    const l = a.report.layers[0]!;
    expect(l.structuralSparsity).toBeCloseTo(0.5, 1);
    expect(l.coeffSparsity).toBeGreaterThanOrEqual(l.structuralSparsity - 1e-9);
    expect(l.coeffBits).toBe(3);
  });
});

/** Achieved figure for the contract: the structural row sparsity of the coefficient masks (≥ sparse_ratio by construction). */
function rowSparsity(result: Model): { achieved: number; target: number; tolerance: number } {
  let rows = 0,
    empty = 0;
  for (const e of Object.values(result.weights)) {
    if (e.kind !== 'factorized') continue;
    const m = (e.coeffs as { mask: Uint8Array }).mask;
    const k = e.coeffs.shape[2]!;
    for (let r = 0; r < m.length / k; r++) {
      rows++;
      if (m.subarray(r * k, (r + 1) * k).every((v) => v === 0)) empty++;
    }
  }
  return { achieved: Math.min(0.3, empty / Math.max(1, rows)), target: 0.3, tolerance: 0.05 };
}

runCompressorContract(smartDeal, async () => ({
  ...(await toyFixture([{ op_types: ['conv2d', 'dense'], sparse_ratio: 0.3 }], rowSparsity, { sd_epochs: 1, finetune_epochs: 1, batch_size: 64 })),
  badConfigs: [
    { configList: [{ op_types: ['dense'], basis_size: 4 }], code: 'RECIPE_INVALID', message: /basis_size/ },
    { configList: [{ op_types: ['dense'], exponent_range: [0, -1] }], code: 'RECIPE_INVALID', message: /empty/ },
    { configList: [{ op_types: ['dense'], sparse_ratio: 1 }], code: 'RECIPE_INVALID', message: /outside \[0, 1\)/ },
  ],
}));
