import {
  countNonZero,
  type Encoding,
  type FactorizedEncoding,
  fromGemm,
  maskedEncoding,
  type MaskedEncoding,
  type QuantizedEncoding,
  sizeOf,
  storageBits,
  toDense,
} from '@edge-compress/core';
import { blockGeometry, blocksToGemm, type RowBlocksLayout } from './geometry.js';
import { codeBits, type ExpRange, exponentBits, pow2Codes, signedShiftMul } from './pow2.js';

/**
 * A SmartDeal weight: core's `factorized` encoding with the 'rowBlocks' layout, coeffs = masked(quantized 'pow2')
 * [G, p, k] (scale 2^maxExp, so every kept value is ±2^e, e in range), basis [G, k, q] (dense, or quantized).
 */
export type SmartDealEncoding = FactorizedEncoding & { coeffs: MaskedEncoding; layout: RowBlocksLayout };

/** Builds the encoding from projected coefficients ce [G, p, k] (0 or ±2^e) and a basis [G, k, q]. */
export function encodeSmartDeal(
  shape: readonly number[],
  layout: RowBlocksLayout,
  k: number,
  ce: Float32Array,
  basis: Float32Array | Encoding,
  range: ExpRange,
): SmartDealEncoding {
  const g = blockGeometry(shape, layout);
  const cshape = [g.blocks, g.p, k];
  const codes = pow2Codes(ce, range);
  const mask = Uint8Array.from(codes, (c) => (c !== 0 ? 1 : 0));
  const q: QuantizedEncoding = {
    kind: 'quantized',
    shape: cshape,
    scheme: 'pow2',
    bits: codeBits(range),
    axis: null,
    scales: Float32Array.of(2 ** range.maxExp),
    zeroPoints: new Int32Array(1),
    codes,
  };
  const b: Encoding = basis instanceof Float32Array ? { kind: 'dense', shape: [g.blocks, k, g.q], values: basis } : basis;
  return { kind: 'factorized', shape: [...shape], coeffs: maskedEncoding(q, mask), basis: b, layout };
}

/** The exponent range of a SmartDeal coefficient leaf (from its pow2 scale and bit width). */
export function rangeOf(e: SmartDealEncoding): ExpRange {
  const base = e.coeffs.base as QuantizedEncoding;
  const maxExp = Math.round(Math.log2(base.scales[0]!));
  let maxCode = 0;
  for (const c of base.codes) maxCode = Math.max(maxCode, Math.abs(c));
  return { maxExp, minExp: maxExp - Math.max(0, maxCode - 1) };
}

/** Exact stored bits (core's storageBits of the encoding): coefficient mask index + pow2 codes + scale, and the basis. */
export function smartDealStorageBits(e: SmartDealEncoding): number {
  return storageBits(e);
}

/**
 * Bits of SmartDeal's own compact format (ALGORITHMS §4.5), for comparison: per block row a presence bit, per
 * kept row a k-bit occupancy code, per non-zero 1 sign + ⌈log2 E⌉ exponent bits, plus the basis as stored.
 */
export function paperFormatBits(e: SmartDealEncoding, range: ExpRange): number {
  const [G, p, k] = e.coeffs.shape as [number, number, number];
  let keptRows = 0;
  const m = e.coeffs.mask;
  for (let r = 0; r < G * p; r++) {
    for (let j = 0; j < k; j++)
      if (m[r * k + j]) {
        keptRows++;
        break;
      }
  }
  return G * p + keptRows * k + countNonZero(m) * (1 + exponentBits(range)) + storageBits(e.basis);
}

/**
 * Multiplication-free reconstruction of the weight (tfjs layout): each block row is Σ_m ±2^e_m · B[m, :], the
 * products done by exponent arithmetic on the float32 bits of B (shiftMul) and accumulated with additions.
 */
export function reconstruct(e: SmartDealEncoding): Float32Array {
  const g = blockGeometry(e.shape, e.layout);
  const [, p, k] = e.coeffs.shape as [number, number, number];
  const q = g.q;
  const base = e.coeffs.base as QuantizedEncoding;
  const maxExp = Math.round(Math.log2(base.scales[0]!));
  const codes = base.codes,
    mask = e.coeffs.mask;
  const b = toDense(e.basis);
  const blocks = new Float32Array(g.blocks * p * q);
  const acc = new Float32Array(q);
  for (let blk = 0; blk < g.blocks; blk++) {
    for (let i = 0; i < p; i++) {
      acc.fill(0);
      const co = (blk * p + i) * k;
      for (let m = 0; m < k; m++) {
        const c = mask[co + m] ? codes[co + m]! : 0;
        if (c === 0) continue;
        const bo = (blk * k + m) * q;
        for (let t = 0; t < q; t++) acc[t]! += signedShiftMul(b[bo + t]!, c, maxExp);
      }
      blocks.set(acc, (blk * p + i) * q);
    }
  }
  return fromGemm(blocksToGemm(blocks, g), e.shape);
}

/** Coefficient figures for the report: real slots (non-padding), non-zeros, sparsity. */
export function coeffStats(e: SmartDealEncoding): { slots: number; nonZeros: number; sparsity: number } {
  const g = blockGeometry(e.shape, e.layout);
  const k = e.coeffs.shape[2]!;
  const slots = g.rows * Math.ceil(g.cols / g.q) * k;
  const nz = countNonZero(e.coeffs.mask);
  return { slots, nonZeros: nz, sparsity: 1 - nz / slots };
}

export const fp32Bits = (shape: readonly number[]): number => sizeOf(shape) * 32;
