import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { denseEncoding, maskedEncoding, quantizedEncoding, storageBits, toDense } from '../encodings/index.js';
import { loadWithStockTfjs } from '../node/stockLoad.js';
import type { Encoding } from '../encodings/types.js';
import { isCompressionError, type ErrorCode } from '../errors.js';
import { lenet5 } from '../ir/builders.js';
import { initModel, type Model } from '../model/model.js';
import { chooseQuantParams, quantizeWith } from '../tensor/quant.js';
import { topkMask } from '../tensor/prune.js';
import { predict } from '../train/trainer.js';
import { stockLoad, toyConvIR, withTempDir } from '../testing/index.js';
import { loadModel, saveModel } from '../node/modelio.js';
import { sizeReport } from '../node/size.js';

function quantize(e: { shape: number[]; values: Float32Array }, scheme: 'affine' | 'symmetric' | 'pow2', bits: number, axis: number | null, mask?: Uint8Array): Encoding {
  const p = chooseQuantParams(e.values, e.shape, { scheme, bits, axis, mask });
  const q: Encoding = { kind: 'quantized', shape: e.shape, ...p, codes: quantizeWith(e.values, e.shape, p) };
  return mask ? maskedEncoding(q, mask) : q;
}

/** A toy conv model whose weights use every encoding kind. */
function mixedModel(): Model {
  const m = initModel(toyConvIR(), 11);
  const k1 = m.weights['conv1/kernel'] as { shape: number[]; values: Float32Array };
  const k2 = m.weights['fc1/kernel'] as { shape: number[]; values: Float32Array };
  const k3 = m.weights['fc2/kernel'] as { shape: number[]; values: Float32Array };
  const mask = topkMask(k2.values, Math.round(k2.values.length * 0.2));
  return {
    ir: m.ir,
    weights: {
      ...m.weights,
      'conv1/kernel': quantize(k1, 'affine', 8, null),
      'fc1/kernel': quantize(k2, 'symmetric', 4, -1, mask),
      'fc2/kernel': {
        kind: 'lowRank',
        shape: k3.shape,
        rank: 2,
        s: Float32Array.from([1.5, 0.5]),
        u: denseEncoding(
          [4, 2],
          Float32Array.from({ length: 8 }, (_, i) => Math.sin(i)),
        ),
        v: denseEncoding(
          [16, 2],
          Float32Array.from({ length: 32 }, (_, i) => Math.cos(i)),
        ),
      },
    },
  };
}

const x = (n: number) => Float32Array.from({ length: n * 64 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);

async function expectCode(p: Promise<unknown>, code: ErrorCode, re: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isCompressionError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(re);
}

describe('saveModel / loadModel', () => {
  it('round-trips every encoding exactly (extended format)', async () => {
    await withTempDir(async (dir) => {
      const m = mixedModel();
      const saved = await saveModel(m, dir);
      const back = await loadModel(dir);
      expect(back.format).toBe('extended');
      for (const [name, e] of Object.entries(m.weights)) expect(Array.from(toDense(back.model.weights[name]!)), name).toEqual(Array.from(toDense(e)));
      expect(back.model.weights['fc1/kernel']!.kind).toBe('masked');
      expect(back.model.ir).toEqual(m.ir);
      expect(saved.weights.find((w) => w.name === 'fc1/kernel')!.storedAs).toBe('extension');
      expect(saved.weights.find((w) => w.name === 'conv1/kernel')!.storedAs).toBe('stock');
      expect(saved.bytes).toBeLessThan(saved.stockBytes);
    });
  });

  it('writes files that stock tf.loadLayersModel loads with the same predictions', async () => {
    await withTempDir(async (dir) => {
      for (const [format, shardBytes] of [
        ['extended', undefined],
        ['stock', undefined],
        ['extended', 100],
        ['stock', 64],
      ] as const) {
        const m = mixedModel();
        const saved = await saveModel(m, join(dir, `${format}${shardBytes ?? ''}`), { format, shardBytes });
        const back = await loadModel(saved.modelJson);
        for (const [name, e] of Object.entries(m.weights)) expect(Array.from(toDense(back.model.weights[name]!))).toEqual(Array.from(toDense(e)));
        const stock = await stockLoad(saved.modelJson);
        const ours = predict(m, x(8), 8);
        const theirs = tf.tidy(() => stock.predict(tf.tensor(x(8), [8, 8, 8, 1])).dataSync());
        stock.dispose();
        for (let i = 0; i < ours.length; i++) expect(theirs[i]).toBeCloseTo(ours[i]!, 5);
      }
    });
  });

  it('uses an explicit stock fallback for stock loaders while our loader stays exact', async () => {
    await withTempDir(async (dir) => {
      const m = mixedModel();
      const fc1 = { shape: [64, 16], values: toDense(m.weights['fc1/kernel']!) };
      const fallback = quantize(fc1, 'affine', 8, null);
      const saved = await saveModel(m, dir, { stockFallback: { 'fc1/kernel': fallback } });
      const row = saved.weights.find((w) => w.name === 'fc1/kernel')!;
      expect(row.storedAs).toBe('extension');
      expect(row.stock.dtype).toBe('uint8');
      expect(row.stock.maxAbsError).toBeGreaterThan(0);
      const back = await loadModel(dir);
      expect(Array.from(toDense(back.model.weights['fc1/kernel']!))).toEqual(Array.from(toDense(m.weights['fc1/kernel']!)));
      const stock = await stockLoad(saved.modelJson);
      const theirs = tf.tidy(() => stock.predict(tf.tensor(x(4), [4, 8, 8, 1])).dataSync());
      stock.dispose();
      const expected = predict({ ir: m.ir, weights: { ...m.weights, 'fc1/kernel': fallback } }, x(4), 4);
      for (let i = 0; i < expected.length; i++) expect(theirs[i]).toBeCloseTo(expected[i]!, 5);
      await expectCode(
        saveModel(m, join(dir, 'bad'), { stockFallback: { 'fc1/kernel': denseEncoding([16, 64], new Float32Array(1024)) } }),
        'SHAPE_MISMATCH',
        /stockFallback\['fc1\/kernel'\] has shape \[16,64\]/,
      );
    });
  });

  it('loads a Sequential model saved by stock tfjs-layers (uint8-quantized weights included)', async () => {
    await withTempDir(async (dir) => {
      const model = tfl.sequential();
      model.add(tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, activation: 'relu' }));
      model.add(tfl.layers.batchNormalization());
      model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
      model.add(tfl.layers.averagePooling2d({ poolSize: 1 }));
      model.add(tfl.layers.flatten());
      model.add(tfl.layers.dropout({ rate: 0.2 }));
      model.add(tfl.layers.dense({ units: 5 }));
      model.add(tfl.layers.activation({ activation: 'softmax' }));
      await model.save(
        tf.io.withSaveHandler(async (a) => {
          const data = new Uint8Array(a.weightData as ArrayBuffer);
          await writeFile(join(dir, 'weights.bin'), data);
          await writeFile(
            join(dir, 'model.json'),
            JSON.stringify({
              modelTopology: a.modelTopology,
              format: a.format,
              generatedBy: a.generatedBy,
              convertedBy: a.convertedBy,
              weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
            }),
          );
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
      const ours = await loadModel(join(dir, 'model.json'));
      expect(ours.format).toBe('stock');
      expect(ours.model.ir.layers.map((l) => l.kind)).toEqual(['conv2d', 'batchNorm', 'maxPool2d', 'avgPool2d', 'flatten', 'dropout', 'dense', 'activation']);
      const theirs = tf.tidy(() => (model.predict(tf.tensor(x(4), [4, 8, 8, 1])) as tf.Tensor).dataSync());
      const mine = predict(ours.model, x(4), 4);
      for (let i = 0; i < mine.length; i++) expect(mine[i]).toBeCloseTo(theirs[i]!, 5);
      model.dispose();
    });
  });

  it('loads stock uint8 / float16 weights as quantized encodings, losslessly, with their real storage', async () => {
    await withTempDir(async (dir) => {
      const base = initModel(toyConvIR(), 4);
      const w = base.weights['fc1/kernel']!;
      const v = toDense(w);
      const weights = {
        ...base.weights,
        'fc1/kernel': quantizedEncoding(w.shape, v, chooseQuantParams(v, w.shape, { scheme: 'symmetric', bits: 8, axis: null })),
        'conv1/kernel': quantizedEncoding(
          base.weights['conv1/kernel']!.shape,
          toDense(base.weights['conv1/kernel']!),
          chooseQuantParams(toDense(base.weights['conv1/kernel']!), base.weights['conv1/kernel']!.shape, { scheme: 'float16', bits: 16 }),
        ),
      };
      const m = { ir: base.ir, weights };
      const saved = await saveModel(m, dir, { format: 'stock' });
      const json = JSON.parse(await readFile(saved.modelJson, 'utf8'));
      const entries = json.weightsManifest.flatMap((g: { weights: Array<{ name: string; quantization?: { dtype: string } }> }) => g.weights);
      expect(entries.find((e: { name: string }) => e.name === 'fc1/kernel').quantization.dtype).toBe('uint8');
      expect(entries.find((e: { name: string }) => e.name === 'conv1/kernel').quantization.dtype).toBe('float16');
      const back = (await loadModel(dir)).model;
      const fc1 = back.weights['fc1/kernel']!;
      expect(fc1.kind).toBe('quantized');
      expect((fc1 as { bits: number }).bits).toBe(8);
      expect(back.weights['conv1/kernel']).toMatchObject({ kind: 'quantized', scheme: 'float16' });
      expect(Array.from(toDense(fc1))).toEqual(Array.from(toDense(m.weights['fc1/kernel']!)));
      expect(Array.from(toDense(back.weights['conv1/kernel']!))).toEqual(Array.from(toDense(m.weights['conv1/kernel']!)));
      // storage counts 8 bits per fc1 weight, not 32
      expect(storageBits(fc1)).toBe(v.length * 8 + 32 + 32);
      const stock = await loadWithStockTfjs(saved.modelJson);
      const theirs = tf.tidy(() => stock.predict(tf.tensor(x(4), [4, 8, 8, 1])).dataSync());
      stock.dispose();
      const mine = predict(back, x(4), 4);
      for (let i = 0; i < mine.length; i++) expect(mine[i]).toBeCloseTo(theirs[i]!, 6);
    });
  });

  it('loads a Keras-converter-style model.json (model_config, InputLayer batch_shape, prefixed weight names)', async () => {
    await withTempDir(async (dir) => {
      const k = Float32Array.from({ length: 12 }, (_, i) => i / 10 - 0.5);
      const b = Float32Array.from([0.1, -0.2, 0.3]);
      await writeFile(join(dir, 'group1-shard1of1.bin'), new Uint8Array(new Float32Array([...k, ...b]).buffer));
      await writeFile(
        join(dir, 'model.json'),
        JSON.stringify({
          format: 'layers-model',
          generatedBy: 'keras v3.4.1',
          convertedBy: 'TensorFlow.js Converter v4.22.0',
          modelTopology: {
            keras_version: '3.4.1',
            backend: 'tensorflow',
            model_config: {
              class_name: 'Sequential',
              config: {
                name: 'sequential',
                layers: [
                  { class_name: 'InputLayer', config: { batch_shape: [null, 4], dtype: 'float32', name: 'input_layer' } },
                  {
                    module: 'keras.layers',
                    class_name: 'Dense',
                    config: { name: 'dense', units: 3, activation: 'softmax', use_bias: true, dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } } },
                  },
                ],
              },
            },
          },
          weightsManifest: [
            {
              paths: ['group1-shard1of1.bin'],
              weights: [
                { name: 'sequential/dense/kernel', shape: [4, 3], dtype: 'float32' },
                { name: 'sequential/dense/bias', shape: [3], dtype: 'float32' },
              ],
            },
          ],
        }),
      );
      const m = await loadModel(dir);
      expect(m.model.ir.inputShape).toEqual([4]);
      expect(Array.from(toDense(m.model.weights['dense/kernel']!))).toEqual(Array.from(k));
      expect(Array.from(predict(m.model, Float32Array.from([1, 0, 0, 0]), 1)).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
    });
  });

  it('rejects a functional model without one input and one output, and unsupported activations, with the fix', async () => {
    await withTempDir(async (dir) => {
      await writeFile(
        join(dir, 'model.json'),
        JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Functional', config: { layers: [] } }, weightsManifest: [] }),
      );
      await expectCode(
        loadModel(dir),
        'UNSUPPORTED_LAYER',
        /has 0 inputs and 0 outputs; only one of each is supported.*one input and one output, each layer called once; joins by Add or Concatenate/,
      );
      await writeFile(
        join(dir, 'model.json'),
        JSON.stringify({
          format: 'layers-model',
          modelTopology: {
            class_name: 'Sequential',
            config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, activation: 'thresholded_relu', batch_input_shape: [null, 3] } }] },
          },
          weightsManifest: [],
        }),
      );
      await expectCode(loadModel(dir), 'UNSUPPORTED_LAYER', /activation 'thresholded_relu' of layer 'd' is not supported/);
    });
  });

  it('reports raw, gzip and stock in-memory sizes', async () => {
    await withTempDir(async (dir) => {
      const m = initModel(lenet5(), 1);
      const saved = await saveModel(m, dir);
      const r = await sizeReport(saved.files, m.ir);
      expect(r.stockInMemoryBytes).toBe(431_080 * 4);
      expect(r.rawBytes).toBe(saved.bytes);
      expect(r.gzipBytes).toBeLessThan(r.rawBytes);
      expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
      // The in-memory figure is what stock tfjs really allocates.
      const before = tf.memory().numBytes;
      const stock = await stockLoad(saved.modelJson);
      expect(tf.memory().numBytes - before).toBe(r.stockInMemoryBytes);
      stock.dispose();
    });
  });
});

describe('bad model files give typed errors naming the file and field', () => {
  const setup = async (dir: string) => {
    const m = initModel(toyConvIR(), 1);
    await saveModel(m, dir, { format: 'stock' });
    return JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a model.json the tests edit freely
  };
  it('truncated shard', async () => {
    await withTempDir(async (dir) => {
      await setup(dir);
      const f = join(dir, 'group1-shard1of1.bin');
      const b = await readFile(f);
      await writeFile(f, b.subarray(0, b.byteLength - 10));
      await expectCode(loadModel(dir), 'BAD_MODEL_FILE', /hold \d+ bytes but the manifest's weights need \d+.*truncated/);
    });
  });
  it('wrong byte length (extra bytes)', async () => {
    await withTempDir(async (dir) => {
      await setup(dir);
      const f = join(dir, 'group1-shard1of1.bin');
      await writeFile(f, Buffer.concat([await readFile(f), Buffer.alloc(12)]));
      await expectCode(loadModel(dir), 'BAD_MODEL_FILE', /do not belong to this model.json/);
    });
  });
  it('missing shard', async () => {
    await withTempDir(async (dir) => {
      const j = await setup(dir);
      j.weightsManifest[0].paths = ['nope.bin'];
      await writeFile(join(dir, 'model.json'), JSON.stringify(j));
      await expectCode(loadModel(dir), 'BAD_MODEL_FILE', /nope\.bin.*no such file/);
    });
  });
  it('unknown layer', async () => {
    await withTempDir(async (dir) => {
      const j = await setup(dir);
      j.modelTopology.config.layers[1].class_name = 'MaxPoling2D';
      await writeFile(join(dir, 'model.json'), JSON.stringify(j));
      await expectCode(loadModel(dir), 'UNSUPPORTED_LAYER', /layers\[1\].*MaxPoling2D.*did you mean 'MaxPooling2D'/);
    });
  });
  it('NaN weights', async () => {
    await withTempDir(async (dir) => {
      await setup(dir);
      const f = join(dir, 'group1-shard1of1.bin');
      const b = new Uint8Array(await readFile(f));
      new DataView(b.buffer).setFloat32(4 * 5, NaN, true);
      await writeFile(f, b);
      await expectCode(loadModel(dir), 'BAD_MODEL_FILE', /conv1\/kernel.*non-finite.*index 5/);
    });
  });
  it('shape mismatch between topology and weights', async () => {
    await withTempDir(async (dir) => {
      const j = await setup(dir);
      j.weightsManifest[0].weights[0].shape = [3, 3, 4, 1];
      await writeFile(join(dir, 'model.json'), JSON.stringify(j));
      await expectCode(loadModel(dir), 'SHAPE_MISMATCH', /conv1\/kernel' has shape \[3,3,4,1\] but layer 'conv1' needs \[3,3,1,4\]/);
    });
  });
  it('invalid JSON and non-layers formats', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'model.json'), '{"modelTopology": ');
      await expectCode(loadModel(dir), 'BAD_MODEL_FILE', /not valid JSON/);
      await writeFile(join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: {} }));
      await expectCode(loadModel(dir), 'UNSUPPORTED_LAYER', /graph-model/);
    });
  });
  it('a corrupt extension payload', async () => {
    await withTempDir(async (dir) => {
      await saveModel(mixedModel(), dir);
      const f = join(dir, 'model.ec.bin');
      const b = await readFile(f);
      await writeFile(f, b.subarray(0, 3));
      await expectCode(loadModel(dir), 'BAD_MODEL_FILE', /truncated/);
    });
  });
  it('never leaves a half-written file when saving fails', async () => {
    await withTempDir(async (dir) => {
      const m = initModel(toyConvIR(), 1);
      (m.weights['fc1/kernel'] as { values: Float32Array }).values[3] = NaN;
      await expectCode(saveModel(m, dir), 'BAD_MODEL_FILE', /fc1\/kernel.*non-finite/);
      expect(await readdir(dir)).toEqual([]);
    });
    // A failure after the shards are written (model.json cannot be renamed into place): nothing is left behind.
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'model.json'));
      await writeFile(join(dir, 'model.json', 'keep'), 'x');
      await expectCode(saveModel(initModel(toyConvIR(), 1), dir), 'BAD_MODEL_FILE', /could not write/);
      expect(await readdir(dir)).toEqual(['model.json']);
    });
  });
});
