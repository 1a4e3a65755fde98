import * as tf from '@tensorflow/tfjs-core';
import { denseEncoding, loadModel, maskedEncoding, type Model, predict, toDense, topkMask } from '@edge-compress/core';
import { stockLoad, withTempDir } from '@edge-compress/core/testing';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportQuantized, quantize } from '../src/node.js';
import { expectCode, trainedToy } from './helpers.js';

async function quantized(configList: unknown[], base?: Model): Promise<Model> {
  const { model, ctx } = await trainedToy();
  const m = base ?? model;
  return (await quantize.compress(m, ctx, quantize.plan(m.ir, configList, { activations: null }))).model;
}

async function stockPredict(modelJson: string, images: Float32Array, n: number): Promise<Float32Array> {
  const s = await stockLoad(modelJson);
  try {
    return tf.tidy(() => s.predict(tf.tensor(images, [n, 8, 8, 1])).dataSync() as Float32Array);
  } finally {
    s.dispose();
  }
}

const argmax = (p: Float32Array, k = 4): number[] =>
  Array.from({ length: p.length / k }, (_, i) => p.subarray(i * k, i * k + k).indexOf(Math.max(...p.subarray(i * k, i * k + k))));

describe('exportQuantized', () => {
  it('per-tensor int8 exports as stock uint8 exactly: tf.loadLayersModel predicts what our fake-quantized forward does', async () => {
    const { ctx } = await trainedToy();
    const q = await quantized([{ op_types: ['conv2d', 'dense'], quant_dtype: 'int8' }]);
    await withTempDir(async (dir) => {
      const r = await exportQuantized(q, dir, { stock: true, data: ctx.val });
      expect(r.lost).toEqual([]);
      expect(r.predictionMatch).toBe(1);
      const kernels = r.layers.filter((l) => l.weight.endsWith('/kernel'));
      expect(kernels.map((l) => [l.dtype, l.maxAbsError < 1e-6])).toEqual([
        ['uint8', true],
        ['uint8', true],
        ['uint8', true],
      ]);
      const json = JSON.parse(await readFile(r.modelJson, 'utf8'));
      expect(json.edgeCompress).toBeUndefined();
      expect(json.weightsManifest[0].weights[0].quantization).toMatchObject({ dtype: 'uint8', original_dtype: 'float32' });
      const n = 64;
      const ours = predict(q, ctx.val.images.subarray(0, n * 64), n);
      const theirs = await stockPredict(r.modelJson, ctx.val.images.subarray(0, n * 64), n);
      for (let i = 0; i < ours.length; i++) expect(theirs[i]).toBeCloseTo(ours[i]!, 5);
      // Honest sizes: 1 byte per kernel weight on disk, 4 bytes in memory after a stock load.
      expect(r.total.stockInMemoryBytes).toBe(1148 * 4);
      expect(r.inMemoryNote).toMatch(/dequantizes .* to float32/);
      expect(kernels.reduce((a, l) => a + l.rawBytes, 0)).toBe(36 + 1024 + 64);
      expect(r.total.rawBytes).toBe(r.total.stockRawBytes);
      expect(r.total.gzipBytes).toBeLessThan(r.total.rawBytes);
    });
  });

  it('per-channel int8: extended is exact and smaller; stock widens per tensor, reports the loss and keeps predictions', async () => {
    const { ctx } = await trainedToy();
    const q = await quantized([{ op_types: ['conv2d', 'dense'], quant_dtype: 'int8', granularity: 'out_channel' }]);
    await withTempDir(async (dir) => {
      const ext = await exportQuantized(q, join(dir, 'ext'));
      expect(ext.format).toBe('extended');
      expect(ext.layers.filter((l) => l.storedAs === 'extension').map((l) => l.weight)).toEqual(['conv1/kernel', 'fc1/kernel', 'fc2/kernel']);
      const back = await loadModel(ext.modelJson);
      for (const [n, e] of Object.entries(q.weights)) expect(Array.from(toDense(back.model.weights[n]!))).toEqual(Array.from(toDense(e)));
      expect(ext.total.rawBytes).toBeLessThan(ext.total.stockRawBytes);
      for (const widen of ['auto', 'uint8', 'uint16', 'float32'] as const) {
        const r = await exportQuantized(q, join(dir, widen), { stock: true, widen, data: ctx.train });
        expect(r.lost.map((l) => l.weight)).toEqual(['conv1/kernel', 'fc1/kernel', 'fc2/kernel']);
        if (widen !== 'auto') expect(r.lost.every((l) => l.widenedTo === widen)).toBe(true);
        if (widen === 'auto') expect(r.predictionMatch).toBe(1);
        for (const l of r.lost) expect(l.from).toBe('8-bit symmetric per-channel');
        if (widen === 'float32') expect(r.lost.every((l) => l.maxAbsError === 0)).toBe(true);
        // The stock loader's predictions equal our decode of the same file, and agree with our model's top-1.
        const n = 100;
        const imgs = ctx.val.images.subarray(0, n * 64);
        const theirs = await stockPredict(r.modelJson, imgs, n);
        const decoded = predict((await loadModel(r.modelJson)).model, imgs, n);
        for (let i = 0; i < decoded.length; i++) expect(theirs[i]).toBeCloseTo(decoded[i]!, 5);
        if (widen !== 'uint8') expect(argmax(theirs)).toEqual(argmax(predict(q, imgs, n)));
      }
    });
  });

  it('extended format: our loader is exact, and stock loaders get the smallest fallback that keeps predictions', async () => {
    const { ctx } = await trainedToy();
    const q = await quantized([{ op_types: ['conv2d', 'dense'], quant_dtype: 'int8', granularity: 'out_channel' }]);
    await withTempDir(async (dir) => {
      const r = await exportQuantized(q, join(dir, 'auto'), { data: ctx.train });
      const back = await loadModel(r.modelJson);
      for (const [n, e] of Object.entries(q.weights)) expect(Array.from(toDense(back.model.weights[n]!))).toEqual(Array.from(toDense(e)));
      expect(r.predictionMatch).toBe(1);
      expect(r.lost.map((l) => l.weight)).toEqual(['conv1/kernel', 'fc1/kernel', 'fc2/kernel']);
      for (const l of r.lost) expect(['uint8', 'uint16']).toContain(l.widenedTo);
      // Fallback shards hold one or two bytes per kernel weight, not four: at least 2 bytes saved per kernel weight
      // against a float32 fallback.
      const f32 = await exportQuantized(q, join(dir, 'f32'), { widen: 'float32' });
      const kernelElems = ['conv1/kernel', 'fc1/kernel', 'fc2/kernel'].reduce((a, n) => a + toDense(q.weights[n]!).length, 0);
      expect(f32.total.stockRawBytes - r.total.stockRawBytes).toBeGreaterThanOrEqual(2 * kernelElems);
      const n = 100;
      const imgs = ctx.train.images.subarray(0, n * 64);
      expect(argmax(await stockPredict(r.modelJson, imgs, n))).toEqual(argmax(predict(q, imgs, n)));
    });
  });

  it('≤ 8-bit per-tensor codes export as exact stock uint8, 9–16-bit as exact uint16', async () => {
    for (const [dtype, stock] of [
      ['int4', 'uint8'],
      ['uint3', 'uint8'],
      ['int12', 'uint16'],
      ['uint16', 'uint16'],
    ] as const) {
      const q = await quantized([{ op_types: ['conv2d', 'dense'], quant_dtype: dtype }]);
      await withTempDir(async (dir) => {
        const r = await exportQuantized(q, dir, { stock: true });
        expect(r.lost).toEqual([]);
        const back = (await loadModel(r.modelJson)).model;
        for (const l of r.layers.filter((x) => x.weight.endsWith('/kernel'))) {
          expect(l.dtype).toBe(stock);
          const a = toDense(back.weights[l.weight]!),
            b = toDense(q.weights[l.weight]!);
          for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b[i]!)));
        }
      });
    }
  });

  it('a pruned, quantized model exports zeros exactly in both formats', async () => {
    const { model } = await trainedToy();
    const k = toDense(model.weights['fc1/kernel']!);
    const mask = topkMask(k, 200);
    const masked: Model = { ir: model.ir, weights: { ...model.weights, 'fc1/kernel': maskedEncoding(denseEncoding([64, 16], k), mask) } };
    const q = await quantized([{ op_types: ['dense'], quant_dtype: 'uint8', quant_scheme: 'affine' }], masked);
    await withTempDir(async (dir) => {
      for (const stock of [true, false]) {
        const r = await exportQuantized(q, join(dir, String(stock)), { stock });
        const back = (await loadModel(r.modelJson)).model;
        const v = toDense(back.weights['fc1/kernel']!);
        for (let i = 0; i < v.length; i++) if (!mask[i]) expect(v[i]).toBe(0);
        expect(Array.from(v)).toEqual(Array.from(toDense(q.weights['fc1/kernel']!)));
      }
    });
  });

  it('a NaN weight is BAD_MODEL_FILE and nothing is written', async () => {
    const { model } = await trainedToy();
    const bad: Model = {
      ir: model.ir,
      weights: {
        ...model.weights,
        'fc2/kernel': denseEncoding(
          [16, 4],
          Float32Array.from({ length: 64 }, (_, i) => (i === 5 ? NaN : 0.1)),
        ),
      },
    };
    await withTempDir(async (dir) => {
      const out = join(dir, 'never');
      await expectCode(() => exportQuantized(bad, out, { stock: true }), 'BAD_MODEL_FILE', /fc2\/kernel.*non-finite.*index 5/);
      expect(existsSync(out)).toBe(false);
    });
  });
});
