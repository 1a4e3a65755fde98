import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createRegistry, defineCompressor, planRecipe, runRecipe } from '../compressor.js';
import { blockSparseFromMask, denseEncoding, type Encoding, kindsOf, maskedEncoding, nmFromMask, quantizedEncoding, storageBits, toDense } from '../encodings/index.js';
import { isCompressionError } from '../errors.js';
import { loadModel, saveModel } from '../node/modelio.js';
import { lenet5 } from '../ir/builders.js';
import { magnitudePrune } from '../methods/magnitude.js';
import { initModel, type Model } from '../model/model.js';
import { baseRule, optionsSchema } from '../recipe/schema.js';
import { chooseQuantParams } from '../tensor/quant.js';
import { int8Model, toyConvIR, toyData, toyTrained, withTempDir } from '../testing/index.js';
import { composeHooks, trainThroughEncodings } from './through.js';
import { evaluateModel } from './trainer.js';

const ir = toyConvIR();
const train = toyData(256, ir.inputShape, 1);
const val = toyData(96, ir.inputShape, 2);

function lowRankOf(e: Encoding, rank: number): Encoding {
  // A rank-r factorisation built without SVD: U = first r GEMM rows' pattern, good enough to train from.
  const [rows, cols] = [e.shape[e.shape.length - 1]!, e.shape.slice(0, -1).reduce((a, b) => a * b, 1)];
  const u = Float32Array.from({ length: rows * rank }, (_, i) => Math.sin(i + 1) * 0.3);
  const v = Float32Array.from({ length: cols * rank }, (_, i) => Math.cos(i * 0.7) * 0.3);
  return { kind: 'lowRank', shape: [...e.shape], rank, u: denseEncoding([rows, rank], u), s: Float32Array.from({ length: rank }, () => 1), v: denseEncoding([cols, rank], v) };
}

describe('trainThroughEncodings', () => {
  it('trains every structured kind as its own parameters, keeps the structure, and leaks nothing across epochs', async () => {
    const base = await toyTrained(ir, train);
    const fc1 = toDense(base.weights['fc1/kernel']!);
    const shape = base.weights['fc1/kernel']!.shape;
    // BCR mask: in 8×16 blocks keep rows with even index and the first half of the columns.
    const bcrMask = Uint8Array.from(fc1, (_, i) => ((i % 16) % 2 === 0 && Math.floor(i / 16) % 16 < 8 ? 1 : 0));
    const nmMask = new Uint8Array(fc1.length);
    const nmEnc = nmFromMask(shape, nmMask, fc1, 2, 4);
    const q = chooseQuantParams(fc1, shape, { scheme: 'nonzero', bits: 3, axis: null });
    const kept = Uint8Array.from(fc1, (v) => (Math.abs(v) > 0.05 ? 1 : 0));
    const cases: Array<[string, Encoding]> = [
      ['lowRank', lowRankOf(base.weights['fc1/kernel']!, 3)],
      ['blockSparse', blockSparseFromMask(shape, bcrMask, fc1, [8, 16])],
      [
        'nm',
        {
          ...nmEnc,
          values: denseEncoding(
            nmEnc.values.shape,
            toDense(nmEnc.values).map((_, i) => Math.sin(i) * 0.1),
          ),
        },
      ],
      ['masked nonzero-level codes', maskedEncoding(quantizedEncoding(shape, fc1, q), kept)],
    ];
    for (const [label, enc] of cases) {
      const model: Model = { ir, weights: { ...base.weights, 'fc1/kernel': enc } };
      const tt = trainThroughEncodings(model, ['fc1/kernel']);
      const losses: number[] = [];
      const counts: number[] = [];
      await tt.fit(train, {
        epochs: 3,
        batchSize: 32,
        seed: 1,
        optimizer: { kind: 'adam', lr: label.startsWith('masked') ? 5e-4 : 3e-3 },
        hooks: { afterEpoch: (_p, i) => void (losses.push(i.loss), counts.push(tf.memory().numTensors)) },
      });
      const out = tt.toModel();
      tt.dispose();
      expect(losses[2], `${label}: loss falls`).toBeLessThan(losses[0]!);
      expect(new Set(counts).size, `${label}: tensor count flat across epochs`).toBe(1);
      expect(kindsOf(out.weights['fc1/kernel']!), label).toEqual(kindsOf(enc));
      expect(storageBits(out.weights['fc1/kernel']!), `${label}: same storage`).toBe(storageBits(enc));
      for (const n of ['conv1/kernel', 'conv1/bias', 'fc2/kernel', 'fc2/bias']) expect(out.weights[n], `${label}: '${n}' untouched`).toBe(base.weights[n]);
      const after = toDense(out.weights['fc1/kernel']!);
      const before = toDense(enc);
      // zeros imposed by the structure stay zero
      if (label !== 'lowRank') before.forEach((v, i) => v === 0 && label.startsWith('masked') && expect(after[i]).toBe(0));
      if (label === 'blockSparse') after.forEach((v, i) => !bcrMask[i] && expect(v).toBe(0));
      if (label.startsWith('masked')) {
        const o = out.weights['fc1/kernel'] as Extract<Encoding, { kind: 'masked' }>;
        const b = o.base as Extract<Encoding, { kind: 'quantized' }>;
        expect(b.scheme).toBe('nonzero');
        expect(Array.from(b.scales)).toEqual(Array.from(q.scales));
        expect(Array.from(o.mask)).toEqual(Array.from(kept));
      }
    }
  });

  it('composeHooks chains transforms in order and sums extra losses', () => {
    const p = { w: tf.scalar(2) } as unknown as Record<string, tf.Variable>;
    const h = composeHooks(
      { transform: (x) => ({ w: tf.mul(x.w!, 3) }), extraLoss: () => tf.scalar(1) },
      { transform: (x) => ({ w: tf.add(x.w!, 1) }), extraLoss: () => tf.scalar(2) },
    );
    const info = { epoch: 0, step: 0, globalStep: 0, stepsPerEpoch: 1 };
    expect(h.transform!(p, { training: true }).w!.dataSync()[0]).toBe(7);
    expect(h.extraLoss!(p, info)!.dataSync()[0]).toBe(3);
  });
});

describe('core v2 reproductions', () => {
  it('quantize (int8) → magnitude (fc1) keeps every weight int8, fc1 a mask over its codes, and the files shrink', async () => {
    const model = int8Model(initModel(lenet5(), 1));
    const registry = createRegistry([magnitudePrune]);
    const r = await runRecipe(
      model,
      { version: 1, stages: [{ method: 'magnitude', config_list: [{ op_names: ['fc1'], sparse_ratio: 0.5 }], options: { finetune_epochs: 0 } }] },
      registry,
      { train: toyData(8, [28, 28, 1], 1, 10), val: toyData(8, [28, 28, 1], 2, 10) },
    );
    for (const n of ['conv1/kernel', 'conv2/kernel', 'fc2/kernel', 'conv1/bias']) expect(r.model.weights[n]).toBe(model.weights[n]);
    const fc1 = r.model.weights['fc1/kernel']!;
    expect(kindsOf(fc1)).toEqual(['masked', 'quantized']);
    const before = model.weights['fc1/kernel'] as Extract<Encoding, { kind: 'quantized' }>;
    const after = (fc1 as Extract<Encoding, { kind: 'masked' }>).base as Extract<Encoding, { kind: 'quantized' }>;
    expect(after.bits).toBe(8);
    expect(Array.from(after.scales)).toEqual(Array.from(before.scales));
    await withTempDir(async (dir) => {
      const a = await saveModel(model, `${dir}/a`);
      const b = await saveModel(r.model, `${dir}/b`);
      expect(b.bytes).toBeLessThan(a.bytes);
      const back = await loadModel(`${dir}/b`);
      expect(back.model.weights['fc1/kernel']).toEqual(fc1);
      expect(back.model.weights['conv1/kernel']).toEqual(model.weights['conv1/kernel']);
    });
  });

  it('refuses an incompatible chain at plan time, naming the stage, layer and kinds', () => {
    const lowRankish = defineCompressor({
      name: 'fakesvd',
      description: 'test stand-in that produces low-rank weights',
      config: baseRule as never,
      options: optionsSchema({}),
      accepts: '*',
      produces: 'lowRank',
      compress: async () => {
        throw new Error('not run');
      },
    });
    const registry = createRegistry([lowRankish, magnitudePrune]);
    let err: unknown;
    try {
      planRecipe(
        initModel(ir, 1),
        {
          version: 1,
          stages: [
            { method: 'fakesvd', config_list: [{ op_types: ['dense'] }] },
            { method: 'magnitude', config_list: [{ op_names: ['fc1'], sparse_ratio: 0.5 }] },
          ],
        },
        registry,
        'r.json',
      );
    } catch (e) {
      err = e;
    }
    expect(isCompressionError(err, 'CHAIN_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/r\.json: stages\[1\].*'magnitude' cannot take layer 'fc1', whose weight is 'lowRank'/);
  });

  it('a method never sees test data: runRecipe refuses a context with a test set', async () => {
    const registry = createRegistry([magnitudePrune]);
    const ctx = { train, val, test: val } as never;
    await expect(
      runRecipe(initModel(ir, 1), { version: 1, stages: [{ method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.5 }] }] }, registry, ctx),
    ).rejects.toMatchObject({ code: 'TEST_DATA_ACCESSED' });
  });

  it('evaluateModel runs a quantized-then-masked model exactly as stored', async () => {
    const base = await toyTrained(ir, train);
    const m = int8Model(base);
    const a = evaluateModel(m, val, { kernels: [] });
    expect(a.accuracy).toBeGreaterThan(0.5);
  });
});
