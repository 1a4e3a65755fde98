import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { subset } from '../data/dataset.js';
import { loadMnist } from '../node/mnist.js';
import { blockSparseFromMask, denseEncoding, mapLeaves, maskedEncoding, nmFromMask, quantizedEncoding, toDense } from '../encodings/index.js';
import type { Encoding, QuantizedEncoding } from '../encodings/types.js';
import { isCompressionError, type ErrorCode } from '../errors.js';
import { inferShapes, sizeOf } from '../ir/shapes.js';
import type { Layer, ModelIR } from '../ir/types.js';
import { initModel, type Model } from '../model/model.js';
import { chooseQuantParams, quantizeWith, type QuantScheme } from '../tensor/quant.js';
import { topkMask } from '../tensor/prune.js';
import { createRng } from '../tensor/rng.js';
import { predict, Trainer } from '../train/trainer.js';
import { withTempDir } from '../testing/index.js';
import { loadModel } from '../node/modelio.js';
import { chwToHwcIndex, exportOnnx, toOnnx, transposeArray } from './onnx.js';

const FC = { seed: 20261202, numRuns: 25 };
const O = onnxProto.onnx;

/** Runs ONNX bytes in onnxruntime-node (one thread: the machine is shared) on NHWC inputs. */
async function runOrt(bytes: Uint8Array, images: Float32Array, count: number, inputShape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', images.subarray(0, count * sizeOf(inputShape)), [count, ...inputShape]) });
    return Float32Array.from(out.output!.data as Float32Array);
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function argmaxRows(p: ArrayLike<number>, classes: number): Int32Array {
  const n = p.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (p[i * classes + c]! > p[i * classes + best]!) best = c;
    out[i] = best;
  }
  return out;
}

function uniformImages(count: number, shape: number[], seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: count * sizeOf(shape) }, () => rng.next());
}

function expectCode(fn: () => unknown, code: ErrorCode, re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isCompressionError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(re);
}

/** LeNet-5-like: same and valid convs, max and avg pools, batch norm, a stand-alone activation, dropout. */
function lenetLikeIR(): ModelIR {
  return {
    format: 'edge-compress/ir',
    version: 1,
    name: 'lenetlike',
    inputShape: [28, 28, 1],
    layers: [
      { kind: 'conv2d', name: 'conv1', filters: 6, kernelSize: [5, 5], strides: [1, 1], padding: 'same', activation: 'relu', useBias: true },
      { kind: 'maxPool2d', name: 'pool1', poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
      { kind: 'conv2d', name: 'conv2', filters: 16, kernelSize: [5, 5], strides: [1, 1], padding: 'valid', activation: 'linear', useBias: true },
      { kind: 'batchNorm', name: 'bn2', epsilon: 1e-3, momentum: 0.99, center: true, scale: true },
      { kind: 'activation', name: 'relu2', activation: 'relu' },
      { kind: 'avgPool2d', name: 'pool2', poolSize: [2, 2], strides: [2, 2], padding: 'same' },
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dropout', name: 'drop', rate: 0.25 },
      { kind: 'dense', name: 'fc1', units: 32, activation: 'tanh', useBias: true },
      { kind: 'dense', name: 'fc2', units: 10, activation: 'softmax', useBias: true },
    ],
  };
}

/** `bnScale: false` is export-only: core's trainer cannot train a batch norm without gamma yet (tfjs gradient saves an undefined scale). */
function mlpIR(bnScale = false): ModelIR {
  return {
    format: 'edge-compress/ir',
    version: 1,
    name: 'mlp',
    inputShape: [784],
    layers: [
      { kind: 'dense', name: 'fc1', units: 64, activation: 'relu', useBias: true },
      { kind: 'batchNorm', name: 'bn1', epsilon: 1e-3, momentum: 0.99, center: true, scale: bnScale },
      { kind: 'dense', name: 'fc2', units: 32, activation: 'sigmoid', useBias: true },
      { kind: 'dense', name: 'fc3', units: 10, activation: 'softmax', useBias: true },
    ],
  };
}

/** Random weights with non-trivial batch-norm statistics and biases (initModel zeroes them). */
function randomModel(ir: ModelIR, seed: number): Model {
  const m = initModel(ir, seed);
  const rng = createRng(seed + 77);
  const weights: Record<string, Encoding> = {};
  for (const [name, e] of Object.entries(m.weights)) {
    const v = Float32Array.from(toDense(e));
    if (name.endsWith('/bias') || name.endsWith('/beta') || name.endsWith('/moving_mean')) for (let i = 0; i < v.length; i++) v[i] = 0.2 * rng.normal();
    if (name.endsWith('/gamma')) for (let i = 0; i < v.length; i++) v[i] = 0.5 + rng.next();
    if (name.endsWith('/moving_variance')) for (let i = 0; i < v.length; i++) v[i] = 0.2 + 2 * rng.next();
    weights[name] = denseEncoding(e.shape, v);
  }
  return { ir, weights };
}

function quantized(e: Encoding, scheme: QuantScheme, bits: number, axis: number | null): QuantizedEncoding {
  const v = toDense(e);
  const p = chooseQuantParams(v, e.shape, { scheme, bits, axis });
  return { kind: 'quantized', shape: [...e.shape], ...p, codes: quantizeWith(v, e.shape, p) };
}

async function trained(ir: ModelIR, seed: number): Promise<{ model: Model; train: ReturnType<typeof loadMnist>['train']; test: ReturnType<typeof loadMnist>['test'] }> {
  const { train, test } = loadMnist({ shape: ir.inputShape });
  const t = new Trainer(initModel(ir, seed));
  try {
    await t.fit(subset(train, 2048), { epochs: 2, batchSize: 64, seed, optimizer: { kind: 'adam', lr: 2e-3 } });
    return { model: t.toModel(), train, test };
  } finally {
    t.dispose();
  }
}

describe('layout helpers', () => {
  it('transposeArray agrees with tf.transpose on random shapes and permutations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((shape) =>
          fc.tuple(
            fc.constant(shape),
            fc.shuffledSubarray(
              shape.map((_, i) => i),
              { minLength: shape.length, maxLength: shape.length },
            ),
          ),
        ),
        ([shape, perm]) => {
          const src = Float32Array.from({ length: sizeOf(shape) }, (_, i) => i);
          const expected = tf.tidy(() => tf.transpose(tf.tensor(src, shape), perm).dataSync());
          expect(Array.from(transposeArray(src, shape, perm))).toEqual(Array.from(expected));
        },
      ),
      FC,
    );
  });
  it('chwToHwcIndex maps an NCHW flatten to the NHWC flatten', () => {
    // [h=2,w=1,c=3]: NHWC flat order (y,x,c) = 00 01 02 10 11 12; NCHW flat (c,y,x) = c0y0 c0y1 c1y0 c1y1 c2y0 c2y1
    expect(Array.from(chwToHwcIndex(2, 1, 3))).toEqual([0, 3, 1, 4, 2, 5]);
  });
});

describe('toOnnx dense: onnxruntime-node matches our forward (max abs diff ≤ 1e-4)', () => {
  it('LeNet-5-like conv net (same/valid conv, max/avg pool, batch norm, activation, dropout, flatten)', async () => {
    const m = randomModel(lenetLikeIR(), 3);
    const x = uniformImages(16, [28, 28, 1], 5);
    const bytes = toOnnx(m);
    const ours = predict(m, x, 16);
    const theirs = await runOrt(bytes, x, 16, [28, 28, 1]);
    expect(maxAbsDiff(theirs, ours)).toBeLessThanOrEqual(1e-4);
    // the outputs are probabilities (softmax kept), so a rows sums to one
    expect(theirs.slice(0, 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('MLP with batch norm (no scale) and sigmoid', async () => {
    const m = randomModel(mlpIR(), 4);
    const x = uniformImages(32, [784], 6);
    const theirs = await runOrt(toOnnx(m), x, 32, [784]);
    expect(maxAbsDiff(theirs, predict(m, x, 32))).toBeLessThanOrEqual(1e-4);
  });

  it('compressed encodings (masked, quantized affine/symmetric, low rank) export as their dense values', async () => {
    const m = randomModel(lenetLikeIR(), 8);
    const k1 = m.weights['conv1/kernel']!;
    const k2 = m.weights['conv2/kernel']!;
    const f1 = m.weights['fc1/kernel']!;
    const f2 = m.weights['fc2/kernel']!;
    const mask = topkMask(toDense(f1), Math.round(0.1 * sizeOf(f1.shape)));
    const c: Model = {
      ir: m.ir,
      weights: {
        ...m.weights,
        'conv1/kernel': quantized(k1, 'affine', 8, null),
        'conv2/kernel': quantized(k2, 'symmetric', 4, -1),
        'fc1/kernel': maskedEncoding(denseEncoding(f1.shape, toDense(f1)), mask),
        'fc2/kernel': {
          kind: 'lowRank',
          shape: [32, 10],
          rank: 3,
          s: Float32Array.from([2, 1, 0.5]),
          u: denseEncoding([10, 3], uniformImages(1, [30], 9)),
          v: denseEncoding([32, 3], uniformImages(1, [96], 10)),
        },
      },
    };
    const x = uniformImages(8, [28, 28, 1], 11);
    const theirs = await runOrt(toOnnx(c, { format: 'dense' }), x, 8, [28, 28, 1]);
    const ours = predict(c, x, 8);
    expect(maxAbsDiff(theirs, ours)).toBeLessThanOrEqual(1e-4);
    // and it is really the compressed model that was exported, not the original
    expect(maxAbsDiff(ours, predict(m, x, 8))).toBeGreaterThan(1e-3);
  });

  it('any conv / pool geometry (kernel, stride, same/valid padding) matches (fast-check)', async () => {
    const arb = fc.record({
      h: fc.integer({ min: 3, max: 11 }),
      w: fc.integer({ min: 3, max: 11 }),
      c: fc.integer({ min: 1, max: 3 }),
      f: fc.integer({ min: 1, max: 4 }),
      kh: fc.integer({ min: 1, max: 4 }),
      kw: fc.integer({ min: 1, max: 4 }),
      sh: fc.integer({ min: 1, max: 3 }),
      sw: fc.integer({ min: 1, max: 3 }),
      pad: fc.constantFrom('same' as const, 'valid' as const),
      pool: fc.constantFrom('maxPool2d' as const, 'avgPool2d' as const),
      pk: fc.integer({ min: 1, max: 3 }),
      ps: fc.integer({ min: 1, max: 3 }),
      ppad: fc.constantFrom('same' as const, 'valid' as const),
      seed: fc.nat(1000),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const ir: ModelIR = {
          format: 'edge-compress/ir',
          version: 1,
          name: 'geom',
          inputShape: [p.h, p.w, p.c],
          layers: [
            { kind: 'conv2d', name: 'conv', filters: p.f, kernelSize: [p.kh, p.kw], strides: [p.sh, p.sw], padding: p.pad, activation: 'relu', useBias: true },
            { kind: p.pool, name: 'pool', poolSize: [p.pk, p.pk], strides: [p.ps, p.ps], padding: p.ppad },
            { kind: 'flatten', name: 'flat' },
            { kind: 'dense', name: 'fc', units: 3, activation: 'linear', useBias: true },
          ],
        };
        try {
          inferShapes(ir);
        } catch {
          return; // geometry that no model can have (e.g. a valid kernel larger than the input)
        }
        const m = randomModel(ir, p.seed);
        const x = uniformImages(3, ir.inputShape, p.seed + 1);
        const theirs = await runOrt(toOnnx(m), x, 3, ir.inputShape);
        expect(maxAbsDiff(theirs, predict(m, x, 3))).toBeLessThanOrEqual(1e-4);
      }),
      FC,
    );
  });

  it('a conv net without flatten keeps the NHWC output layout', async () => {
    const ir: ModelIR = {
      format: 'edge-compress/ir',
      version: 1,
      name: 'fcn',
      inputShape: [6, 5, 2],
      layers: [{ kind: 'conv2d', name: 'conv', filters: 3, kernelSize: [3, 3], strides: [2, 1], padding: 'same', activation: 'softmax', useBias: false }],
    };
    const m = randomModel(ir, 1);
    const x = uniformImages(2, ir.inputShape, 2);
    const e = exportOnnx(m);
    expect(e.outputShape).toEqual(['N', 3, 5, 3]);
    expect(maxAbsDiff(await runOrt(e.bytes, x, 2, ir.inputShape), predict(m, x, 2))).toBeLessThanOrEqual(1e-4);
  });

  it('batch norm after an NCHW flatten, and a flattened output, keep the tfjs feature order', async () => {
    const ir: ModelIR = {
      format: 'edge-compress/ir',
      version: 1,
      name: 'flatout',
      inputShape: [4, 3, 2],
      layers: [
        { kind: 'maxPool2d', name: 'pool', poolSize: [1, 1], strides: [1, 1], padding: 'valid' },
        { kind: 'flatten', name: 'flat' },
        { kind: 'batchNorm', name: 'bn', epsilon: 1e-3, momentum: 0.99, center: true, scale: true },
        { kind: 'activation', name: 'sm', activation: 'softmax' },
      ],
    };
    const m = randomModel(ir, 4);
    const x = uniformImages(3, ir.inputShape, 4);
    const e = exportOnnx(m);
    expect(e.outputShape).toEqual(['N', 24]);
    expect(maxAbsDiff(await runOrt(e.bytes, x, 3, ir.inputShape), predict(m, x, 3))).toBeLessThanOrEqual(1e-4);
  });

  it('a model saved by stock tfjs-layers, loaded with loadModel, matches tfjs-layers predict', async () => {
    await withTempDir(async (dir) => {
      const model = tfl.sequential();
      model.add(
        tfl.layers.conv2d({
          inputShape: [12, 12, 1],
          filters: 4,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          activation: 'relu',
          biasInitializer: 'randomNormal',
          seed: 1,
        } as never),
      );
      model.add(
        tfl.layers.batchNormalization({
          movingMeanInitializer: 'randomNormal',
          movingVarianceInitializer: 'ones',
          gammaInitializer: 'randomUniform',
          betaInitializer: 'randomNormal',
        } as never),
      );
      model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
      model.add(tfl.layers.conv2d({ filters: 5, kernelSize: 2, activation: 'tanh' }));
      model.add(tfl.layers.averagePooling2d({ poolSize: 1 }));
      model.add(tfl.layers.flatten());
      model.add(tfl.layers.dropout({ rate: 0.2 }));
      model.add(tfl.layers.dense({ units: 6, activation: 'sigmoid' }));
      model.add(tfl.layers.dense({ units: 5 }));
      model.add(tfl.layers.activation({ activation: 'softmax' }));
      await model.save(
        tf.io.withSaveHandler(async (a) => {
          await writeFile(join(dir, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
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
      const loaded = await loadModel(join(dir, 'model.json'));
      expect(loaded.format).toBe('stock');
      const x = uniformImages(8, [12, 12, 1], 3);
      const stock = tf.tidy(() => (model.predict(tf.tensor(x, [8, 12, 12, 1])) as tf.Tensor).dataSync());
      model.dispose();
      const theirs = await runOrt(toOnnx(loaded.model), x, 8, [12, 12, 1]);
      expect(maxAbsDiff(theirs, stock)).toBeLessThanOrEqual(1e-4);
    });
  });
});

describe('toOnnx int8-qdq', () => {
  it.each([
    { name: 'LeNet-like', makeIR: lenetLikeIR },
    { name: 'MLP', makeIR: () => mlpIR(true) },
  ])('trained $name: the same top-1 as our fp32 forward on ≥ 99% of 1,000 test digits, ~4× smaller', async ({ makeIR }) => {
    {
      const ir = makeIR();
      const { model, train, test } = await trained(ir, 1);
      const calibration = { images: train.images, count: 256 }; // training split only
      const before = tf.memory().numTensors;
      const q = exportOnnx(model, { format: 'int8-qdq', calibration });
      expect(tf.memory().numTensors).toBe(before);
      const dense = toOnnx(model);
      const n = 1000;
      const ours = predict(model, test.images.subarray(0, n * sizeOf(ir.inputShape)), n);
      const fp = await runOrt(dense, test.images, n, ir.inputShape);
      expect(maxAbsDiff(fp, ours), ir.name).toBeLessThanOrEqual(1e-4);
      const i8 = await runOrt(q.bytes, test.images, n, ir.inputShape);
      const a = argmaxRows(ours, 10),
        b = argmaxRows(i8, 10);
      const agree = a.filter((v, i) => v === b[i]).length / n;
      expect(agree, ir.name).toBeGreaterThanOrEqual(0.99);
      // int8 really changed the numbers (it is not the fp32 graph under another name)
      expect(maxAbsDiff(i8, ours)).toBeGreaterThan(1e-6);
      expect(q.bytes.byteLength).toBeLessThan(0.35 * dense.byteLength);
      expect(q.weights.filter((w) => w.name.endsWith('/kernel')).every((w) => w.storedAs === 'int8' && w.granularity === 'per-channel')).toBe(true);
      // Re-quantized kernels stay in −63..63 and use it (u8 × s8 pair sums fit int16 on x86 without VNNI).
      const codes = O.ModelProto.decode(q.bytes)
        .graph!.initializer!.filter((t) => t.dataType === 3 /* INT8 */ && t.name!.endsWith('_kernel_int8'))
        .map((t) => new Int8Array(t.rawData!.buffer, t.rawData!.byteOffset, t.rawData!.byteLength));
      expect(codes.length).toBeGreaterThan(0);
      for (const c of codes) expect(c.reduce((a, v) => Math.max(a, Math.abs(v)), 0)).toBe(63);
      expect(q.activations[0]!.after).toBe('input');
      expect(q.activations[0]!.min).toBeGreaterThanOrEqual(0);
      // onnxruntime recognises the QDQ pattern and runs integer kernels (QLinearConv / QGemm), not fp32 ones
      await withTempDir(async (dir) => {
        const optimized = join(dir, 'opt.onnx');
        const s = await ort.InferenceSession.create(q.bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
        await s.release();
        const ops = O.ModelProto.decode(await readFile(optimized)).graph!.node!.map((nd) => nd.opType);
        if (ir.name === 'lenetlike') expect(ops).toContain('QLinearConv');
        expect(ops).toContain('QGemm');
        expect(ops).not.toContain('Conv');
        expect(ops).not.toContain('Gemm');
      });
    }
  });

  it('exports 8-bit symmetric (and affine, masked) codes and scales exactly, transposed to ONNX layout', () => {
    const m = randomModel(lenetLikeIR(), 5);
    const conv1 = quantized(m.weights['conv1/kernel']!, 'symmetric', 8, -1);
    const conv2 = quantized(m.weights['conv2/kernel']!, 'affine', 8, null);
    const fc1q = quantized(m.weights['fc1/kernel']!, 'symmetric', 8, -1);
    const mask = topkMask(toDense(fc1q), 100);
    const c: Model = { ir: m.ir, weights: { ...m.weights, 'conv1/kernel': conv1, 'conv2/kernel': conv2, 'fc1/kernel': maskedEncoding(fc1q, mask) } };
    const x = uniformImages(64, [28, 28, 1], 1);
    const e = exportOnnx(c, { format: 'int8-qdq', calibration: { images: x, count: 64 } });
    const info = Object.fromEntries(e.weights.map((w) => [w.name, w]));
    expect(info['conv1/kernel']).toMatchObject({ storedAs: 'int8', exact: true, granularity: 'per-channel' });
    expect(info['conv2/kernel']).toMatchObject({ storedAs: 'uint8', exact: true, granularity: 'per-tensor' });
    expect(info['fc1/kernel']).toMatchObject({ storedAs: 'int8', exact: true });
    expect(info['fc2/kernel']).toMatchObject({ storedAs: 'int8', exact: false });
    const g = O.ModelProto.decode(e.bytes).graph!;
    const init = (name: string) => g.initializer!.find((t) => t.name === name)!;
    const raw = (name: string) => init(name).rawData!;
    // conv1: ONNX [out,in,kh,kw] int8 codes vs tfjs [kh,kw,in,out] codes
    const [kh, kw, cin, cout] = conv1.shape as [number, number, number, number];
    const w1 = new Int8Array(raw('conv1_kernel_int8').buffer, raw('conv1_kernel_int8').byteOffset, cout * cin * kh * kw);
    expect(init('conv1_kernel_int8').dims!.map(Number)).toEqual([cout, cin, kh, kw]);
    for (let o = 0; o < cout; o++)
      for (let i = 0; i < cin; i++)
        for (let y = 0; y < kh; y++)
          for (let xx = 0; xx < kw; xx++) {
            expect(w1[((o * cin + i) * kh + y) * kw + xx]).toBe(conv1.codes[((y * kw + xx) * cin + i) * cout + o]);
          }
    const s1 = raw('conv1_kernel_scale');
    expect(Array.from(new Float32Array(s1.slice().buffer))).toEqual(Array.from(conv1.scales));
    const zp2 = raw('conv2_kernel_zero_point');
    expect(Array.from(zp2)).toEqual([conv2.zeroPoints[0]]);
    // masked codes: pruned positions carry code 0; the fc1 rows are permuted HWC → CHW (pool2 out is [6,6,16] here? see shapes)
    const fcShape = fc1q.shape as [number, number];
    const w3 = new Int8Array(raw('fc1_kernel_int8').slice().buffer);
    const kept = w3.filter((v) => v !== 0).length;
    expect(kept).toBe(Array.from(mask).filter((v, i) => v && fc1q.codes[i] !== 0).length);
    expect(w3.length).toBe(fcShape[0] * fcShape[1]);
    const ops = g.node!.map((n) => n.opType);
    expect(ops.filter((o) => o === 'QuantizeLinear').length).toBeGreaterThanOrEqual(4);
    expect(ops).toContain('DequantizeLinear');
  });

  it('N:M and block-sparse weights: dense export matches; with 8-bit per-tensor values, int8 stores exactly their values', async () => {
    const m = randomModel(mlpIR(), 12);
    const f1 = toDense(m.weights['fc1/kernel']!),
      f2 = toDense(m.weights['fc2/kernel']!);
    // tfjs layout [in, out]: flat index p = col·rows + r with rows = out channels (the GEMM view's rows)
    const nmMask = Uint8Array.from(f1, (_, p) => (Math.floor(p / 64) % 4 < 2 ? 1 : 0));
    const bsMask = Uint8Array.from(f2, (_, p) => ((p % 32) % 2 === 0 && Math.floor(p / 32) % 3 !== 0 ? 1 : 0));
    const q8 = (leaf: Encoding): Encoding => {
      const v = toDense(leaf);
      return quantizedEncoding(leaf.shape, v, chooseQuantParams(v, leaf.shape, { scheme: 'symmetric', bits: 8, axis: null }));
    };
    const structured: Model = {
      ir: m.ir,
      weights: { ...m.weights, 'fc1/kernel': nmFromMask([784, 64], nmMask, f1, 2, 4), 'fc2/kernel': blockSparseFromMask([64, 32], bsMask, f2, [4, 4]) },
    };
    const x = uniformImages(16, [784], 13);
    expect(maxAbsDiff(await runOrt(toOnnx(structured), x, 16, [784]), predict(structured, x, 16))).toBeLessThanOrEqual(1e-4);
    const quant: Model = {
      ir: m.ir,
      weights: { ...structured.weights, 'fc1/kernel': mapLeaves(structured.weights['fc1/kernel']!, q8), 'fc2/kernel': mapLeaves(structured.weights['fc2/kernel']!, q8) },
    };
    const e = exportOnnx(quant, { format: 'int8-qdq', calibration: { images: x, count: 16 } });
    const info = Object.fromEntries(e.weights.map((w) => [w.name, w]));
    expect(info['fc1/kernel']).toMatchObject({ storedAs: 'int8', exact: true, granularity: 'per-tensor' });
    expect(info['fc2/kernel']).toMatchObject({ storedAs: 'int8', exact: true, granularity: 'per-tensor' });
    expect(info['fc3/kernel']).toMatchObject({ storedAs: 'int8', exact: false, granularity: 'per-channel' });
    const g = O.ModelProto.decode(e.bytes).graph!;
    for (const layer of ['fc1', 'fc2']) {
      const raw = g.initializer!.find((t) => t.name === `${layer}_kernel_int8`)!.rawData!;
      const codes = new Int8Array(raw.slice().buffer);
      const scale = new Float32Array(g.initializer!.find((t) => t.name === `${layer}_kernel_scale`)!.rawData!.slice().buffer)[0]!;
      const want = toDense(quant.weights[`${layer}/kernel`]!);
      expect(Array.from(codes, (c) => Math.fround(c * scale))).toEqual(Array.from(want));
    }
  });

  it('typed errors: no calibration, calibration too short, unknown format', () => {
    const m = randomModel(mlpIR(), 1);
    expectCode(() => toOnnx(m, { format: 'int8-qdq' }), 'BAD_CONFIG', /int8-qdq.*calibration/);
    expectCode(
      () => toOnnx(m, { format: 'int8-qdq', calibration: { images: new Float32Array(784 * 3), count: 4 } }),
      'BAD_DATASET',
      /calibration\.images holds 2352 values but 4 examples of shape \[784\] need 3136/,
    );
    expectCode(() => toOnnx(m, { format: 'int4' as never }), 'BAD_CONFIG', /format 'int4' is not supported/);
  });
});

describe('unsupported layers give UNSUPPORTED_LAYER naming the layer', () => {
  it('an unknown layer kind', () => {
    const m = randomModel(mlpIR(), 1);
    const ir = { ...m.ir, layers: [...m.ir.layers.slice(0, 1), { kind: 'lstm', name: 'rnn1', units: 8 } as unknown as Layer, ...m.ir.layers.slice(1)] };
    expectCode(() => toOnnx({ ir, weights: m.weights }), 'UNSUPPORTED_LAYER', /layer 'rnn1' \(layers\[1\]\) has kind 'lstm'.*supported kinds: conv2d, depthwiseConv2d, dense/);
  });
  it('an unknown activation', () => {
    const m = randomModel(mlpIR(), 1);
    const ir = { ...m.ir, layers: m.ir.layers.map((l) => (l.name === 'fc2' ? { ...l, activation: 'crelu' } : l)) as Layer[] };
    expectCode(() => toOnnx({ ir, weights: m.weights }), 'UNSUPPORTED_LAYER', /activation 'crelu' of layer 'fc2'/);
  });
});
