import { sizeOf } from '../ir/shapes.js';

/**
 * The GEMM view of a weight (ALGORITHMS §0): rows = output channels (the last tfjs axis),
 * cols = fan-in in (kh, kw, cin) order. A tfjs conv kernel [kh,kw,cin,cout] and a dense kernel [in,out]
 * both flatten to [fanIn, out]; the GEMM matrix is its transpose [out, fanIn].
 */
export function gemmDims(shape: readonly number[]): { rows: number; cols: number } {
  if (shape.length < 2) return { rows: sizeOf(shape), cols: 1 };
  const rows = shape[shape.length - 1]!;
  return { rows, cols: sizeOf(shape) / rows };
}

/** tfjs layout → row-major GEMM [rows, cols]. */
export function toGemm(values: Float32Array, shape: readonly number[]): Float32Array {
  const { rows, cols } = gemmDims(shape);
  const out = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) out[r * cols + c] = values[c * rows + r]!;
  return out;
}

/** Row-major GEMM [rows, cols] → tfjs layout. */
export function fromGemm(gemm: Float32Array, shape: readonly number[]): Float32Array {
  const { rows, cols } = gemmDims(shape);
  const out = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) out[c * rows + r] = gemm[r * cols + c]!;
  return out;
}

/** Out-channel index of flat element i of a tfjs-layout weight (the last axis). */
export const outChannelOf = (i: number, shape: readonly number[]): number => i % shape[shape.length - 1]!;
