import { blockExtent, blockGrid, type BcrLayout } from '../sparsity.js';
import type { WasmHeap } from './module.js';

/** A layer's weight as the runtime takes it: BCR layout, dense GEMM, or CSR built from a GEMM's non-zeros. */
export type KernelWeight = { format: 'bcr'; layout: BcrLayout } | { format: 'dense'; gemm: Float32Array } | { format: 'csr'; gemm: Float32Array };

const DENSE_BLOCK_COLS = 128;

interface PackedBlock {
  rows: number[]; // global
  cols: number[]; // global
  values: Float32Array; // [nr, nc] row-major
}

function blocksOf(w: KernelWeight, rows: number, cols: number): PackedBlock[] {
  const out: PackedBlock[] = [];
  if (w.format === 'dense') {
    for (let c0 = 0; c0 < cols; c0 += DENSE_BLOCK_COLS) {
      const nc = Math.min(DENSE_BLOCK_COLS, cols - c0);
      const v = new Float32Array(rows * nc);
      for (let r = 0; r < rows; r++) v.set(w.gemm.subarray(r * cols + c0, r * cols + c0 + nc), r * nc);
      out.push({ rows: Array.from({ length: rows }, (_, i) => i), cols: Array.from({ length: nc }, (_, j) => c0 + j), values: v });
    }
    return out;
  }
  if (w.format !== 'bcr') throw new Error('blocksOf: csr has no blocks');
  const l = w.layout;
  const g = blockGrid(rows, cols, l.block);
  let ro = 0,
    co = 0,
    vo = 0;
  for (let b = 0; b < g.nbr * g.nbc; b++) {
    const e = blockExtent(g, Math.floor(b / g.nbc), b % g.nbc);
    const nr = l.keptRows[b]!,
      nc = l.keptCols[b]!;
    if (nr > 0 && nc > 0) {
      out.push({
        rows: Array.from(l.rowIdx.subarray(ro, ro + nr), (r) => e.r0 + r),
        cols: Array.from(l.colIdx.subarray(co, co + nc), (c) => e.c0 + c),
        values: l.values.subarray(vo, vo + nr * nc),
      });
    }
    ro += nr;
    co += nc;
    vo += nr * nc;
  }
  return out;
}

/**
 * Writes a layer's weight into the heap in the kernels' layouts and returns the record pointer:
 * BCR/dense → [nBlocks, blocksPtr, scratchPtr] + 8-word block records (see assembly/index.ts); CSR → [rowPtr, colIdx, vals].
 */
export function packWeight(heap: WasmHeap, w: KernelWeight, rows: number, cols: number): { record: number; op: 'bcr' | 'csr'; nonZeros: number; usedCols: number[] } {
  if (w.format === 'csr') {
    const rp = new Int32Array(rows + 1);
    const ci: number[] = [],
      vs: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = w.gemm[r * cols + c]!;
        if (v !== 0) {
          ci.push(c);
          vs.push(v);
        }
      }
      rp[r + 1] = ci.length;
    }
    const rec = heap.putI32([heap.putI32(rp), heap.putI32(ci.length ? ci : [0]), heap.putF32(vs.length ? vs : [0])]);
    return { record: rec, op: 'csr', nonZeros: vs.length, usedCols: [...new Set(ci)].sort((a, b) => a - b) };
  }
  const blocks = blocksOf(w, rows, cols);
  const used = new Set<number>();
  for (const b of blocks) for (const c of b.cols) used.add(c);
  let maxNc4 = 4,
    nonZeros = 0;
  const recs: number[] = [];
  for (const b of blocks) {
    const nr = b.rows.length,
      nc = b.cols.length;
    const nr4 = Math.ceil(nr / 4) * 4,
      nc4 = Math.ceil(nc / 4) * 4;
    maxNc4 = Math.max(maxNc4, nc4);
    nonZeros += nr * nc;
    const rowIdx = new Int32Array(nr4).fill(rows); // padded rows write to the trash row
    rowIdx.set(b.rows);
    const valsT = new Float32Array(nr4 * nc);
    for (let i = 0; i < nr; i++) for (let j = 0; j < nc; j++) valsT[(Math.floor(i / 4) * nc + j) * 4 + (i % 4)] = b.values[i * nc + j]!;
    const valsR = new Float32Array(nr * nc4);
    for (let i = 0; i < nr; i++) valsR.set(b.values.subarray(i * nc, (i + 1) * nc), i * nc4);
    recs.push(nr, nc, nr4, nc4, heap.putI32(rowIdx), heap.putI32(b.cols), heap.putF32(valsT), heap.putF32(valsR));
  }
  const blocksPtr = heap.putI32(recs.length ? recs : [0]);
  const scratch = heap.alloc(maxNc4 * 4);
  return { record: heap.putI32([blocks.length, blocksPtr, scratch]), op: 'bcr', nonZeros, usedCols: [...used].sort((a, b) => a - b) };
}
