import { topkMask } from '@edge-compress/core';
import type { BlockGeometry } from './geometry.js';

/**
 * Structural sparsity before SED (ALGORITHMS §4.3, `se/alg_structural.py`): output rows (filters) are grouped
 * `groupSize` at a time; each block-row position (chunk c, row i of the [p, q] block; for a conv: one
 * (c_in, kernel row) pair) is scored by Σ|W| over its q entries and over the group's filters, and the lowest
 * ⌊sparseRatio · positions⌋ positions of each group are zeroed for every filter of the group. Positions that are
 * all padding are always zero and do not count. Returns a mask over block rows [G, p] (1 kept).
 */
export function structuralRowMask(blocks: Float32Array, g: BlockGeometry, groupSize: number, sparseRatio: number): Uint8Array {
  const { p, q, chunksPerRow: cpr, cols } = g;
  const mask = new Uint8Array(g.blocks * p);
  const positions: number[] = [];
  for (let c = 0; c < cpr; c++) for (let i = 0; i < p; i++) if (c * p * q + i * q < cols) positions.push(c * p + i);
  const scores = new Float64Array(positions.length);
  const size = Math.max(1, Math.min(groupSize, g.rows));
  for (let r0 = 0; r0 < g.rows; r0 += size) {
    scores.fill(0);
    const r1 = Math.min(g.rows, r0 + size);
    positions.forEach((pos, k) => {
      let s = 0;
      for (let r = r0; r < r1; r++) {
        const o = (r * cpr * p + pos) * q;
        for (let t = 0; t < q; t++) s += Math.abs(blocks[o + t]!);
      }
      scores[k] = s;
    });
    const keep = topkMask(scores, positions.length - Math.floor(sparseRatio * positions.length));
    for (let r = r0; r < r1; r++) positions.forEach((pos, k) => (mask[r * cpr * p + pos] = keep[k]!));
  }
  return mask;
}

/** Expands a block-row mask [G, p] to an element mask over coefficients [G, p, k]. */
export function expandRowMask(rowMask: Uint8Array, k: number): Uint8Array {
  const m = new Uint8Array(rowMask.length * k);
  for (let i = 0; i < rowMask.length; i++) if (rowMask[i]) m.fill(1, i * k, (i + 1) * k);
  return m;
}
