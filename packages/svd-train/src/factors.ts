import { Matrix, SVD } from 'ml-matrix';
import { CompressionError, toGemm, fromGemm } from '@edge-compress/core';

/**
 * How a weight is viewed as a matrix before it is factored (ALGORITHMS §3.1, core's lowRank `view`):
 * - 'gemm': core's GEMM view, rows = out channels, cols = fan-in in (kh, kw, cin) order. Dense layers, and
 *   conv layers in the paper's channel-wise form (k×k conv to r channels, then 1×1 conv).
 * - 'spatial': conv [kh,kw,cin,cout] as M[cin·kh, cout·kw] with M[c·kh + i, n·kw + j] = W[i, j, c, n]
 *   (the paper's spatial-wise / VH form: k×1 conv to r channels, then 1×k conv).
 */
export type FactorView = 'gemm' | 'spatial';

/** W_view = U · diag(s) · Vᵀ, U [rows, rank] and V [cols, rank] row-major (core's lowRank layout). */
export interface Factors {
  view: FactorView;
  /** tfjs shape of the weight. */
  shape: number[];
  rows: number;
  cols: number;
  rank: number;
  u: Float32Array;
  s: Float32Array;
  v: Float32Array;
}

/** Rows and columns of a weight's matrix in a view. */
export function viewDims(shape: readonly number[], view: FactorView): { rows: number; cols: number } {
  if (view === 'spatial') {
    if (shape.length !== 4)
      throw new CompressionError({
        code: 'UNSUPPORTED_LAYER',
        message: `the spatial-wise form needs a conv kernel [kh,kw,cin,cout], got shape [${shape.join(',')}]`,
        hint: "use conv_form 'channel' or target conv2d layers only",
      });
    const [kh, kw, cin, cout] = shape as [number, number, number, number];
    return { rows: cin * kh, cols: cout * kw };
  }
  const rows = shape[shape.length - 1]!;
  return { rows, cols: shape.reduce((a, b) => a * b, 1) / rows };
}

/** tfjs-layout weight → row-major matrix of the view. */
export function toView(values: Float32Array, shape: readonly number[], view: FactorView): Float32Array {
  if (view === 'gemm') return toGemm(values, shape);
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  const cols = cout * kw;
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cin; c++)
        for (let n = 0; n < cout; n++) {
          out[(c * kh + i) * cols + n * kw + j] = values[((i * kw + j) * cin + c) * cout + n]!;
        }
  return out;
}

/** Row-major matrix of the view → tfjs-layout weight. */
export function fromView(m: Float32Array, shape: readonly number[], view: FactorView): Float32Array {
  if (view === 'gemm') return fromGemm(m, shape);
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(m.length);
  const cols = cout * kw;
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cin; c++)
        for (let n = 0; n < cout; n++) {
          out[((i * kw + j) * cin + c) * cout + n] = m[(c * kh + i) * cols + n * kw + j]!;
        }
  return out;
}

/**
 * Full-rank SVD of a weight in a view (ml-matrix, float64): rank = min(rows, cols), singular values in
 * descending order, factors stored float32.
 */
export function decompose(values: Float32Array, shape: readonly number[], view: FactorView): Factors {
  const { rows, cols } = viewDims(shape, view);
  const m = toView(values, shape, view);
  const a = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) a.set(i, j, m[i * cols + j]!);
  const svd = new SVD(a, { computeLeftSingularVectors: true, computeRightSingularVectors: true, autoTranspose: true });
  const rank = Math.min(rows, cols);
  const U = svd.leftSingularVectors,
    V = svd.rightSingularVectors,
    d = svd.diagonal;
  // ml-matrix returns them sorted descending; keep the first `rank` columns.
  const u = new Float32Array(rows * rank),
    v = new Float32Array(cols * rank),
    s = new Float32Array(rank);
  for (let k = 0; k < rank; k++) {
    s[k] = d[k]!;
    for (let i = 0; i < rows; i++) u[i * rank + k] = U.get(i, k);
    for (let j = 0; j < cols; j++) v[j * rank + k] = V.get(j, k);
  }
  return { view, shape: [...shape], rows, cols, rank, u, s, v };
}

/** U·diag(|s|)·Vᵀ back in tfjs layout (the forward uses |s|, as the paper's code does). */
export function reconstruct(f: Factors): Float32Array {
  const { rows, cols, rank } = f;
  const m = new Float32Array(rows * cols);
  const us = new Float64Array(rank);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < rank; k++) us[k] = f.u[i * rank + k]! * Math.abs(f.s[k]!);
    for (let j = 0; j < cols; j++) {
      let acc = 0;
      for (let k = 0; k < rank; k++) acc += us[k]! * f.v[j * rank + k]!;
      m[i * cols + j] = acc;
    }
  }
  return fromView(m, f.shape, f.view);
}

/** Keeps the columns `keep` (in that order) of U and V and the matching singular values. */
export function selectColumns(f: Factors, keep: readonly number[]): Factors {
  const r = keep.length,
    R = f.rank;
  const u = new Float32Array(f.rows * r),
    v = new Float32Array(f.cols * r),
    s = new Float32Array(r);
  keep.forEach((k, t) => {
    s[t] = f.s[k]!;
    for (let i = 0; i < f.rows; i++) u[i * r + t] = f.u[i * R + k]!;
    for (let j = 0; j < f.cols; j++) v[j * r + t] = f.v[j * R + k]!;
  });
  return { ...f, rank: r, u, s, v };
}

/** Column order that sorts |s| descending (ties by index). */
export function descendingOrder(s: Float32Array): number[] {
  return Array.from(s, (_, i) => i).sort((a, b) => Math.abs(s[b]!) - Math.abs(s[a]!) || a - b);
}

/** ‖AᵀA − I‖_F of a row-major [n, r] matrix (float64 accumulation). */
export function gramError(a: Float32Array, n: number, r: number): number {
  let sum = 0;
  for (let p = 0; p < r; p++) {
    for (let q = p; q < r; q++) {
      let g = 0;
      for (let i = 0; i < n; i++) g += a[i * r + p]! * a[i * r + q]!;
      const d = g - (p === q ? 1 : 0);
      sum += p === q ? d * d : 2 * d * d;
    }
  }
  return Math.sqrt(sum);
}

/** Orthogonality error of a factor pair: ‖UᵀU − I‖_F and ‖VᵀV − I‖_F. */
export function orthogonalityError(f: Pick<Factors, 'u' | 'v' | 'rows' | 'cols' | 'rank'>): { u: number; v: number } {
  return { u: gramError(f.u, f.rows, f.rank), v: gramError(f.v, f.cols, f.rank) };
}
