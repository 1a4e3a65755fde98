import * as tf from '@tensorflow/tfjs-core';
import { denseEncoding, toDense, type Conv2dLayer, type DenseLayer, type Padding } from '@edge-compress/core';
import { expectClose } from '@edge-compress/core/testing';
import { describe, expect, it } from 'vitest';
import { decompose, factoredForward, lowRankKernel, reconstruct, selectColumns, type FactorView, type LowRankWithView } from '../src/index.js';

const vals = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 3.1 + i * 0.77));
const conv = (padding: Padding, strides: [number, number], k: [number, number] = [3, 3], filters = 5): Conv2dLayer => ({
  kind: 'conv2d',
  name: 'c',
  filters,
  kernelSize: k,
  strides,
  padding,
  activation: 'linear',
  useBias: true,
});

function encode(w: Float32Array, shape: number[], view: FactorView, rank: number): { e: LowRankWithView; dense: Float32Array } {
  const f = selectColumns(
    decompose(w, shape, view),
    Array.from({ length: rank }, (_, i) => i),
  );
  const e: LowRankWithView = { kind: 'lowRank', shape, rank, u: denseEncoding([f.rows, rank], f.u), s: f.s, v: denseEncoding([f.cols, rank], f.v) };
  if (view === 'spatial') e.view = 'spatial';
  return { e, dense: reconstruct(f) };
}

describe('low-rank kernel (two thin operators) equals the dense layer of U·diag(s)·Vᵀ', () => {
  const cases: Array<[string, Conv2dLayer, FactorView, number]> = [
    ['channel-wise, same, stride 1', conv('same', [1, 1]), 'gemm', 3],
    ['channel-wise, valid, stride 2', conv('valid', [2, 2]), 'gemm', 2],
    ['spatial, same, stride 1', conv('same', [1, 1]), 'spatial', 4],
    ['spatial, valid, stride (2,1), 3×2 kernel', conv('valid', [2, 1], [3, 2]), 'spatial', 3],
    ['spatial, same, stride 2, 5×3 kernel', conv('same', [2, 2], [5, 3]), 'spatial', 2],
  ];
  for (const [name, layer, view, rank] of cases) {
    it(name, () => {
      const shape = [layer.kernelSize[0], layer.kernelSize[1], 3, layer.filters];
      const w = vals(
        shape.reduce((a, b) => a * b, 1),
        rank,
      );
      const { e, dense } = encode(w, shape, view, rank);
      const bias = vals(layer.filters, 9);
      const x = tf.tensor4d(vals(2 * 9 * 8 * 3, 5), [2, 9, 8, 3]);
      const k = lowRankKernel.prepare(layer, e, bias);
      const before = tf.memory().numTensors;
      const y = k.run(x);
      expect(tf.memory().numTensors).toBe(before + 1);
      const ref = tf.tidy(() => tf.add(tf.conv2d(x, tf.tensor4d(dense, shape as [number, number, number, number]), layer.strides, layer.padding), tf.tensor1d(bias)));
      expect(y.shape).toEqual(ref.shape);
      expectClose(y.dataSync(), ref.dataSync(), 1e-4);
      // the training forward (factors as tensors) computes the same
      const f = decompose(w, shape, view);
      const t = selectColumns(
        f,
        Array.from({ length: rank }, (_, i) => i),
      );
      const yt = tf.tidy(() => factoredForward(layer, t, x, tf.tensor2d(t.u, [t.rows, rank]), tf.tensor1d(t.s), tf.tensor2d(t.v, [t.cols, rank]), tf.tensor1d(bias)));
      expectClose(yt.dataSync(), ref.dataSync(), 1e-4);
      tf.dispose([x, y, ref, yt]);
      k.dispose();
    });
  }
  it('dense layer: x·(V·s)·Uᵀ + b; core toDense agrees on the GEMM view', () => {
    const layer: DenseLayer = { kind: 'dense', name: 'd', units: 6, activation: 'linear', useBias: false };
    const w = vals(7 * 6, 2);
    const { e, dense } = encode(w, [7, 6], 'gemm', 3);
    expectClose(toDense(e), dense, 1e-5);
    const x = tf.tensor2d(vals(4 * 7, 8), [4, 7]);
    const k = lowRankKernel.prepare(layer, e, undefined);
    const y = k.run(x);
    const ref = tf.tidy(() => tf.matMul(x, tf.tensor2d(dense, [7, 6])));
    expectClose(y.dataSync(), ref.dataSync(), 1e-4);
    tf.dispose([x, y, ref]);
    k.dispose();
    expect(lowRankKernel.supports!(layer, { ...e, view: 'spatial' } as LowRankWithView)).toBe(false);
  });
});
