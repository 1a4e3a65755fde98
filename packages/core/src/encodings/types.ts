import type { QuantScheme } from '../tensor/quant.js';

/**
 * Weight encodings: the common currency of every method. Plain data (typed arrays + numbers), so they
 * serialise exactly. Shapes are tfjs layout; factor encodings use the GEMM view (rows = out channels).
 */
export interface DenseEncoding {
  kind: 'dense';
  shape: number[];
  values: Float32Array;
}

/** An element mask (1 kept, 0 pruned) over an elementwise base of the same shape (dense or quantized). */
export interface MaskedEncoding {
  kind: 'masked';
  shape: number[];
  mask: Uint8Array;
  base: Encoding;
}

/** W_gemm = U · diag(s) · Vᵀ with U [rows, rank], V [cols, rank]. */
export interface LowRankEncoding {
  kind: 'lowRank';
  shape: number[];
  rank: number;
  u: Encoding;
  s: Float32Array;
  v: Encoding;
}

/** W_gemm = B · C with B [rows, k] (basis) and C [k, cols] (coefficients). */
export interface FactorizedEncoding {
  kind: 'factorized';
  shape: number[];
  basis: Encoding;
  coeffs: Encoding;
}

/** Integer codes with per-tensor or per-axis scales and zero points (see tensor/quant.ts for the formulas). */
export interface QuantizedEncoding {
  kind: 'quantized';
  shape: number[];
  scheme: QuantScheme;
  bits: number;
  axis: number | null;
  scales: Float32Array;
  zeroPoints: Int32Array;
  codes: Int32Array;
}

export type Encoding = DenseEncoding | MaskedEncoding | LowRankEncoding | FactorizedEncoding | QuantizedEncoding;
export type EncodingKind = Encoding['kind'];
export const ENCODING_KINDS: readonly EncodingKind[] = ['dense', 'masked', 'lowRank', 'factorized', 'quantized'];

/** What a cost model needs to know about a weight (ROADMAP: hw-cost). */
export interface EncodingSummary {
  shape: number[];
  /** Outer-to-inner chain of kinds, e.g. ['masked', 'quantized']. */
  kinds: EncodingKind[];
  elements: number;
  nonZeros: number;
  density: number;
  /** Bit width of the stored values (32 for fp32, the smallest quantized width otherwise). */
  bits: number;
  structure: 'dense' | 'unstructured' | 'lowRank' | 'factorized';
  rank?: number;
  storageBits: number;
}
