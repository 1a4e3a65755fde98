import * as tf from '@tensorflow/tfjs-core';
import { CompressionError, defineKernel, toDense, type Layer, type LowRankEncoding } from '@edge-compress/core';

/** core's lowRank encoding (view 'gemm' default, 'spatial' for the VH conv form). */
export type LowRankWithView = LowRankEncoding;

/**
 * The two thin operators of a low-rank layer, with s folded into the first:
 * - dense: x · (V·diag(s)) [in, r] then · Uᵀ [r, out];
 * - conv, view 'gemm' (channel-wise): k×k conv cin→r (filter V·diag(s) as [kh,kw,cin,r], the layer's
 *   stride and padding) then 1×1 conv r→cout (filter Uᵀ);
 * - conv, view 'spatial': kh×1 conv cin→r (stride [sh,1]) then 1×kw conv r→cout (stride [1,sw]); with
 *   'same' padding each pads only its own axis, which is exactly the k×k conv's padding.
 * Returns plain arrays in tfjs layout.
 */
export function lowRankOperators(layer: Layer, e: LowRankWithView): { first: { values: Float32Array; shape: number[] }; second: { values: Float32Array; shape: number[] } } {
  const r = e.rank;
  const u = toDense(e.u),
    v = toDense(e.v);
  const view = e.view ?? 'gemm';
  if (layer.kind === 'dense') {
    const [n, m] = e.shape as [number, number];
    const vs = new Float32Array(n * r);
    for (let j = 0; j < n; j++) for (let k = 0; k < r; k++) vs[j * r + k] = v[j * r + k]! * e.s[k]!;
    const ut = new Float32Array(r * m);
    for (let i = 0; i < m; i++) for (let k = 0; k < r; k++) ut[k * m + i] = u[i * r + k]!;
    return { first: { values: vs, shape: [n, r] }, second: { values: ut, shape: [r, m] } };
  }
  if (layer.kind !== 'conv2d')
    throw new CompressionError({ code: 'UNSUPPORTED_LAYER', layer: layer.name, message: `lowRank kernel: layer '${layer.name}' is a ${layer.kind}, expected conv2d or dense` });
  const [kh, kw, cin, cout] = e.shape as [number, number, number, number];
  if (view === 'gemm') {
    const cols = kh * kw * cin;
    const vs = new Float32Array(cols * r);
    for (let j = 0; j < cols; j++) for (let k = 0; k < r; k++) vs[j * r + k] = v[j * r + k]! * e.s[k]!;
    const ut = new Float32Array(r * cout);
    for (let i = 0; i < cout; i++) for (let k = 0; k < r; k++) ut[k * cout + i] = u[i * r + k]!;
    return { first: { values: vs, shape: [kh, kw, cin, r] }, second: { values: ut, shape: [1, 1, r, cout] } };
  }
  // spatial: M[c·kh + i, n·kw + j] = Σ_k U[c·kh+i, k]·s_k·V[n·kw+j, k]
  const f1 = new Float32Array(kh * cin * r);
  for (let i = 0; i < kh; i++) for (let c = 0; c < cin; c++) for (let k = 0; k < r; k++) f1[(i * cin + c) * r + k] = u[(c * kh + i) * r + k]! * e.s[k]!;
  const f2 = new Float32Array(kw * r * cout);
  for (let j = 0; j < kw; j++) for (let k = 0; k < r; k++) for (let n = 0; n < cout; n++) f2[(j * r + k) * cout + n] = v[(n * kw + j) * r + k]!;
  return { first: { values: f1, shape: [kh, 1, cin, r] }, second: { values: f2, shape: [1, kw, r, cout] } };
}

/** Runs a prepared pair of operators (tensors owned by the caller); the bias is fused into the second op. */
export function runLowRank(layer: Layer, view: 'gemm' | 'spatial', x: tf.Tensor, first: tf.Tensor, second: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (layer.kind === 'dense') return tf.fused.matMul({ a: tf.matMul(x as tf.Tensor2D, first as tf.Tensor2D), b: second as tf.Tensor2D, bias });
    if (layer.kind !== 'conv2d') throw new CompressionError({ code: 'UNSUPPORTED_LAYER', layer: layer.name, message: `lowRank kernel: unsupported layer kind ${layer.kind}` });
    if (view === 'gemm')
      return tf.fused.conv2d({ x: tf.conv2d(x as tf.Tensor4D, first as tf.Tensor4D, layer.strides, layer.padding), filter: second as tf.Tensor4D, strides: 1, pad: 'valid', bias });
    return tf.fused.conv2d({
      x: tf.conv2d(x as tf.Tensor4D, first as tf.Tensor4D, [layer.strides[0], 1], layer.padding),
      filter: second as tf.Tensor4D,
      strides: [1, layer.strides[1]],
      pad: layer.padding,
      bias,
    });
  });
}

/** The low-rank LayerKernel (kind 'lowRank'): two thin GEMMs / convs instead of one dense one. */
export const lowRankKernel = defineKernel({
  name: 'svd-lowrank',
  kind: 'lowRank',
  supports: (layer, e) => e.kind === 'lowRank' && (layer.kind === 'dense' || layer.kind === 'conv2d') && !((e as LowRankWithView).view === 'spatial' && layer.kind !== 'conv2d'),
  prepare(layer, encoding, bias) {
    const e = encoding as LowRankWithView;
    const ops = lowRankOperators(layer, e);
    const first = tf.tensor(ops.first.values, ops.first.shape, 'float32');
    const second = tf.tensor(ops.second.values, ops.second.shape, 'float32');
    const b = bias ? tf.tensor1d(bias, 'float32') : undefined;
    const view = e.view ?? 'gemm';
    return {
      run: (x) => runLowRank(layer, view, x, first, second, b),
      dispose: () => tf.dispose([first, second, ...(b ? [b] : [])]),
    };
  },
});
