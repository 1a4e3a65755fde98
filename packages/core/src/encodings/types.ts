import type { QuantScheme } from '../tensor/quant.js';

/**
 * Weight encodings: the common currency of every method. Plain data (typed arrays + numbers), so they
 * serialise exactly. `shape` is always the tfjs shape of the weight the encoding decodes to; structured kinds
 * work on the GEMM view (rows = out channels, cols = fan-in in (kh, kw, cin) order, see tensor/gemm.ts).
 *
 * Every kind is one object made with `defineEncoding` (encodings/kinds/*.ts). A package adds a kind by
 * defining it and declaring it on its compressor; its TypeScript type joins `Encoding` through declaration
 * merging:
 *
 * ```ts
 * declare module '@edge-compress/core' { interface EncodingKinds { myKind: MyEncoding } }
 * ```
 */
export interface EncodingBase {
  kind: string;
  shape: number[];
}

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

/**
 * Low rank: M = U · diag(s) · Vᵀ with U [m, rank], V [n, rank]. `view` 'gemm' (default): M is the GEMM view
 * [rows, cols]. 'spatial' (conv only, SVD training's spatial-wise form): M = W viewed as [cin·kh, cout·kw],
 * M[c·kh + i, o·kw + j] = W[i, j, c, o].
 */
export interface LowRankEncoding {
  kind: 'lowRank';
  shape: number[];
  rank: number;
  u: Encoding;
  s: Float32Array;
  v: Encoding;
  view?: 'gemm' | 'spatial';
}

/** Layout of a factorized weight's blocks (see FactorizedEncoding). */
export type FactorLayout = { kind: 'gemm' } | { kind: 'rowBlocks'; p: number; q: number; perm?: number[] };

/**
 * W as G blocks P_g = coeffs_g · basis_g, coeffs [G, p, k], basis [G, k, q].
 * - layout 'gemm': G = 1, p = rows, q = cols; W_gemm = coeffs · basis.
 * - layout 'rowBlocks': each GEMM row r, its columns taken in `perm` order (perm[j] = source column; identity
 *   when absent), zero-padded to a multiple of p·q, is cut into chunks of p·q consecutive values, each a [p, q]
 *   row-major block; block g = r·chunksPerRow + c (SmartDeal's geometry).
 */
export interface FactorizedEncoding {
  kind: 'factorized';
  shape: number[];
  coeffs: Encoding;
  basis: Encoding;
  layout: FactorLayout;
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

/**
 * Block column-row sparsity (GRIM's BCR format) over the GEMM view: the matrix is tiled into blocks of
 * `block` = [blockRows, blockCols] (edge blocks are smaller); each block keeps some whole rows and whole
 * columns and stores the dense [kept rows × kept cols] sub-block. Blocks are numbered row-major over the grid.
 */
export interface BlockSparseEncoding {
  kind: 'blockSparse';
  shape: number[];
  block: [number, number];
  /** Per block: the number of kept rows / columns. */
  keptRows: Uint16Array;
  keptCols: Uint16Array;
  /** Concatenated local (within the block) kept row / column indices, ascending per block. */
  rowIdx: Uint16Array;
  colIdx: Uint16Array;
  /** Elementwise leaf (dense or quantized) of shape [Σ keptRows·keptCols]; per block row-major [nr, nc]. */
  values: Encoding;
}

/**
 * N:M sparsity along the fan-in: in every GEMM row, each group of m consecutive columns (the last group
 * zero-padded) keeps exactly n values (fewer only where the padded group has fewer real columns).
 */
export interface NmEncoding {
  kind: 'nm';
  shape: number[];
  n: number;
  m: number;
  /** Per kept value: its position 0..m−1 in its group, ascending per group. */
  positions: Uint8Array;
  /** Elementwise leaf (dense or quantized) of shape [number of kept values], row by row, group by group. */
  values: Encoding;
}

/**
 * The registered encoding kinds. Extend it by declaration merging (see above); `Encoding` is the union of
 * its members.
 */
export interface EncodingKinds {
  dense: DenseEncoding;
  masked: MaskedEncoding;
  quantized: QuantizedEncoding;
  lowRank: LowRankEncoding;
  factorized: FactorizedEncoding;
  blockSparse: BlockSparseEncoding;
  nm: NmEncoding;
}

export type Encoding = EncodingKinds[keyof EncodingKinds];
export type EncodingKind = keyof EncodingKinds & string;
export const ENCODING_KINDS: readonly EncodingKind[] = ['dense', 'masked', 'quantized', 'lowRank', 'factorized', 'blockSparse', 'nm'];

/**
 * One node of an encoding's summary tree: what a cost model (hw-cost) needs, per node of the encoding chain.
 * `storedValues` counts the numbers physically stored (codes, fp32 values, factor entries: what the file
 * holds); `nonZeros` counts the non-zeros of the dense weight the node decodes to (what a dense kernel sees).
 */
export interface SummaryNode {
  kind: string;
  shape: number[];
  elements: number;
  /** Values stored by this node and its descendants. */
  storedValues: number;
  /** Non-zeros of the dense weight this node decodes to. */
  nonZeros: number;
  /** nonZeros / elements. */
  density: number;
  /** Bits of this node and its descendants, exactly as core IO writes them. */
  storageBits: number;
  /** Bits of this node's own index or metadata (mask index, block indices, N:M positions, scales, s). */
  ownBits: number;
  /** Value bit width (leaves: 32 for fp32, the code width when quantized). */
  bits?: number;
  scheme?: string;
  /** Block shape [rows, cols] over the GEMM view (blockSparse). */
  block?: [number, number];
  /** [n, m] (nm). */
  nm?: [number, number];
  rank?: number;
  /** lowRank / factorized view or layout. */
  view?: string;
  /** Shapes of the factors (lowRank: U, V; factorized: coeffs, basis). */
  factorShapes?: number[][];
  /** Named children (masked: base; lowRank: u, v; factorized: coeffs, basis; blockSparse / nm: values). */
  children: Record<string, SummaryNode>;
}

/** Flat summary of a weight (the root of the tree plus the chain of kinds), kept for reports. */
export interface EncodingSummary {
  shape: number[];
  /** Outer-to-inner chain of kinds along the first child, e.g. ['masked', 'quantized']. */
  kinds: string[];
  elements: number;
  /** Non-zeros of the decoded dense weight. */
  nonZeros: number;
  /** Values physically stored (codes / fp32 values / factor entries). */
  storedValues: number;
  density: number;
  /** Smallest value bit width in the tree (32 for fp32). */
  bits: number;
  structure: 'dense' | 'unstructured' | 'lowRank' | 'factorized' | 'block' | 'nm';
  rank?: number;
  storageBits: number;
  tree: SummaryNode;
}
