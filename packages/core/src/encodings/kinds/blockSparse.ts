import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../../errors.js';
import { sizeOf } from '../../ir/shapes.js';
import { gemmDims } from '../../tensor/gemm.js';
import { defineEncoding } from '../define.js';
import { bitsFor } from '../payload.js';
import { toDense } from '../ops.js';
import { defOf } from '../registry.js';
import type { BlockSparseEncoding, Encoding } from '../types.js';
import { denseEncoding } from './dense.js';
import { positionsTrainSpec, scatterPositions } from './util.js';

export interface BlockGrid {
  rows: number;
  cols: number;
  blockRows: number;
  blockCols: number;
  gridRows: number;
  gridCols: number;
  blocks: number;
}

export function blockGrid(shape: readonly number[], block: readonly [number, number] | readonly number[]): BlockGrid {
  const { rows, cols } = gemmDims(shape);
  const [br, bc] = block as [number, number];
  if (!Number.isInteger(br) || !Number.isInteger(bc) || br < 1 || bc < 1)
    throw new CompressionError({ code: 'BAD_CONFIG', message: `block [${block.join(',')}] must be two positive integers` });
  const gridRows = Math.ceil(rows / br),
    gridCols = Math.ceil(cols / bc);
  return { rows, cols, blockRows: br, blockCols: bc, gridRows, gridCols, blocks: gridRows * gridCols };
}

/**
 * For every stored value, its flat position in the tfjs-layout weight (GEMM [r, c] ↔ tfjs c·rows + r).
 * Walks blocks row-major, each block's kept rows, then kept columns.
 */
export function blockSparsePositions(e: Pick<BlockSparseEncoding, 'shape' | 'block' | 'keptRows' | 'keptCols' | 'rowIdx' | 'colIdx'>): Int32Array {
  const g = blockGrid(e.shape, e.block);
  let total = 0;
  for (let b = 0; b < g.blocks; b++) total += e.keptRows[b]! * e.keptCols[b]!;
  const pos = new Int32Array(total);
  let ro = 0,
    co = 0,
    k = 0;
  for (let b = 0; b < g.blocks; b++) {
    const r0 = Math.floor(b / g.gridCols) * g.blockRows,
      c0 = (b % g.gridCols) * g.blockCols;
    const nr = e.keptRows[b]!,
      nc = e.keptCols[b]!;
    for (let i = 0; i < nr; i++) for (let j = 0; j < nc; j++) pos[k++] = (c0 + e.colIdx[co + j]!) * g.rows + (r0 + e.rowIdx[ro + i]!);
    ro += nr;
    co += nc;
  }
  return pos;
}

/**
 * Block-sparse encoding of `values` (tfjs layout) under an elementwise `mask` whose kept entries form, in each
 * block, whole rows × whole columns (BCR). A block keeps the rows and columns that hold a kept entry; stored
 * values outside the mask (if the mask is not a full product inside a block) are 0.
 */
export function blockSparseFromMask(shape: readonly number[], mask: Uint8Array, values: Float32Array, block: readonly [number, number]): BlockSparseEncoding {
  const g = blockGrid(shape, block);
  const keptRows = new Uint16Array(g.blocks),
    keptCols = new Uint16Array(g.blocks);
  const rowIdx: number[] = [],
    colIdx: number[] = [],
    vals: number[] = [];
  for (let b = 0; b < g.blocks; b++) {
    const r0 = Math.floor(b / g.gridCols) * g.blockRows,
      c0 = (b % g.gridCols) * g.blockCols;
    const r1 = Math.min(g.rows, r0 + g.blockRows),
      c1 = Math.min(g.cols, c0 + g.blockCols);
    const rs: number[] = [],
      cs: number[] = [];
    for (let r = r0; r < r1; r++) {
      for (let c = c0; c < c1; c++)
        if (mask[c * g.rows + r]) {
          rs.push(r - r0);
          break;
        }
    }
    for (let c = c0; c < c1; c++) {
      for (let r = r0; r < r1; r++)
        if (mask[c * g.rows + r]) {
          cs.push(c - c0);
          break;
        }
    }
    keptRows[b] = rs.length;
    keptCols[b] = cs.length;
    rowIdx.push(...rs);
    colIdx.push(...cs);
    for (const r of rs)
      for (const c of cs) {
        const p = (c0 + c) * g.rows + (r0 + r);
        vals.push(mask[p] ? values[p]! : 0);
      }
  }
  return {
    kind: 'blockSparse',
    shape: [...shape],
    block: [g.blockRows, g.blockCols],
    keptRows,
    keptCols,
    rowIdx: Uint16Array.from(rowIdx),
    colIdx: Uint16Array.from(colIdx),
    values: denseEncoding([vals.length], Float32Array.from(vals)),
  };
}

function counts(e: BlockSparseEncoding): { rows: number; cols: number; values: number } {
  let rows = 0,
    cols = 0,
    values = 0;
  for (let b = 0; b < e.keptRows.length; b++) {
    rows += e.keptRows[b]!;
    cols += e.keptCols[b]!;
    values += e.keptRows[b]! * e.keptCols[b]!;
  }
  return { rows, cols, values };
}

/** Index bits: per block the kept row and column counts, then the local kept row and column indices. */
function indexBits(e: BlockSparseEncoding): number {
  const [br, bc] = e.block;
  const c = counts(e);
  return e.keptRows.length * (bitsFor(br) + bitsFor(bc)) + c.rows * bitsFor(br - 1) + c.cols * bitsFor(bc - 1);
}

/** GRIM's block column-row format: per block, whole kept rows × whole kept columns as a dense sub-block. */
export const blockSparseKind = defineEncoding<BlockSparseEncoding>({
  kind: 'blockSparse',
  provider: '@edge-compress/core',
  description: 'block column-row sparsity (BCR): per block, kept row and column indices and the dense sub-block',
  elementwise: false,
  children: (e) => ({ values: e.values }),
  withChildren: (e, c) => ({ ...e, values: c.values! }),
  toDense: (e) => scatterPositions(toDense(e.values), blockSparsePositions(e), sizeOf(e.shape)),
  ownBits: indexBits,
  ownValues: () => 0,
  summary: (e) => ({ block: [e.block[0], e.block[1]] }),
  write(e, w, _k, child) {
    const [br, bc] = e.block;
    return {
      kind: 'blockSparse',
      shape: e.shape,
      block: [br, bc],
      keptRows: w.packed(e.keptRows, bitsFor(br)),
      keptCols: w.packed(e.keptCols, bitsFor(bc)),
      rowIdx: w.packed(e.rowIdx, bitsFor(br - 1)),
      colIdx: w.packed(e.colIdx, bitsFor(bc - 1)),
      values: child('values', e.values),
    };
  },
  read(d, r, path, _k, child) {
    const blk = d.block as number[];
    if (!Array.isArray(blk) || blk.length !== 2) r.bad(`${path}.block`, `expected [blockRows, blockCols], got ${JSON.stringify(blk)}`);
    const br = r.int(blk[0], `${path}.block[0]`, 1, 65535),
      bc = r.int(blk[1], `${path}.block[1]`, 1, 65535);
    const g = blockGrid(d.shape, [br, bc]);
    const keptRows = Uint16Array.from(r.packed(d.keptRows, `${path}.keptRows`, g.blocks, bitsFor(br)));
    const keptCols = Uint16Array.from(r.packed(d.keptCols, `${path}.keptCols`, g.blocks, bitsFor(bc)));
    let nr = 0,
      nc = 0,
      nv = 0;
    for (let b = 0; b < g.blocks; b++) {
      nr += keptRows[b]!;
      nc += keptCols[b]!;
      nv += keptRows[b]! * keptCols[b]!;
    }
    const rowIdx = Uint16Array.from(r.packed(d.rowIdx, `${path}.rowIdx`, nr, bitsFor(br - 1)));
    const colIdx = Uint16Array.from(r.packed(d.colIdx, `${path}.colIdx`, nc, bitsFor(bc - 1)));
    const e: BlockSparseEncoding = { kind: 'blockSparse', shape: d.shape, block: [br, bc], keptRows, keptCols, rowIdx, colIdx, values: child('values') };
    if (sizeOf(e.values.shape) !== nv) r.bad(`${path}.values`, `holds ${sizeOf(e.values.shape)} values but the blocks keep ${nv}`);
    try {
      blockSparseKind.validate!(e, path);
    } catch (err) {
      r.bad(path, (err as Error).message);
    }
    return e;
  },
  validate(e, where) {
    const g = blockGrid(e.shape, e.block);
    const fail = (m: string): never => {
      throw new CompressionError({ code: 'SHAPE_MISMATCH', path: where, message: `${where}: ${m}` });
    };
    if (e.keptRows.length !== g.blocks || e.keptCols.length !== g.blocks)
      fail(`expected ${g.blocks} blocks of [${e.block}] over a ${g.rows}×${g.cols} GEMM view, got ${e.keptRows.length}`);
    const c = counts(e);
    if (e.rowIdx.length !== c.rows || e.colIdx.length !== c.cols)
      fail(`row/column index lengths ${e.rowIdx.length}/${e.colIdx.length} do not match the kept counts ${c.rows}/${c.cols}`);
    if (sizeOf(e.values.shape) !== c.values) fail(`values hold ${sizeOf(e.values.shape)} entries but the blocks keep ${c.values}`);
    if (!defOf(e.values).elementwise) fail(`values must be dense or quantized, got '${e.values.kind}'`);
    let ro = 0,
      co = 0;
    for (let b = 0; b < g.blocks; b++) {
      const r0 = Math.floor(b / g.gridCols) * g.blockRows,
        c0 = (b % g.gridCols) * g.blockCols;
      const hr = Math.min(g.blockRows, g.rows - r0),
        hc = Math.min(g.blockCols, g.cols - c0);
      for (let i = 0; i < e.keptRows[b]!; i++)
        if (e.rowIdx[ro + i]! >= hr || (i > 0 && e.rowIdx[ro + i]! <= e.rowIdx[ro + i - 1]!)) fail(`block ${b}: row indices must be ascending and < ${hr}`);
      for (let j = 0; j < e.keptCols[b]!; j++)
        if (e.colIdx[co + j]! >= hc || (j > 0 && e.colIdx[co + j]! <= e.colIdx[co + j - 1]!)) fail(`block ${b}: column indices must be ascending and < ${hc}`);
      ro += e.keptRows[b]!;
      co += e.keptCols[b]!;
    }
  },
  train: {
    ...positionsTrainSpec(blockSparsePositions),
    rebuild: (e, c) => ({ ...e, values: c.values as Encoding }),
  },
});
