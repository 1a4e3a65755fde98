import * as tf from '@tensorflow/tfjs-core';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createRegistry, defineCompressor } from '../compressor.js';
import { isCompressionError } from '../errors.js';
import { loadModel, saveModel } from '../node/modelio.js';
import { sizeOf } from '../ir/shapes.js';
import { createRunner, defineKernel } from '../model/runner.js';
import { optionsSchema, ruleSchema } from '../recipe/schema.js';
import { blockSparseFromMask } from './kinds/blockSparse.js';
import { toyConvIR, toyData, toyTrained, withTempDir } from '../testing/index.js';
import { defineEncoding, denseEncoding, type Encoding, storageBits, toDense } from './index.js';
import { trainThroughEncodings } from '../train/through.js';
import { evaluateModel, predict } from '../train/trainer.js';

/** A kind defined the way a method package would: fp32 values times one shared scale. */
interface ScaledEncoding {
  kind: 'scaled';
  shape: number[];
  scale: number;
  values: Encoding;
}
declare module './types.js' {
  interface EncodingKinds {
    scaled: ScaledEncoding;
  }
}
const scaledKind = defineEncoding<ScaledEncoding>({
  kind: 'scaled',
  provider: '@example/scaled',
  description: 'values × one scale',
  elementwise: false,
  children: (e) => ({ values: e.values }),
  withChildren: (e, c) => ({ ...e, values: c.values! }),
  toDense: (e) => Float32Array.from(toDense(e.values), (v) => v * e.scale),
  ownBits: () => 32,
  ownValues: () => 1,
  write: (e, w, _k, child) => ({ kind: 'scaled', shape: e.shape, scale: w.f32(Float32Array.of(e.scale)), values: child('values', e.values) }),
  read: (d, r, path, _k, child) => ({ kind: 'scaled', shape: d.shape, scale: r.f32(d.scale, `${path}.scale`, 1)[0]!, values: child('values') }),
  train: { assemble: (e, c) => tf.mul(c.values!, e.scale), rebuild: (e, c) => ({ ...e, values: c.values! }) },
});

const ir = toyConvIR();
const train = toyData(256, ir.inputShape, 1);
const val = toyData(96, ir.inputShape, 2);

describe('encoding kinds from outside core', () => {
  it('a kind defined in a package saves, loads, trains and runs once its compressor is registered', async () => {
    const base = await toyTrained(ir, train);
    const v = toDense(base.weights['fc1/kernel']!);
    const enc: ScaledEncoding = {
      kind: 'scaled',
      shape: [...base.weights['fc1/kernel']!.shape],
      scale: 0.5,
      values: denseEncoding(
        base.weights['fc1/kernel']!.shape,
        v.map((x) => x * 2),
      ),
    };
    const model = { ir, weights: { ...base.weights, 'fc1/kernel': enc } };
    const owner = defineCompressor({
      name: 'scaler',
      description: 'test',
      config: ruleSchema({}),
      options: optionsSchema({}),
      encodings: [scaledKind],
      compress: async (m) => ({ model: m, report: { method: 'scaler', layers: [], metrics: {}, warnings: [] } }),
    });
    await withTempDir(async (dir) => {
      // Before registration: a clear error naming the kind and the package that provides it.
      let err: unknown;
      try {
        await saveModel(model, dir);
      } catch (e) {
        err = e;
      }
      expect(isCompressionError(err, 'UNKNOWN_ENCODING')).toBe(true);
      createRegistry([owner]);
      const saved = await saveModel(model, dir);
      expect(saved.weights.find((w) => w.name === 'fc1/kernel')!.storageBits).toBe(storageBits(enc));
      const back = await loadModel(dir);
      expect(back.model.weights['fc1/kernel']).toEqual(enc);
      const x = val.images.subarray(0, 16 * sizeOf(val.shape));
      expect(Array.from(predict(back.model, x, 16))).toEqual(Array.from(predict(base, x, 16)));
      const tt = trainThroughEncodings(back.model, ['fc1/kernel']);
      await tt.fit(train, { epochs: 1, batchSize: 64, seed: 1 });
      expect(tt.toModel().weights['fc1/kernel']!.kind).toBe('scaled');
      tt.dispose();
      // A file naming an unregistered kind fails with the provider named.
      const json = JSON.parse(await readFile(saved.modelJson, 'utf8'));
      json.edgeCompress.weights['fc1/kernel'].kind = 'mystery';
      json.edgeCompress.weights['fc1/kernel'].provider = '@example/mystery';
      await writeFile(saved.modelJson, JSON.stringify(json));
      await expect(loadModel(dir)).rejects.toMatchObject({ code: 'UNKNOWN_ENCODING', message: expect.stringMatching(/'mystery'.*@example\/mystery/) });
    });
  });

  it('createRunner uses a registered kernel by encoding kind: same predictions, no leaks', async () => {
    const base = await toyTrained(ir, train);
    const w = base.weights['fc1/kernel']!;
    const mask = Uint8Array.from(toDense(w), (_, i) => (Math.floor(i / 16) % 2 === 0 ? 1 : 0));
    const model = { ir, weights: { ...base.weights, 'fc1/kernel': blockSparseFromMask(w.shape, mask, toDense(w), [4, 16]) } };
    let calls = 0;
    // A plain JS block-sparse kernel: y = x · W + b via the dense matrix (counts its calls).
    const k = defineKernel({
      name: 'test-blocksparse',
      kind: 'blockSparse',
      layers: ['dense'],
      prepare(_layer, e, bias) {
        const wt = tf.keep(tf.tensor(toDense(e), e.shape, 'float32'));
        const bt = bias ? tf.keep(tf.tensor1d(bias)) : undefined;
        return {
          run: (x) => (calls++, tf.tidy(() => (bt ? tf.add(tf.matMul(x as tf.Tensor2D, wt as tf.Tensor2D), bt) : tf.matMul(x as tf.Tensor2D, wt as tf.Tensor2D)))),
          dispose: () => tf.dispose([wt, ...(bt ? [bt] : [])]),
        };
      },
    });
    const owner = defineCompressor({
      name: 'bsowner',
      description: 'test',
      config: ruleSchema({}),
      options: optionsSchema({}),
      kernels: [k],
      compress: async (m) => ({ model: m, report: { method: 'bsowner', layers: [], metrics: {}, warnings: [] } }),
    });
    createRegistry([owner]);
    const before = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    const r = createRunner(model);
    expect(r.kernelsUsed).toEqual({ conv1: 'dense', fc1: 'test-blocksparse', fc2: 'dense' });
    const x = val.images.subarray(0, 32 * sizeOf(val.shape));
    const ours = r.predict(x, 32);
    r.dispose();
    const after = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    expect(calls).toBe(1);
    const dense = predict(model, x, 32, { kernels: [] });
    ours.forEach((p, i) => expect(Math.abs(p - dense[i]!)).toBeLessThan(1e-5));
    const ev = evaluateModel(model, val);
    expect(calls).toBeGreaterThan(1);
    expect(ev.accuracy).toBe(evaluateModel(model, val, { kernels: [] }).accuracy);
  });
});
