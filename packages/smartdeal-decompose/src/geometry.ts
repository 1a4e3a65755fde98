import { CompressionError, gemmDims } from '@edge-compress/core';

/**
 * SmartDeal block geometry (ALGORITHMS §4.1), expressed as core v2's `factorized` 'rowBlocks' layout: each
 * GEMM row r, its columns taken in `perm` order (perm[j] = source column), zero-padded to a multiple of p·q,
 * is cut into chunks of p·q consecutive values, each viewed as a [p, q] row-major block; block
 * g = r·chunksPerRow + c, and block g = coeffs_g [p, k] · basis_g [k, q].
 *
 * - Conv k_h×k_w (k_w ≥ 2, SEConv2d): columns in (cin, kh, kw) order, q = k_w, p = splitCin·k_h with the input
 *   channels cut into ⌈cin/64⌉ equal splits, so each block is one (filter, channel split): Ce (splitCin·k_h)×k_w.
 * - Dense and 1×1 conv (SELinear): columns in natural order, q = 3, R = ⌈d/3⌉ rows cut into ⌈R/192⌉ equal
 *   splits of p = ⌈R/splits⌉ rows (800 → 2×134, 784 → 2×131).
 *
 * All of the package's geometry lives in this file, so the port to core's layout type is one place.
 */
export interface RowBlocksLayout {
  kind: 'rowBlocks';
  p: number;
  q: number;
  /** perm[j] = source GEMM column of permuted position j; absent = identity. */
  perm?: number[];
}

export interface BlockGeometry {
  rows: number;
  cols: number;
  p: number;
  q: number;
  chunksPerRow: number;
  /** Number of blocks G = rows · chunksPerRow. */
  blocks: number;
  /** Permuted-and-padded row length chunksPerRow · p · q. */
  padded: number;
  perm: Int32Array | null;
}

export interface GeometryOptions {
  /** Input channels per block for k×k convs (SmartDeal `size_splits` = 64). */
  splitChannels?: number;
  /** Largest block height for dense / 1×1 (SmartDeal caps at 64·n0 = 192). */
  splitRows?: number;
  /** Block width for dense / 1×1 (SmartDeal n0 = 3). */
  vectorWidth?: number;
}

/** (cin, kh, kw) order of a conv kernel [kh, kw, cin, cout]: perm[(ic·kh + ih)·kw + iw] = (ih·kw + iw)·cin + ic. */
export function convPerm(kh: number, kw: number, cin: number): number[] {
  const perm = new Array<number>(kh * kw * cin);
  for (let ic = 0; ic < cin; ic++) for (let ih = 0; ih < kh; ih++) for (let iw = 0; iw < kw; iw++) perm[(ic * kh + ih) * kw + iw] = (ih * kw + iw) * cin + ic;
  return perm;
}

/** The SmartDeal layout of a weight of tfjs shape `shape` (rank 4 = conv [kh,kw,cin,cout], rank 2 = dense [in,out]). */
export function smartDealLayout(shape: readonly number[], opts: GeometryOptions = {}): RowBlocksLayout {
  const { cols } = gemmDims(shape);
  if (shape.length === 4 && shape[1]! >= 2) {
    const [kh, kw, cin] = shape as [number, number, number, number];
    const splits = Math.ceil(cin / (opts.splitChannels ?? 64));
    const splitCin = Math.ceil(cin / splits);
    return { kind: 'rowBlocks', p: splitCin * kh, q: kw, perm: convPerm(kh, kw, cin) };
  }
  const q = Math.min(opts.vectorWidth ?? 3, cols);
  const r = Math.ceil(cols / q);
  const splits = Math.ceil(r / (opts.splitRows ?? 192));
  return { kind: 'rowBlocks', p: Math.ceil(r / splits), q };
}

export function blockGeometry(shape: readonly number[], layout: RowBlocksLayout): BlockGeometry {
  const { rows, cols } = gemmDims(shape);
  const { p, q } = layout;
  if (!Number.isInteger(p) || !Number.isInteger(q) || p < 1 || q < 1) {
    throw new CompressionError({ code: 'BAD_CONFIG', message: `rowBlocks layout: p and q must be positive integers, got p=${p}, q=${q}` });
  }
  if (layout.perm && layout.perm.length !== cols) {
    throw new CompressionError({ code: 'SHAPE_MISMATCH', message: `rowBlocks layout: perm has ${layout.perm.length} entries but the weight has ${cols} GEMM columns` });
  }
  const chunksPerRow = Math.max(1, Math.ceil(cols / (p * q)));
  return { rows, cols, p, q, chunksPerRow, blocks: rows * chunksPerRow, padded: chunksPerRow * p * q, perm: layout.perm ? Int32Array.from(layout.perm) : null };
}

/** Row-major GEMM [rows, cols] → blocks [G, p, q] (padding = 0). */
export function gemmToBlocks(gemm: Float32Array, g: BlockGeometry): Float32Array {
  const out = new Float32Array(g.blocks * g.p * g.q);
  for (let r = 0; r < g.rows; r++) {
    const o = r * g.padded,
      src = r * g.cols;
    for (let j = 0; j < g.cols; j++) out[o + j] = gemm[src + (g.perm ? g.perm[j]! : j)]!;
  }
  return out;
}

/** Blocks [G, p, q] → row-major GEMM [rows, cols] (padded positions dropped). */
export function blocksToGemm(blocks: Float32Array, g: BlockGeometry): Float32Array {
  const out = new Float32Array(g.rows * g.cols);
  for (let r = 0; r < g.rows; r++) {
    const o = r * g.padded,
      dst = r * g.cols;
    for (let j = 0; j < g.cols; j++) out[dst + (g.perm ? g.perm[j]! : j)] = blocks[o + j]!;
  }
  return out;
}

/** 1 where block element (g, i, t) holds a real weight, 0 on padding. Per block row: the number of real entries. */
export function realEntries(g: BlockGeometry): Uint8Array {
  const m = new Uint8Array(g.blocks * g.p * g.q);
  for (let r = 0; r < g.rows; r++) m.fill(1, r * g.padded, r * g.padded + g.cols);
  return m;
}

/**
 * How the tensor path (training, kernel) turns the flattened blocks [rows, padded] back into the tfjs weight
 * without a gather (tfjs-wasm has no UnsortedSegmentSum, the gradient of gather): slice off the padding, then
 * either reshape (identity perm) or transpose [rows, cin, kh, kw] → [kh, kw, cin, rows] (the conv perm).
 */
export type ReorderPlan = { kind: 'identity' } | { kind: 'conv'; kh: number; kw: number; cin: number };

export function reorderPlan(shape: readonly number[], layout: RowBlocksLayout): ReorderPlan {
  if (!layout.perm || layout.perm.every((v, i) => v === i)) return { kind: 'identity' };
  if (shape.length === 4) {
    const [kh, kw, cin] = shape as [number, number, number, number];
    const ref = convPerm(kh, kw, cin);
    if (layout.perm.length === ref.length && layout.perm.every((v, i) => v === ref[i])) return { kind: 'conv', kh, kw, cin };
  }
  throw new CompressionError({
    code: 'BAD_CONFIG',
    message: 'rowBlocks layout: only the identity and the conv (cin, kh, kw) column orders are supported by the SmartDeal tensor path',
  });
}
