import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../../errors.js';
import { sizeOf } from '../../ir/shapes.js';
import { fromGemm, gemmDims } from '../../tensor/gemm.js';
import { defineEncoding } from '../define.js';
import { matmulF32, toDense } from '../ops.js';
import type { FactorizedEncoding, FactorLayout } from '../types.js';

/** Block geometry of a factorized layout: G blocks of [p, q]; chunks per GEMM row for 'rowBlocks'. */
export function factorGeometry(shape: readonly number[], layout: FactorLayout): { rows: number; cols: number; G: number; p: number; q: number; chunks: number; rowLength: number } {
  const { rows, cols } = gemmDims(shape);
  if (layout.kind === 'gemm') return { rows, cols, G: 1, p: rows, q: cols, chunks: 1, rowLength: cols };
  const { p, q } = layout;
  if (!Number.isInteger(p) || !Number.isInteger(q) || p < 1 || q < 1)
    throw new CompressionError({ code: 'BAD_CONFIG', message: `factorized rowBlocks layout needs positive integer p and q, got ${p} and ${q}` });
  const chunks = Math.ceil(cols / (p * q));
  return { rows, cols, G: rows * chunks, p, q, chunks, rowLength: chunks * p * q };
}

/** Places the stacked block products [G, p, q] into the tfjs weight. */
export function assembleFactorBlocks(blocks: Float32Array, shape: readonly number[], layout: FactorLayout): Float32Array {
  if (layout.kind === 'gemm') return fromGemm(blocks, shape);
  const g = factorGeometry(shape, layout);
  const gemm = new Float32Array(g.rows * g.cols);
  for (let r = 0; r < g.rows; r++) for (let j = 0; j < g.cols; j++) gemm[r * g.cols + (layout.perm ? layout.perm[j]! : j)] = blocks[r * g.rowLength + j]!;
  return fromGemm(gemm, shape);
}

/** W = blocks of coeffs · basis (SmartDeal: a small basis times sparse power-of-two coefficients). */
export const factorizedKind = defineEncoding<FactorizedEncoding>({
  kind: 'factorized',
  provider: '@edge-compress/core',
  description: 'blocks P_g = coeffs_g · basis_g placed by a layout (gemm or rowBlocks)',
  elementwise: false,
  children: (e) => ({ coeffs: e.coeffs, basis: e.basis }),
  withChildren: (e, c) => ({ ...e, coeffs: c.coeffs!, basis: c.basis! }),
  toDense(e) {
    const g = factorGeometry(e.shape, e.layout);
    const k = e.basis.shape[e.basis.shape.length - 2]!;
    const c = toDense(e.coeffs),
      b = toDense(e.basis);
    const out = new Float32Array(g.G * g.p * g.q);
    for (let i = 0; i < g.G; i++) out.set(matmulF32(c.subarray(i * g.p * k, (i + 1) * g.p * k), b.subarray(i * k * g.q, (i + 1) * k * g.q), g.p, k, g.q), i * g.p * g.q);
    return assembleFactorBlocks(out, e.shape, e.layout);
  },
  ownBits: () => 0,
  ownValues: () => 0,
  summary: (e) => ({ view: e.layout.kind, factorShapes: [[...e.coeffs.shape], [...e.basis.shape]] }),
  write: (e, _w, _k, child) => ({ kind: 'factorized', shape: e.shape, layout: e.layout, coeffs: child('coeffs', e.coeffs), basis: child('basis', e.basis) }),
  read(d, r, path, _k, child) {
    const layout = d.layout as FactorLayout;
    if (!layout || (layout.kind !== 'gemm' && layout.kind !== 'rowBlocks'))
      r.bad(`${path}.layout`, `expected {kind: 'gemm'} or {kind: 'rowBlocks', p, q}, got ${JSON.stringify(layout)}`);
    const e: FactorizedEncoding = { kind: 'factorized', shape: d.shape, layout, coeffs: child('coeffs'), basis: child('basis') };
    try {
      factorizedKind.validate!(e, path);
    } catch (err) {
      r.bad(path, (err as Error).message);
    }
    return e;
  },
  validate(e, where) {
    const g = factorGeometry(e.shape, e.layout);
    const cs = e.coeffs.shape,
      bs = e.basis.shape;
    const k = bs[bs.length - 2] ?? 0;
    const okC = sizeOf(cs) === g.G * g.p * k && cs[cs.length - 1] === k;
    const okB = sizeOf(bs) === g.G * k * g.q && bs[bs.length - 1] === g.q;
    if (!okC || !okB || k < 1)
      throw new CompressionError({
        code: 'SHAPE_MISMATCH',
        path: where,
        message: `${where}: coeffs [${cs}] and basis [${bs}] do not make ${g.G} blocks of [${g.p}, ${g.q}] (expected coeffs [${g.G}, ${g.p}, k], basis [${g.G}, k, ${g.q}])`,
      });
    if (e.layout.kind === 'rowBlocks' && e.layout.perm && (e.layout.perm.length !== g.cols || new Set(e.layout.perm).size !== g.cols))
      throw new CompressionError({ code: 'SHAPE_MISMATCH', path: where, message: `${where}: layout.perm must be a permutation of ${g.cols} columns` });
  },
  train: {
    consts(e) {
      if (e.layout.kind === 'gemm') return {} as Record<string, tf.Tensor>;
      const g = factorGeometry(e.shape, e.layout);
      // GEMM column c comes from row position inv[c] of the stacked blocks.
      const inv = new Int32Array(g.cols);
      for (let j = 0; j < g.cols; j++) inv[e.layout.perm ? e.layout.perm[j]! : j] = j;
      return { inv: tf.tensor1d(inv, 'int32') };
    },
    assemble(e, c, _o, k) {
      const g = factorGeometry(e.shape, e.layout);
      const kk = e.basis.shape[e.basis.shape.length - 2]!;
      const prod = tf.matMul(tf.reshape(c.coeffs!, [g.G, g.p, kk]), tf.reshape(c.basis!, [g.G, kk, g.q]));
      const gemm = e.layout.kind === 'gemm' ? tf.reshape(prod, [g.rows, g.cols]) : tf.gather(tf.reshape(prod, [g.rows, g.rowLength]), k.inv!, 1);
      return tf.reshape(tf.transpose(gemm), e.shape);
    },
    rebuild: (e, c) => ({ ...e, coeffs: c.coeffs!, basis: c.basis! }),
  },
});
