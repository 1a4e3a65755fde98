import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../../errors.js';
import { sizeOf } from '../../ir/shapes.js';
import { fromGemm, gemmDims } from '../../tensor/gemm.js';
import { defineEncoding } from '../define.js';
import { matmulF32, toDense } from '../ops.js';
import type { LowRankEncoding } from '../types.js';

/** [m, n] of the matrix a low-rank view factors. */
export function lowRankDims(shape: readonly number[], view: LowRankEncoding['view'] = 'gemm'): { m: number; n: number } {
  if (view === 'spatial') {
    if (shape.length !== 4) throw new CompressionError({ code: 'BAD_CONFIG', message: `the spatial low-rank view needs a conv kernel [kh,kw,cin,cout], got [${shape.join(',')}]` });
    const [kh, kw, cin, cout] = shape as [number, number, number, number];
    return { m: cin * kh, n: cout * kw };
  }
  const { rows, cols } = gemmDims(shape);
  return { m: rows, n: cols };
}

/** The view matrix M (row-major [m, n]) → tfjs layout. */
export function fromLowRankView(mat: Float32Array, shape: readonly number[], view: LowRankEncoding['view'] = 'gemm'): Float32Array {
  if (view !== 'spatial') return fromGemm(mat, shape);
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(mat.length);
  const n = cout * kw;
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) for (let o = 0; o < cout; o++) out[((i * kw + j) * cin + c) * cout + o] = mat[(c * kh + i) * n + o * kw + j]!;
  return out;
}

/** tfjs layout → the view matrix M (row-major [m, n]). */
export function toLowRankView(w: Float32Array, shape: readonly number[], view: LowRankEncoding['view'] = 'gemm'): Float32Array {
  const { m, n } = lowRankDims(shape, view);
  if (view !== 'spatial') {
    const out = new Float32Array(m * n);
    for (let c = 0; c < n; c++) for (let r = 0; r < m; r++) out[r * n + c] = w[c * m + r]!;
    return out;
  }
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(w.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) for (let o = 0; o < cout; o++) out[(c * kh + i) * n + o * kw + j] = w[((i * kw + j) * cin + c) * cout + o]!;
  return out;
}

/** Tensor version of fromLowRankView (differentiable). */
export function lowRankViewToWeight(mat: tf.Tensor, shape: readonly number[], view: LowRankEncoding['view'] = 'gemm'): tf.Tensor {
  if (view !== 'spatial') return tf.reshape(tf.transpose(mat), shape as number[]);
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  return tf.transpose(tf.reshape(mat, [cin, kh, cout, kw]), [1, 3, 0, 2]);
}

/** M = U·diag(s)·Vᵀ. */
export const lowRankKind = defineEncoding<LowRankEncoding>({
  kind: 'lowRank',
  provider: '@edge-compress/core',
  description: 'U·diag(s)·Vᵀ over the GEMM view (or the spatial conv view)',
  elementwise: false,
  children: (e) => ({ u: e.u, v: e.v }),
  withChildren: (e, c) => ({ ...e, u: c.u!, v: c.v! }),
  toDense(e) {
    const { m, n } = lowRankDims(e.shape, e.view);
    const u = toDense(e.u).slice();
    const v = toDense(e.v);
    for (let i = 0; i < m; i++) for (let r = 0; r < e.rank; r++) u[i * e.rank + r]! *= e.s[r]!;
    const vt = new Float32Array(e.rank * n);
    for (let c = 0; c < n; c++) for (let r = 0; r < e.rank; r++) vt[r * n + c] = v[c * e.rank + r]!;
    return fromLowRankView(matmulF32(u, vt, m, e.rank, n), e.shape, e.view);
  },
  ownBits: (e) => e.s.length * 32,
  ownValues: (e) => e.s.length,
  summary: (e) => {
    const { m, n } = lowRankDims(e.shape, e.view);
    return {
      rank: e.rank,
      view: e.view ?? 'gemm',
      factorShapes: [
        [m, e.rank],
        [n, e.rank],
      ],
    };
  },
  write: (e, w, _k, child) => ({
    kind: 'lowRank',
    shape: e.shape,
    rank: e.rank,
    ...(e.view === 'spatial' ? { view: 'spatial' } : {}),
    u: child('u', e.u),
    s: w.f32(e.s),
    v: child('v', e.v),
  }),
  read(d, r, path, _k, child) {
    const rank = r.int(d.rank, `${path}.rank`, 1);
    const view = d.view === 'spatial' ? 'spatial' : undefined;
    if (d.view !== undefined && d.view !== 'spatial' && d.view !== 'gemm') r.bad(`${path}.view`, `expected 'gemm' or 'spatial', got ${JSON.stringify(d.view)}`);
    const e: LowRankEncoding = { kind: 'lowRank', shape: d.shape, rank, u: child('u'), s: r.f32(d.s, `${path}.s`, rank), v: child('v') };
    if (view) e.view = view;
    const { m, n } = lowRankDims(d.shape, view);
    if (sizeOf(e.u.shape) !== m * rank || sizeOf(e.v.shape) !== n * rank) r.bad(path, `factor shapes [${e.u.shape}] / [${e.v.shape}] do not fit rank ${rank} of a ${m}×${n} view`);
    return e;
  },
  validate(e, where) {
    const { m, n } = lowRankDims(e.shape, e.view);
    if (e.s.length !== e.rank || sizeOf(e.u.shape) !== m * e.rank || sizeOf(e.v.shape) !== n * e.rank) {
      throw new CompressionError({
        code: 'SHAPE_MISMATCH',
        path: where,
        message: `${where}: low-rank factors U [${e.u.shape}], s [${e.s.length}], V [${e.v.shape}] do not fit rank ${e.rank} of a ${m}×${n} view`,
      });
    }
  },
  train: {
    own: (e) => ({ s: { values: e.s.slice(), shape: [e.rank] } }),
    assemble(e, c, o) {
      const { m, n } = lowRankDims(e.shape, e.view);
      const u = tf.reshape(c.u!, [m, e.rank]);
      const v = tf.reshape(c.v!, [n, e.rank]);
      return lowRankViewToWeight(tf.matMul(tf.mul(u, o.s!), v, false, true), e.shape, e.view);
    },
    rebuild: (e, c, o) => ({ ...e, u: c.u!, v: c.v!, s: o.s! }),
  },
});
