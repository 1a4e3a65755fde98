import { CompressionError } from '../errors.js';
import { sizeOf } from '../ir/shapes.js';
import { fromGemm, gemmDims } from '../tensor/gemm.js';
import { dequantize } from '../tensor/quant.js';
import { countNonZero } from '../tensor/prune.js';
import type { DenseEncoding, Encoding, EncodingSummary, EncodingKind, MaskedEncoding } from './types.js';

export function denseEncoding(shape: readonly number[], values: Float32Array): DenseEncoding {
  if (values.length !== sizeOf(shape)) {
    throw new CompressionError({ code: 'SHAPE_MISMATCH', message: `dense encoding: ${values.length} values do not fill shape [${shape.join(',')}] (${sizeOf(shape)} elements)` });
  }
  return { kind: 'dense', shape: [...shape], values };
}

export function maskedEncoding(base: Encoding, mask: Uint8Array): MaskedEncoding {
  if (mask.length !== sizeOf(base.shape)) {
    throw new CompressionError({ code: 'SHAPE_MISMATCH', message: `mask has ${mask.length} entries but the weight has ${sizeOf(base.shape)}` });
  }
  if (base.kind !== 'dense' && base.kind !== 'quantized') {
    throw new CompressionError({ code: 'BAD_CONFIG', message: `a mask applies elementwise over a dense or quantized base, not '${base.kind}'`, hint: 'mask the factors of a factorized/lowRank encoding instead' });
  }
  return { kind: 'masked', shape: [...base.shape], mask, base };
}

/** Row-major product [m,k]·[k,n]. */
function matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      if (av === 0) continue;
      const bo = p * n, oo = i * n;
      for (let j = 0; j < n; j++) out[oo + j]! += av * b[bo + j]!;
    }
  }
  return out;
}

/** The fp32 weight in tfjs layout, exactly as an inference engine would see it. */
export function toDense(e: Encoding): Float32Array {
  switch (e.kind) {
    case 'dense':
      return e.values;
    case 'quantized':
      return dequantize(e.codes, e.shape, e);
    case 'masked': {
      const v = toDense(e.base).slice();
      for (let i = 0; i < v.length; i++) if (!e.mask[i]) v[i] = 0;
      return v;
    }
    case 'lowRank': {
      const { rows, cols } = gemmDims(e.shape);
      const u = toDense(e.u).slice();
      const v = toDense(e.v);
      for (let i = 0; i < rows; i++) for (let r = 0; r < e.rank; r++) u[i * e.rank + r]! *= e.s[r]!;
      // U diag(s) [rows, rank] · Vᵀ [rank, cols]
      const vt = new Float32Array(e.rank * cols);
      for (let c = 0; c < cols; c++) for (let r = 0; r < e.rank; r++) vt[r * cols + c] = v[c * e.rank + r]!;
      return fromGemm(matmul(u, vt, rows, e.rank, cols), e.shape);
    }
    case 'factorized': {
      const { rows, cols } = gemmDims(e.shape);
      const k = e.basis.shape[1]!;
      return fromGemm(matmul(toDense(e.basis), toDense(e.coeffs), rows, k, cols), e.shape);
    }
  }
}

/** Bits per stored value and fixed overhead (scales etc.) of an elementwise encoding. */
function elementCost(e: Encoding): { perValue: number; overhead: number } {
  if (e.kind === 'dense') return { perValue: 32, overhead: 0 };
  if (e.kind === 'quantized') {
    const zp = e.scheme === 'affine' ? e.zeroPoints.length * 32 : 0;
    return { perValue: e.bits, overhead: e.scales.length * 32 + zp };
  }
  return { perValue: 32, overhead: storageBits(e) };
}

/**
 * Bits of the cheapest index for a mask, exactly as core IO stores it: a bitmap (1 bit per weight) or a
 * relative index (gapBits per kept value, plus one escape symbol per 2^gapBits − 1 skipped positions in
 * long gaps), whichever is smaller.
 */
export function maskIndexBits(mask: Uint8Array): { bits: number; format: 'bitmap' | 'relative'; gapBits?: number } {
  let best: { bits: number; format: 'bitmap' | 'relative'; gapBits?: number } = { bits: mask.length, format: 'bitmap' };
  const gaps: number[] = [];
  let gap = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      gaps.push(gap);
      gap = 0;
    } else gap++;
  }
  for (let b = 2; b <= 16; b++) {
    const esc = 2 ** b - 1;
    let symbols = 0;
    for (const g of gaps) symbols += 1 + Math.floor(g / esc);
    const bits = symbols * b;
    if (bits < best.bits) best = { bits, format: 'relative', gapBits: b };
  }
  return best;
}

/** True storage: values + indices/bitmaps + scales/zero points + factors, as it would be stored. */
export function storageBits(e: Encoding): number {
  switch (e.kind) {
    case 'dense':
      return e.values.length * 32;
    case 'quantized': {
      const c = elementCost(e);
      return e.codes.length * c.perValue + c.overhead;
    }
    case 'masked': {
      const c = elementCost(e.base);
      const kept = countNonZero(e.mask);
      return maskIndexBits(e.mask).bits + kept * c.perValue + c.overhead;
    }
    case 'lowRank':
      return storageBits(e.u) + storageBits(e.v) + e.s.length * 32;
    case 'factorized':
      return storageBits(e.basis) + storageBits(e.coeffs);
  }
}

/** Stored non-zero values (for factor encodings: the non-zeros of the factors). */
export function nonZeros(e: Encoding): number {
  switch (e.kind) {
    case 'dense':
      return countNonZero(e.values);
    case 'quantized':
    case 'masked':
      return countNonZero(toDense(e));
    case 'lowRank':
      return nonZeros(e.u) + nonZeros(e.v) + countNonZero(e.s);
    case 'factorized':
      return nonZeros(e.basis) + nonZeros(e.coeffs);
  }
}

function kindsOf(e: Encoding): EncodingKind[] {
  switch (e.kind) {
    case 'masked':
      return ['masked', ...kindsOf(e.base)];
    case 'lowRank':
      return ['lowRank', ...kindsOf(e.u)];
    case 'factorized':
      return ['factorized', ...kindsOf(e.coeffs)];
    default:
      return [e.kind];
  }
}

function minBits(e: Encoding): number {
  switch (e.kind) {
    case 'dense':
      return 32;
    case 'quantized':
      return e.bits;
    case 'masked':
      return minBits(e.base);
    case 'lowRank':
      return Math.min(minBits(e.u), minBits(e.v));
    case 'factorized':
      return Math.min(minBits(e.basis), minBits(e.coeffs));
  }
}

export function summarize(e: Encoding): EncodingSummary {
  const elements = sizeOf(e.shape);
  const nz = e.kind === 'lowRank' || e.kind === 'factorized' ? countNonZero(toDense(e)) : nonZeros(e);
  const structure = e.kind === 'lowRank' ? 'lowRank' : e.kind === 'factorized' ? 'factorized' : nz < elements ? 'unstructured' : 'dense';
  const s: EncodingSummary = { shape: [...e.shape], kinds: kindsOf(e), elements, nonZeros: nz, density: elements ? nz / elements : 0, bits: minBits(e), structure, storageBits: storageBits(e) };
  if (e.kind === 'lowRank') s.rank = e.rank;
  return s;
}

/**
 * Applies `fn` to every elementwise leaf (dense or quantized value store) of an encoding and rebuilds the
 * structure around the results: quantizing a masked or factorized weight keeps its mask / factors.
 * `mask` is passed for leaves under a mask, so range estimation can ignore pruned entries.
 */
export function mapLeaves(e: Encoding, fn: (leaf: Encoding, mask?: Uint8Array) => Encoding): Encoding {
  switch (e.kind) {
    case 'dense':
    case 'quantized':
      return fn(e);
    case 'masked':
      return { ...e, base: fn(e.base, e.mask) };
    case 'lowRank':
      return { ...e, u: mapLeaves(e.u, fn), v: mapLeaves(e.v, fn) };
    case 'factorized':
      return { ...e, basis: mapLeaves(e.basis, fn), coeffs: mapLeaves(e.coeffs, fn) };
  }
}
